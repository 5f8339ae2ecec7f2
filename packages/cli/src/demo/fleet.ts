// Chapter: the fleet. A virtual fleet of 40 SIMs behind a local SMSC (two handsets off, one losing its
// first PoR), its vendor batch file imported into an OTA store, and a campaign that reads EF ICCID
// over SCP80 on every SIM: waves of 5, 10, 20…, one resend when no PoR comes, an abort threshold. Its
// progress as it goes, then every SIM's final state, as the fleet API reports it.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { OtaStore, PacedSmsLink, SmppLink } from '@iotsafe/ota';
import { type CampaignView, describeCampaign, followCampaign } from '../campaign-progress.js';
import { localApi } from '../fleet-client.js';
import { VirtualFleet } from '../virtual-fleet.js';
import type { Report } from './report.js';

const SIMS = 40;

export async function fleetCampaign(report: Report, base: string, storageKey: Uint8Array): Promise<void> {
  report.chapter(`A campaign over a virtual fleet: ${SIMS} SIMs behind a local SMSC, some of them faulty`);
  // SMPP 3.4 §5.2.1: a password is at most 8 characters
  const account = { systemId: 'iotsafe', password: randomBytes(4).toString('hex') };
  const fleet = await VirtualFleet.start({
    sims: SIMS,
    faults: { off: 5, losePor: 3 },
    network: account,
    batch: 'demo',
  });
  const store = await OtaStore.open(join(base, 'fleet.db'), storageKey, { create: true });
  const link = new PacedSmsLink(
    [await SmppLink.connect({ host: '127.0.0.1', port: fleet.network.port, ...account })],
    { window: 50 },
  );
  const api = await localApi(store, join(base, 'fleet.db'), {
    link,
    server: { timeoutMs: 1000, worker: { idleMs: 10, sweepMs: 50 } },
  });
  try {
    const imported = (await api.call('POST', '/sims/import', { csv: Buffer.from(fleet.vendorCsv()) })) as {
      imported: number;
    };
    const faults = fleet.faults;
    report.line(
      `vendor file imported: ${imported.imported} SIMs (${faults.off} handsets off, ${faults.losePor} losing their first PoR)`,
    );
    const created = (await api.call('POST', '/campaigns', {
      json: {
        name: 'demo: read EF ICCID',
        select: { batch: 'demo' },
        steps: [{ tar: 'B00000', script: '00A40004022FE200B000000A' }],
        retry: { noPor: 1, backoffMs: 50 },
        porTimeoutMs: 1000,
        rollout: { waves: { initial: 5, factor: 2 }, abort: { failureRatio: 0.5, minFinished: 10 } },
      },
    })) as CampaignView;
    await api.call('POST', `/campaigns/${created.id}/start`);
    let waves = 0;
    const view = await followCampaign(api, created.id, {
      bar: false,
      pollMs: 100,
      onView: (v) => {
        if (!v.job || v.job.wave === waves) return;
        waves = v.job.wave;
        const s = v.job.progress.states;
        report.line(
          `wave ${waves} released: ${s.done ?? 0} done, ${s.failed ?? 0} failed, ${(s.running ?? 0) + (s.ready ?? 0)} under way`,
        );
      },
    });
    report.line(describeCampaign(view));
    const outcomes = view.job?.progress.outcomes ?? {};
    report.line(
      `outcomes: ${Object.entries(outcomes)
        .map(([o, n]) => `${n} ${o}`)
        .join(', ')}; every attempt is in the SIMs' ledger (${join(base, 'fleet.db')})`,
    );
    report.set('fleet', {
      sims: SIMS,
      state: view.job?.state,
      states: view.job?.progress.states,
      outcomes,
    });
    if (view.job?.state !== 'completed') throw new Error(`the fleet campaign ended ${view.job?.state}`);
  } finally {
    await api.close();
    await link.close();
    await store.close();
    await fleet.stop();
  }
}
