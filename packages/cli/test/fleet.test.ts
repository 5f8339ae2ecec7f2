// A campaign over 1,000 virtual SIMs, 10 % of them faulty (handsets off, slow, losing PoRs), through
// the CLI's fleet API (built in process over a store, as `--store` does): the vendor file imported,
// every SIM ends in a recorded final state the ledger explains, retries as configured; and a bad
// campaign stopped by its abort threshold, the SIMs not started cancelled.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OtaStore, PacedSmsLink, SmppLink } from '@iotsafe/ota';
import { type CampaignView, followCampaign } from '../src/campaign-progress.js';
import { type FleetApi, localApi } from '../src/fleet-client.js';
import { VirtualFleet } from '../src/virtual-fleet.js';

const ACCOUNT = { systemId: 'iotsafe', password: 'fleet-t' };
const READ_ICCID = { tar: 'B00000', script: '00A40004022FE200B000000A' };

describe('a campaign over 1,000 virtual SIMs', () => {
  let fleet: VirtualFleet;
  let store: OtaStore;
  let api: FleetApi & { server: Awaited<ReturnType<typeof localApi>>['server'] };
  let paced: PacedSmsLink;

  before(async () => {
    fleet = await VirtualFleet.start({
      sims: 1000,
      faults: { off: 4, slow: 3, losePor: 3, slowMs: 100 },
      network: ACCOUNT,
    });
    store = await OtaStore.open(':memory:', new Uint8Array(32).fill(7));
    const link = await SmppLink.connect({ host: '127.0.0.1', port: fleet.network.port, ...ACCOUNT });
    paced = new PacedSmsLink([link], { window: 100 });
    api = await localApi(store, ':memory:', {
      link: paced,
      server: { timeoutMs: 2000, worker: { idleMs: 10, sweepMs: 50, concurrency: 500 } },
    });
  });
  after(async () => {
    await api.close();
    await paced.close();
    await store.close();
    await fleet.stop();
  });

  const run = async (body: unknown): Promise<CampaignView> => {
    const created = (await api.call('POST', '/campaigns', { json: body })) as CampaignView;
    await api.call('POST', `/campaigns/${created.id}/start`);
    return followCampaign(api, created.id, { bar: false, pollMs: 50 });
  };

  const settled = async (jobId: string) => {
    const { states } = await store.jobs.progress(jobId);
    return !states.running && !states.ready && !states.held;
  };

  test('the vendor file imports every SIM with its key set', async () => {
    assert.deepEqual(fleet.faults, { healthy: 900, off: 40, slow: 30, losePor: 30 });
    const report = (await api.call('POST', '/sims/import?atomic=true', {
      csv: Buffer.from(fleet.vendorCsv()),
    })) as { imported: number; rejected: unknown[] };
    assert.equal(report.imported, 1000);
    assert.deepEqual(report.rejected, []);
  });

  test('10 % faulty: every SIM ends in a final state the ledger explains, one resend after no PoR', async () => {
    const view = await run({
      name: 'read ICCID',
      select: { batch: 'sim' },
      steps: [READ_ICCID],
      retry: { noPor: 1, backoffMs: 10 },
      porTimeoutMs: 2000, // slow handsets are 100 ms late: well within it, even on a loaded machine
      rollout: { abort: { failureRatio: 0.2, minFinished: 100 } },
    });
    assert.equal(view.job?.state, 'completed', JSON.stringify(view.job));
    const items = await store.jobs.items(view.job!.id, { limit: 2000 });
    assert.equal(items.length, 1000);
    const byIccid = new Map(fleet.sims.map((s) => [s.iccid, s]));
    for (const item of items) {
      const fault = byIccid.get(item.iccid)!.fault?.kind;
      const ledger = (await store.jobs.ledger(item.iccid)).filter((a) => a.jobId === view.job!.id);
      if (fault === 'off') {
        assert.equal(item.state, 'failed');
        assert.equal(item.outcome, 'no_por');
        assert.deepEqual(
          ledger.map((a) => a.state),
          ['no_por', 'no_por'],
          'the first attempt and one resend, as configured',
        );
      } else if (fault === 'lose-por') {
        // the card ran it and its PoR was lost; the resend is refused by the card's counter check
        assert.equal(item.state, 'failed');
        assert.equal(item.outcome, 'unconfirmed');
        assert.equal(ledger.length, 2);
      } else {
        assert.equal(item.state, 'done', `${fault ?? 'healthy'}: ${JSON.stringify(item)}`);
        assert.equal(ledger.length, 1);
        assert.equal(ledger[0]!.porStatus, 0);
      }
    }
    assert.deepEqual(view.job!.progress.states, { done: 930, failed: 70 });
  });

  test('a bad campaign (no application at its TAR): card errors retried once each, then the abort threshold stops it', async () => {
    const view = await run({
      name: 'wrong TAR',
      select: { tags: ['virtual'] },
      steps: [{ tar: 'B0FFFF', script: READ_ICCID.script }],
      retry: { cardError: 1, noPor: 0, backoffMs: 10 },
      porTimeoutMs: 400,
      rollout: { waves: { initial: 50, factor: 2 }, abort: { failureRatio: 0.5, minFinished: 20 } },
    });
    const job = view.job!;
    assert.equal(job.state, 'aborted', JSON.stringify(job));
    // the attempts under way when it aborted end on their own (each within its PoR timeout, or at
    // once when its job's state refuses it): then every SIM is in a final state. Polled, with room
    // for a loaded machine (a bound, not a timing assumption)
    for (let i = 0; i < 600 && !(await settled(job.id)); i++) await new Promise((r) => setTimeout(r, 50));
    job.progress = await store.jobs.progress(job.id);
    assert.match(job.reason ?? '', /failed \(abort at 50 %\)/);
    const states = job.progress.states;
    assert.equal(
      (states.failed ?? 0) + (states.cancelled ?? 0) + (states.done ?? 0),
      1000,
      JSON.stringify(states),
    );
    assert.ok(
      (states.cancelled ?? 0) >= 900,
      `the SIMs not started are cancelled: ${JSON.stringify(states)}`,
    );
    assert.equal(states.done ?? 0, 0);
    const items = await store.jobs.items(job.id, { limit: 2000 });
    for (const item of items.filter((i) => i.state === 'failed' && i.outcome === 'card_error')) {
      const ledger = (await store.jobs.ledger(item.iccid)).filter((a) => a.jobId === job.id);
      assert.equal(ledger.length, 2, 'one retry after a card error, as configured');
      assert.ok(
        ledger.every((a) => a.porStatus === 9),
        'PoR: TAR unknown',
      );
    }
    assert.ok(items.some((i) => i.outcome === 'card_error'));
  });
});
