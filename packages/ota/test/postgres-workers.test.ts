// Scale-out on PostgreSQL: two `iotsafe ota worker` processes share one job over 150 virtual SIMs;
// one is SIGKILLed mid-run. The other finishes the job; checked against what the SMSC received,
// opened with each SIM's keys: no packet sent twice for a step, no counter reused, each SIM's script
// run once, and the ledger agrees.
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { OtaServer, OtaStore, type SmsLink } from '@iotsafe/ota';
import { bytesToHex, openCommandPacket } from '@iotsafe/protocol';
import { spawnCli } from '../../../test/helpers/cli.js';
import { type Fleet, startFleet } from './fleet-rig.js';
import { postgresAvailable, startPostgres, type TestPostgres } from './postgres.js';
import { CREDENTIALS, STORAGE_KEY } from './rig.js';

const available = postgresAvailable();
const SIMS = 150;

describe('two workers on one PostgreSQL job, one killed', {
  ...(available === true ? {} : { skip: available }),
}, () => {
  let postgres: TestPostgres;
  let fleet: Fleet;
  before(async () => {
    postgres = await startPostgres();
    fleet = await startFleet(SIMS);
  });
  after(async () => {
    await fleet?.stop();
    await postgres?.stop();
  });

  test('SIGKILL one mid-run: the other finishes; nothing sent twice, no counter reused', async () => {
    const url = await postgres.createDatabase('workers');
    const store = await OtaStore.open(url, STORAGE_KEY);
    await fleet.populate(store);
    const env = { IOTSAFE_STORAGE_KEY: bytesToHex(STORAGE_KEY), IOTSAFE_SMPP_PASSWORD: CREDENTIALS.password };
    const args = [
      'ota',
      'worker',
      '--store',
      url,
      '--smsc',
      `127.0.0.1:${fleet.network.port}`,
      '--system-id',
      CREDENTIALS.systemId,
      '--tps',
      '30',
      '--lease',
      '2000',
      '--timeout',
      '3000',
    ];
    const workers: ChildProcessWithoutNullStreams[] = [];
    const exited = (child: ChildProcessWithoutNullStreams) =>
      new Promise<void>((resolve) =>
        child.exitCode !== null || child.signalCode !== null
          ? resolve()
          : child.once('exit', () => resolve()),
      );
    try {
      const names: string[] = [];
      for (let i = 0; i < 2; i++) {
        const child = spawnCli(args, env);
        workers.push(child);
        let out = '';
        names.push(
          await new Promise<string>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`the worker did not start: ${out}`)), 30_000);
            const read = (d: Buffer) => {
              out += d;
              const name = /OTA worker (\S+) on PostgreSQL/.exec(out)?.[1];
              if (name) {
                clearTimeout(timer);
                resolve(name);
              }
            };
            child.stdout.on('data', read);
            child.stderr.on('data', read);
            child.once('exit', () => reject(new Error(`the worker exited: ${out}`)));
          }),
        );
      }
      const idle: SmsLink = { submit: async () => '', onMessage: () => {}, close: async () => {} };
      const control = new OtaServer(store, idle, { worker: false });
      const job = await control.submitJob({
        sims: fleet.sims.map((s) => s.iccid),
        steps: [{ tar: 'B00000', script: '00a40004022fe200b000000a' }],
        retry: { noPor: 1, backoffMs: 100 },
      });
      // both at work, then one killed with no chance to clean up
      const byWorker = async () =>
        store.engine.query<{ worker: string; n: number }>(
          'SELECT worker, COUNT(*) AS n FROM attempts WHERE job_id = $1 GROUP BY worker',
          [job.id],
        );
      for (let i = 0; i < 600; i++) {
        const rows = await byWorker();
        if (rows.length === 2 && rows.every((r) => Number(r.n) >= 10)) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      workers[0]!.kill('SIGKILL');
      await exited(workers[0]!);
      const killedAt = (await byWorker()).find((r) => r.worker === names[0]);
      const done = await control.waitFor(job.id);
      assert.equal(done.state, 'completed');
      const { states } = await store.jobs.progress(job.id);
      assert.deepEqual(states, { done: SIMS }, 'every SIM answered');
      const final = await byWorker();
      assert.equal(
        Number(final.find((r) => r.worker === names[0])?.n),
        Number(killedAt?.n),
        'the killed worker did nothing more',
      );
      assert.ok(Number(final.find((r) => r.worker === names[1])?.n) > 0);

      // what the SMSC received, opened with each SIM's keys
      const packets = new Map<string, bigint[]>();
      for (const submit of fleet.network.submits) {
        const sim = fleet.byMsisdn.get(submit.destinationAddr)!;
        const opened = openCommandPacket(submit.userData.subarray(3), sim.keys);
        packets.set(sim.iccid, [...(packets.get(sim.iccid) ?? []), opened.counter]);
      }
      assert.equal(packets.size, SIMS);
      for (const sim of fleet.sims) {
        const counters = packets.get(sim.iccid)!;
        assert.equal(counters.length, 1, `SIM ${sim.iccid}: one packet for its one step (${counters})`);
        const ledger = await store.jobs.ledger(sim.iccid);
        const recorded = ledger.map((a) => a.counter!);
        assert.equal(new Set(recorded.map(String)).size, recorded.length, 'no counter reused');
        assert.ok(recorded.includes(counters[0]!), 'the packet sent is the one recorded');
        assert.equal(await store.sims.counter(sim.iccid, 1), BigInt(Math.max(...recorded.map(Number))));
      }
      assert.equal(fleet.network.delivered, SIMS, 'each card got its script once');
      await control.close();
    } finally {
      for (const worker of workers) {
        worker.kill('SIGTERM');
        await exited(worker);
      }
      await store.close();
    }
  });
});
