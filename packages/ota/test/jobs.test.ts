// The job engine over a virtual fleet (SQLite, one process): every SIM ends in a recorded final state;
// retries by failure class, each with a new counter; a PoR in concatenated parts; waves, the abort
// threshold, pause, resume, cancel and expiry; the dry run sends nothing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  ESME,
  type JobRecord,
  OtaServer,
  type OtaServerOptions,
  OtaStore,
  PacedSmsLink,
  SmppLink,
} from '@iotsafe/ota';
import {
  decodeExpandedResponse,
  encodeExpandedScript,
  hexToBytes,
  openCommandPacket,
} from '@iotsafe/protocol';
import { type Fleet, startFleet } from './fleet-rig.js';
import { CREDENTIALS, STORAGE_KEY, until } from './rig.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-jobs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const READ_ICCID = { tar: 'B00000', script: '00a40004022fe200b000000a' };

async function serverOn(fleet: Fleet, options: OtaServerOptions & { tps?: number } = {}) {
  const store = await OtaStore.open(join(dir, `${Math.random().toString(36).slice(2)}.db`), STORAGE_KEY, {
    create: true,
  });
  await fleet.populate(store, (i) => [i % 2 ? 'odd' : 'even']);
  const link = await SmppLink.connect({ host: '127.0.0.1', port: fleet.network.port, ...CREDENTIALS });
  const paced = new PacedSmsLink([link], { window: 50, ...(options.tps ? { tps: options.tps } : {}) });
  const server = new OtaServer(store, paced, {
    timeoutMs: 400,
    worker: { idleMs: 10, sweepMs: 50 },
    ...options,
  });
  return {
    store,
    server,
    paced,
    async close() {
      await server.close();
      await paced.close();
      await store.close();
    },
  };
}

const ended = (server: OtaServer, job: JobRecord) => server.waitFor(job.id);

