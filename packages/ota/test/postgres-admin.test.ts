// The SCP81 admin queue on PostgreSQL: two `iotsafe ota admin serve` processes on one database (a
// server of the test's own). A card's session on the first; the first SIGKILLed while the card holds
// its second script; the card resumes on the second server (GP Amd B X-Admin-Resume) with that
// script's result. Every script delivered once, in order, every result recorded once; meanwhile
// another SIM's session runs on the second server from the same queue.
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { OtaStore } from '@iotsafe/ota';
import { bytesToHex, encodeExpandedResponse, encodeExpandedScript } from '@iotsafe/protocol';
import { spawnCli } from '../../../test/helpers/cli.js';
import { connectCard, type ScriptedCard } from './admin-card.js';
import { postgresAvailable, startPostgres, type TestPostgres } from './postgres.js';
import { STORAGE_KEY } from './rig.js';

const available = postgresAvailable();
/** TEST keys only. */
const SIMS = [
  { iccid: '8988211000000000101', identity: 'pg-card-1', psk: new Uint8Array(16).fill(0x31) },
  { iccid: '8988211000000000102', identity: 'pg-card-2', psk: new Uint8Array(16).fill(0x32) },
];
const script = (p1: number) => encodeExpandedScript([Uint8Array.of(0x80, 0xca, 0x00, p1, 0x00)], true);
const result = (n: number) =>
  encodeExpandedResponse({ executed: 1, responses: [Uint8Array.of(n, 0x90, 0x00)] }, true);

async function serve(url: string): Promise<{ child: ChildProcessWithoutNullStreams; port: number }> {
  const child = spawnCli(['ota', 'admin', 'serve', '--store', url, '--insecure-no-auth'], {
    IOTSAFE_STORAGE_KEY: bytesToHex(STORAGE_KEY),
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the admin server did not start: ${out}`)), 60_000);
    const read = (d: Buffer) => {
      out += d;
      const found = /SCP81 admin server on 127\.0\.0\.1:(\d+)/.exec(out)?.[1];
      if (found) {
        clearTimeout(timer);
        resolve(Number(found));
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.once('exit', () => reject(new Error(`the admin server exited: ${out}`)));
  });
  return { child, port };
}

const exited = (child: ChildProcessWithoutNullStreams) =>
  new Promise<void>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
  );
const nextUri = (r: { headers: Map<string, string> } | undefined): string =>
  r?.headers.get('x-admin-next-uri') ?? '';

describe('the admin queue on PostgreSQL, two servers', {
  ...(available === true ? {} : { skip: available }),
}, () => {
  let postgres: TestPostgres;
  before(async () => {
    postgres = await startPostgres();
  });
  after(() => postgres?.stop());

  test('SIGKILL of one mid-session: resumed on the other; each script once, in order, nothing lost', async () => {
    const url = await postgres.createDatabase('admin');
    const store = await OtaStore.open(url, STORAGE_KEY);
    const servers: ChildProcessWithoutNullStreams[] = [];
    const cards: ScriptedCard[] = [];
    try {
      for (const sim of SIMS) {
        await store.sims.add({ iccid: sim.iccid, pskIdentity: sim.identity });
        await store.sims.putPsk(sim.iccid, sim.psk);
      }
      const ids = [];
      for (const p1 of [0x42, 0x45, 0x66])
        ids.push(await store.admin.push(SIMS[0]!.iccid, { script: script(p1) }));
      const other = [];
      for (const p1 of [0x9f, 0xe0])
        other.push(await store.admin.push(SIMS[1]!.iccid, { script: script(p1) }));
      const [a, b] = [await serve(url), await serve(url)];
      servers.push(a.child, b.child);
      const card = (port: number, i: number) =>
        connectCard(port, { identity: SIMS[i]!.identity, key: SIMS[i]!.psk }).then((c) => {
          cards.push(c);
          return c;
        });

      // SIM 1 on server A: the first script, its result, the second script out
      const onA = await card(a.port, 0);
      const r1 = await onA.post({ uri: '/ram' });
      assert.deepEqual(r1?.body, script(0x42));
      const r2 = await onA.post({ uri: nextUri(r1), body: result(1), scriptStatus: 'ok' });
      assert.deepEqual(r2?.body, script(0x45));
      assert.equal((await store.admin.script(ids[0]!))?.state, 'done', 'recorded before the next left');

      // meanwhile SIM 2 on server B, from the same queue
      const onB = await card(b.port, 1);
      let answer = await onB.post({ uri: '/ram' });
      for (const [n] of other.entries()) {
        assert.deepEqual(answer?.body, script(n === 0 ? 0x9f : 0xe0));
        answer = await onB.post({ uri: nextUri(answer), body: result(0x20 + n), scriptStatus: 'ok' });
      }
      assert.equal(answer?.status, 204);

      // A dies with no chance to clean up, while the card runs the second script
      a.child.kill('SIGKILL');
      await exited(a.child);
      const resumed = await card(b.port, 0);
      const r3 = await resumed.post({ uri: nextUri(r2), body: result(2), scriptStatus: 'ok', resume: true });
      assert.deepEqual(r3?.body, script(0x66), 'the third script: the second is not sent again');
      const r4 = await resumed.post({ uri: nextUri(r3), body: result(3), scriptStatus: 'ok' });
      assert.equal(r4?.status, 204);

      const done = await store.admin.scripts(SIMS[0]!.iccid);
      assert.deepEqual(
        done.map((s) => [s.id, s.state, s.sentCount, bytesToHex(s.result ?? new Uint8Array(0))]),
        ids.map((id, n) => [id, 'done', 1, bytesToHex(result(n + 1))]),
        'each sent once, each result recorded',
      );
      const finished = done.map((s) => s.finishedAt!);
      assert.deepEqual(
        [...finished].sort((x, y) => x - y),
        finished,
        'in order',
      );
      for (const s of await store.admin.scripts(SIMS[1]!.iccid)) {
        assert.equal(s.state, 'done');
        assert.equal(s.sentCount, 1);
      }
      const sessions = await store.admin.sessions(SIMS[0]!.iccid);
      assert.equal(sessions.length, 2);
      assert.equal(sessions.filter((s) => s.resumed).length, 1, 'the second session is the resumed one');
    } finally {
      for (const c of cards) c.close();
      for (const server of servers) {
        server.kill('SIGTERM');
        await exited(server);
      }
      await store.close();
    }
  });
});