describe('jobs over a virtual fleet', () => {
  test('200 SIMs, 10 % faulty (off, slow, lost PoRs): each ends in a final state the ledger explains', async () => {
    const fleet = await startFleet(200, {
      faults: (i) =>
        i % 30 === 0
          ? { kind: 'off' }
          : i % 30 === 10
            ? { kind: 'slow', delayMs: 150 }
            : i % 30 === 20
              ? { kind: 'lose-por', count: 1 }
              : undefined,
    });
    const { server, store, close } = await serverOn(fleet);
    try {
      const job = await server.submitJob({
        sims: fleet.sims.map((s) => s.iccid),
        steps: [READ_ICCID],
        retry: { noPor: 1, backoffMs: 10 },
      });
      const done = await ended(server, job);
      assert.equal(done.state, 'completed');
      const items = await store.jobs.items(job.id, { limit: 1000 });
      assert.equal(items.length, 200);
      for (const item of items) {
        const sim = fleet.sims.find((s) => s.iccid === item.iccid)!;
        const ledger = await store.jobs.ledger(item.iccid);
        const counters = ledger.map((a) => a.counter);
        assert.equal(new Set(counters.map(String)).size, counters.length, 'a new counter per attempt');
        if (sim.fault?.kind === 'off') {
          assert.equal(item.state, 'failed');
          assert.equal(item.outcome, 'no_por');
          assert.equal(ledger.length, 2, 'one retry as configured');
          assert.ok(ledger.every((a) => a.state === 'no_por'));
        } else if (sim.fault?.kind === 'lose-por') {
          assert.equal(item.state, 'done', JSON.stringify(item));
          assert.deepEqual(ledger.map((a) => a.state).reverse(), ['no_por', 'por']);
        } else {
          assert.equal(item.state, 'done', `${sim.fault?.kind ?? 'healthy'}: ${JSON.stringify(item)}`);
          assert.equal(ledger.length, 1);
        }
      }
      const { states } = await store.jobs.progress(job.id);
      assert.deepEqual(states, { done: 193, failed: 7 });
      assert.equal(fleet.network.porsLost, 6);
    } finally {
      await close();
      await fleet.stop();
    }
  });

  test('retries by class: an SMSC refusal and a card error status, each within its budget', async () => {
    const fleet = await startFleet(2);
    const { server, store, close } = await serverOn(fleet);
    try {
      fleet.network.refuseSubmits(ESME.RSYSERR, 2);
      const job = await server.submitJob({
        sims: [fleet.sims[0]!.iccid],
        steps: [READ_ICCID],
        retry: { smscError: 2, backoffMs: 10 },
      });
      await ended(server, job);
      const [item] = await store.jobs.items(job.id);
      assert.equal(item?.state, 'done');
      assert.deepEqual((await store.jobs.ledger(fleet.sims[0]!.iccid)).map((a) => a.state).reverse(), [
        'smsc_error',
        'smsc_error',
        'por',
      ]);
      // an unknown TAR: PoR 09, a card error; one retry allowed, then the item fails with it
      const bad = await server.submitJob({
        sims: [fleet.sims[1]!.iccid],
        steps: [{ tar: 'B0FFFF', script: '00a40004022fe2' }],
        retry: { cardError: 1, backoffMs: 10 },
      });
      await ended(server, bad);
      const [failed] = await store.jobs.items(bad.id);
      assert.equal(failed?.state, 'failed');
      assert.equal(failed?.outcome, 'card_error');
      assert.match(failed?.detail ?? '', /PoR 09/);
      assert.equal((await store.jobs.attemptsOf(bad.id)).length, 2);
    } finally {
      await close();
      await fleet.stop();
    }
  });

  test('a PoR too long for one SMS comes back in parts and is put together', async () => {
    const fleet = await startFleet(1);
    const { server, store, close } = await serverOn(fleet);
    try {
      const reads = [
        hexToBytes('00a40004022fe2'),
        ...Array.from({ length: 14 }, () => hexToBytes('00b000000a')),
      ];
      const job = await server.submitJob({
        sims: [fleet.sims[0]!.iccid],
        steps: [{ tar: 'B00000', script: Buffer.from(encodeExpandedScript(reads)).toString('hex') }],
      });
      await ended(server, job);
      const [item] = await store.jobs.items(job.id);
      assert.equal(item?.state, 'done', JSON.stringify(item));
      const response = decodeExpandedResponse(hexToBytes((item!.data as { data: string }).data));
      assert.equal(response.responses.length, 15);
      const parts = fleet.network.porsReturned;
      assert.equal(parts, 1);
      assert.ok(server.router.unmatched === 0);
    } finally {
      await close();
      await fleet.stop();
    }
  });

  test('waves grow 2, 4, 8…; the next starts when the last has ended', async () => {
    const fleet = await startFleet(30);
    const { server, store, close } = await serverOn(fleet);
    try {
      const job = await server.submitJob({
        sims: fleet.sims.map((s) => s.iccid),
        steps: [READ_ICCID],
        rollout: { waves: { initial: 2, factor: 2 } },
      });
      const done = await ended(server, job);
      assert.equal(done.state, 'completed');
      assert.equal(done.wave, 4, 'waves of 2, 4, 8, 16');
      // the attempts of a wave all start after every item of the one before it ended
      const attempts = await store.jobs.attemptsOf(job.id);
      const items = await store.jobs.items(job.id, { limit: 100 });
      const position = new Map(items.map((i) => [i.iccid, i.position]));
      const waveOf = (p: number) => (p < 2 ? 0 : p < 6 ? 1 : p < 14 ? 2 : 3);
      for (let w = 1; w < 4; w++) {
        const lastEnd = Math.max(
          ...attempts.filter((a) => waveOf(position.get(a.iccid)!) === w - 1).map((a) => a.finishedAt ?? 0),
        );
        const firstStart = Math.min(
          ...attempts.filter((a) => waveOf(position.get(a.iccid)!) === w).map((a) => a.createdAt),
        );
        assert.ok(firstStart >= lastEnd, `wave ${w} started before wave ${w - 1} ended`);
      }
    } finally {
      await close();
      await fleet.stop();
    }
  });

  test('the abort threshold stops a bad campaign: the SIMs not started are cancelled', async () => {
    const fleet = await startFleet(40, { faults: (i) => (i % 2 ? { kind: 'off' } : undefined) });
    const { server, store, close } = await serverOn(fleet);
    try {
      const job = await server.submitJob({
        sims: fleet.sims.map((s) => s.iccid),
        steps: [READ_ICCID],
        retry: { noPor: 0 },
        rollout: { waves: { initial: 4, factor: 2 }, abort: { failureRatio: 0.3, minFinished: 4 } },
      });
      const done = await ended(server, job);
      assert.equal(done.state, 'aborted');
      assert.match(done.reason ?? '', /2 of 4 SIMs failed \(abort at 30 %\)/);
      const { states } = await store.jobs.progress(job.id);
      assert.equal(states.cancelled, 36);
      assert.equal((await store.jobs.attemptsOf(job.id)).length, 4, 'nothing sent to the cancelled SIMs');
    } finally {
      await close();
      await fleet.stop();
    }
  });

  test('pause holds the SIMs not started, resume goes on, cancel ends it; an expired job ends too', async () => {
    const fleet = await startFleet(20);
    const { server, store, close } = await serverOn(fleet, { tps: 20 });
    try {
      const job = await server.submitJob({ sims: fleet.sims.map((s) => s.iccid), steps: [READ_ICCID] });
      await until(() => fleet.network.accepted >= 2, 'two SMS out');
      assert.equal(await store.jobs.setState(job.id, ['running'], 'paused'), true);
      await new Promise((resolve) => setTimeout(resolve, 700)); // SMS in flight land; nothing new goes
      const paused = fleet.network.accepted;
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(fleet.network.accepted, paused, 'nothing sent while paused');
      assert.ok(paused < 20);
      assert.equal(await store.jobs.setState(job.id, ['paused'], 'running'), true);
      await until(() => fleet.network.accepted >= paused + 2, 'sending again');
      assert.equal(await store.jobs.setState(job.id, ['running', 'paused'], 'cancelled', 'enough'), true);
      const done = await ended(server, job);
      assert.equal(done.state, 'cancelled');
      let states: Record<string, number> = {};
      for (let i = 0; i < 100; i++) {
        ({ states } = await store.jobs.progress(job.id)); // items in hand settle after the job ends
        if (!states.running) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal((states.done ?? 0) + (states.cancelled ?? 0), 20, JSON.stringify(states));
      assert.ok((states.cancelled ?? 0) > 0);
      const late = await server.submitJob({
        sims: [fleet.sims[0]!.iccid],
        steps: [READ_ICCID],
        expiresAt: Date.now() - 1,
      });
      assert.equal((await ended(server, late)).state, 'expired');
    } finally {
      await close();
      await fleet.stop();
    }
  });

  test('the dry run: per SIM what would be sent, and nothing sent; a bad SIM is named, not sent to', async () => {
    const fleet = await startFleet(3);
    const { server, store, close } = await serverOn(fleet);
    try {
      const big = { tar: '000000', script: '80e2900000'.concat('ab'.repeat(250)) };
      const plan = await server.scp80.plan(
        { steps: [READ_ICCID, big] },
        await store.sims.get(fleet.sims[0]!.iccid),
        store,
      );
      assert.deepEqual(
        plan.steps.map((s) => s.sms),
        [1, 3],
      );
      await store.sims.add({ iccid: '8988211999999999999' });
      const refused = await server.scp80.plan(
        { steps: [READ_ICCID] },
        await store.sims.get('8988211999999999999'),
        store,
      );
      assert.match(refused.refused ?? '', /no MSISDN/);
      assert.equal(fleet.network.accepted, 0);
      assert.equal(await store.sims.counter(fleet.sims[0]!.iccid, 1), 0n, 'no counter taken');
    } finally {
      await close();
      await fleet.stop();
    }
  });
});

describe('pacing against a throttling SMSC', () => {
  test('an SMSC of 25 TPS asked for 60: ESME_RTHROTTLED answers are retried, never reported; each SMS once', async () => {
    const fleet = await startFleet(60, { network: { maxSubmitsPerSecond: 25, throttleBurst: 2 } });
    const { server, store, paced, close } = await serverOn(fleet, { tps: 60 });
    try {
      const job = await server.submitJob({ sims: fleet.sims.map((s) => s.iccid), steps: [READ_ICCID] });
      const done = await ended(server, job);
      assert.equal(done.state, 'completed');
      assert.deepEqual((await store.jobs.progress(job.id)).states, { done: 60 });
      assert.ok(fleet.network.throttled > 0, 'the SMSC did throttle');
      assert.equal(paced.stats.throttled, fleet.network.throttled, 'every refusal retried by the pacer');
      assert.equal(fleet.network.accepted, 60, 'each SMS accepted once');
      for (const sim of fleet.sims) {
        const sent = fleet.network.submits.filter((s) => s.destinationAddr === sim.msisdn);
        assert.equal(sent.length, 1);
        assert.equal(openCommandPacket(sent[0]!.userData.subarray(3), sim.keys).counter, 1n);
      }
      // queue full is the same: retried after a pause
      fleet.network.refuseSubmits(ESME.RMSGQFUL, 3);
      const again = await server.submitJob({ sims: [fleet.sims[0]!.iccid], steps: [READ_ICCID] });
      assert.equal((await ended(server, again)).state, 'completed');
      assert.equal(paced.stats.queueFull, 3);
    } finally {
      await close();
      await fleet.stop();
    }
  });
});
