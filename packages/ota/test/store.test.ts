// The operator store: the SQLite file at rest (0600, never created by a typo, sealed under one storage
// key, an old key store migrated as it is, a newer schema refused), then the same suite on SQLite and
// on a PostgreSQL server of the test's own: inventory, counters that never repeat under concurrency,
// claims that never overlap (FOR UPDATE SKIP LOCKED), leases that fence a worker that lost its own,
// the PoR index.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type JobItem,
  LeaseLostError,
  MIGRATIONS,
  OtaStore,
  SCHEMA_VERSION,
  type SqliteEngine,
  StorageError,
} from '@iotsafe/ota';
import Database from 'better-sqlite3';
import { postgresAvailable, startPostgres, type TestPostgres } from './postgres.js';
import { ICCID, KIC, KID, MSISDN, STORAGE_KEY } from './rig.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-ota-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const fill = async (store: OtaStore) => {
  await store.sims.add({ iccid: ICCID, msisdn: MSISDN });
  await store.sims.putKeySet(ICCID, { kvn: 1, kicByte: 0x12, kidByte: 0x12, kic: KIC, kid: KID });
};

/** An SCP80 attempt of `item` to the test SIM, its counter taken in the same transaction (as a worker does). */
const attemptOf = (
  store: OtaStore,
  item: JobItem,
  extra: { tar?: string; spi?: string; kvn?: number } = {},
) =>
  store.engine.transaction(async (tx) => {
    const counter = await store.sims.takeCounter(tx, ICCID, 1);
    return store.jobs.insertAttempt(tx, {
      item,
      worker: 'w',
      transport: 'sms',
      msisdn: MSISDN,
      ...extra,
      counter,
      smsCount: 1,
      deadline: Date.now() + 1000,
    });
  });

const codeOf = async (work: () => Promise<unknown>) => {
  try {
    await work();
  } catch (error) {
    return error instanceof StorageError ? error.code : `not a StorageError: ${error}`;
  }
  return 'no error';
};

describe('the OTA store on disk (SQLite)', () => {
  test('a missing store is an error unless asked to create it: a typo creates nothing', async () => {
    const path = join(dir, 'typo.db');
    assert.equal(await codeOf(() => OtaStore.open(path, STORAGE_KEY)), 'missing_store');
    assert.equal(existsSync(path), false);
  });

  test('created 0600, and so are its -wal and -shm files', async () => {
    const path = join(dir, 'private.db');
    const store = await OtaStore.open(path, STORAGE_KEY, { create: true });
    await fill(store);
    for (const file of [path, `${path}-wal`, `${path}-shm`])
      assert.equal(statSync(file).mode & 0o777, 0o600, file);
    await store.close();
  });

  test('keys and PSKs sealed at rest; another storage key is refused at open, with a clear error', async () => {
    const path = join(dir, 'sealed.db');
    const store = await OtaStore.open(path, STORAGE_KEY, { create: true });
    await fill(store);
    const psk = new Uint8Array(16).fill(0x77);
    await store.sims.putPsk(ICCID, psk);
    const kik = new Uint8Array(16).fill(0x6b);
    await store.sims.putKeySet(ICCID, { kvn: 2, kicByte: 0x12, kidByte: 0x12, kic: KIC, kid: KID, kik });
    assert.deepEqual((await store.sims.keySet(ICCID, 2)).kik, kik);
    assert.equal((await store.sims.keySet(ICCID, 1)).kik, undefined);
    assert.deepEqual((await store.sims.keySet(ICCID, 1)).kid, KID);
    assert.deepEqual(await store.sims.psk(ICCID), psk);
    await store.close();
    const bytes = Buffer.concat([path, `${path}-wal`].filter(existsSync).map((f) => readFileSync(f)));
    for (const secret of [KIC, KID, psk, kik]) assert.equal(bytes.includes(Buffer.from(secret)), false);
    for (const create of [false, true])
      await assert.rejects(
        OtaStore.open(path, new Uint8Array(32), { create }),
        (error: StorageError) =>
          error.code === 'wrong_storage_key' && /another storage key/.test(error.message),
      );
    const again = await OtaStore.open(path, STORAGE_KEY);
    assert.deepEqual((await again.sims.keySet(ICCID, 1)).kic, KIC);
    await again.close();
  });

  test('a key store from before versioning (and before the key check) is migrated, keeping its counters', async () => {
    const path = join(dir, 'v0.db');
    const keep = await OtaStore.open(join(dir, 'donor.db'), STORAGE_KEY, { create: true });
    await fill(keep);
    const sealed = (
      (await keep.engine.query('SELECT keys FROM key_sets WHERE iccid = $1', [ICCID])) as { keys: string }[]
    )[0]!.keys;
    await keep.close();
    const raw = new Database(path); // the schema the key store shipped with, no meta row, no versions
    raw.exec(`CREATE TABLE sims (iccid TEXT PRIMARY KEY, msisdn TEXT NOT NULL UNIQUE);
      CREATE TABLE key_sets (iccid TEXT NOT NULL REFERENCES sims(iccid), kvn INTEGER NOT NULL CHECK (kvn BETWEEN 1 AND 15),
        kic_byte INTEGER NOT NULL, kid_byte INTEGER NOT NULL, keys TEXT NOT NULL, counter INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (iccid, kvn));`);
    raw.prepare('INSERT INTO sims VALUES (?, ?)').run(ICCID, MSISDN);
    raw.prepare('INSERT INTO key_sets VALUES (?, 1, 18, 18, ?, 41)').run(ICCID, sealed);
    raw.close();
    assert.equal(await codeOf(() => OtaStore.open(path, new Uint8Array(32).fill(1))), 'wrong_storage_key');
    const store = await OtaStore.open(path, STORAGE_KEY);
    assert.equal(await store.sims.counter(ICCID, 1), 41n);
    assert.equal(await store.sims.nextCounter(ICCID, 1), 42n);
    assert.equal((await store.sims.get(MSISDN)).iccid, ICCID);
    await store.sims.add({ iccid: '8988211000000000001' }); // MSISDN optional since version 2
    const versions = await store.engine.query<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    assert.deepEqual(
      versions.map((v) => Number(v.version)),
      MIGRATIONS.map((m) => m.version),
    );
    await store.close();
    assert.equal(await codeOf(() => OtaStore.open(path, new Uint8Array(32).fill(1))), 'wrong_storage_key');
  });

  test('a store from a newer program is refused, not altered', async () => {
    const path = join(dir, 'future.db');
    (await OtaStore.open(path, STORAGE_KEY, { create: true })).close();
    const raw = new Database(path);
    raw.prepare("INSERT INTO schema_migrations VALUES (?, 'from the future', 0)").run(SCHEMA_VERSION + 1);
    raw.close();
    assert.equal(await codeOf(() => OtaStore.open(path, STORAGE_KEY)), 'schema_too_new');
  });

  test('writes commit in groups: 500 transactions at once, far fewer fsyncs, each one durable', async () => {
    const path = join(dir, 'group.db');
    const store = await OtaStore.open(path, STORAGE_KEY, { create: true });
    await fill(store);
    const engine = store.engine as SqliteEngine;
    const commits = engine.stats.commits;
    const counters = await Promise.all(Array.from({ length: 500 }, () => store.sims.nextCounter(ICCID, 1)));
    assert.equal(new Set(counters).size, 500);
    assert.ok(engine.stats.commits - commits < 50, `${engine.stats.commits - commits} commits`);
    // a failing transaction in a group is rolled back alone
    const results = await Promise.allSettled([
      store.sims.nextCounter(ICCID, 1),
      store.sims.nextCounter(ICCID, 9),
      store.sims.nextCounter(ICCID, 1),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    await store.close();
    const reopened = await OtaStore.open(path, STORAGE_KEY);
    assert.equal(await reopened.sims.counter(ICCID, 1), 502n);
    await reopened.close();
  });
});

// The same behaviour whichever engine: SQLite file, PostgreSQL
const engines: { name: string; open: () => Promise<string>; skip?: string }[] = [
  { name: 'SQLite', open: async () => join(dir, `suite-${Math.random().toString(36).slice(2)}.db`) },
];
let postgres: TestPostgres | undefined;
const pgReady = postgresAvailable();
engines.push({
  name: 'PostgreSQL',
  open: async () => postgres!.createDatabase(`s${Math.random().toString(36).slice(2)}`),
  ...(pgReady === true ? {} : { skip: pgReady }),
});
before(async () => {
  if (pgReady === true) postgres = await startPostgres();
});
after(() => postgres?.stop());

for (const engine of engines)
  describe(`the OTA store on ${engine.name}`, { ...(engine.skip ? { skip: engine.skip } : {}) }, () => {
    const open = async () => OtaStore.open(await engine.open(), STORAGE_KEY, { create: true });

    test('inventory: records, tags and batches; errors with a code; opened twice, migrated once', async () => {
      const location = await engine.open();
      const store = await OtaStore.open(location, STORAGE_KEY, { create: true });
      await fill(store);
      await store.sims.add({
        iccid: '89882110000000000011',
        msisdn: '4917000011',
        imsi: '262011234567891',
        eid: '89049032123451234512345678901235',
        type: 'type2',
        batch: 'B-2026-01',
        tags: ['meter', 'berlin'],
        pskIdentity: 'psk-11',
      });
      await store.sims.add({ iccid: '89882110000000000012', batch: 'B-2026-01', tags: ['meter'] });
      assert.deepEqual(await store.sims.get('4917000011'), {
        iccid: '89882110000000000011',
        msisdn: '4917000011',
        imsi: '262011234567891',
        eid: '89049032123451234512345678901235',
        type: 'type2',
        batch: 'B-2026-01',
        pskIdentity: 'psk-11',
        tags: ['berlin', 'meter'],
      });
      assert.deepEqual(await store.sims.select({ tags: ['meter'] }), [
        '89882110000000000011',
        '89882110000000000012',
      ]);
      assert.deepEqual(await store.sims.select({ tags: ['meter', 'berlin'] }), ['89882110000000000011']);
      assert.equal(await store.sims.count({ batch: 'B-2026-01' }), 2);
      assert.equal(await codeOf(() => store.sims.get('000')), 'unknown_sim');
      assert.equal(await codeOf(() => store.sims.keySet(ICCID, 9)), 'unknown_key_set');
      assert.equal(await codeOf(() => store.sims.nextCounter(ICCID, 9)), 'unknown_key_set');
      assert.equal(await codeOf(() => store.sims.add({ iccid: '12', msisdn: '1' })), 'invalid');
      assert.equal(await codeOf(() => store.sims.add({ iccid: ICCID, tags: ['no spaces'] })), 'invalid');
      assert.equal(await codeOf(() => store.jobs.get('nope')), 'unknown_job');
      assert.equal(await codeOf(() => OtaStore.open(location, new Uint8Array(31))), 'invalid');
      await store.close();
      const again = await OtaStore.open(location, STORAGE_KEY);
      const versions = await again.engine.query('SELECT version FROM schema_migrations');
      assert.equal(versions.length, SCHEMA_VERSION);
      await again.close();
    });

    test('counters: 300 taken at once from two store handles are 300 distinct values, none lost', async () => {
      const location = await engine.open();
      const a = await OtaStore.open(location, STORAGE_KEY, { create: true });
      await fill(a);
      const b = await OtaStore.open(location, STORAGE_KEY);
      const taken = await Promise.all(
        Array.from({ length: 300 }, (_, i) => (i % 2 ? a : b).sims.nextCounter(ICCID, 1)),
      );
      assert.equal(new Set(taken.map(String)).size, 300);
      assert.equal(await a.sims.counter(ICCID, 1), 300n);
      await a.close();
      await b.close();
    });

    test('claims: two workers claiming at once never get the same item; a lost lease fences its writes', async () => {
      const location = await engine.open();
      const a = await OtaStore.open(location, STORAGE_KEY, { create: true });
      const b = await OtaStore.open(location, STORAGE_KEY);
      const iccids = Array.from({ length: 300 }, (_, i) => `89882110000001${String(i).padStart(5, '0')}`);
      for (const iccid of iccids) await a.sims.add({ iccid });
      const job = await a.jobs.create({ kind: 'test', spec: {}, iccids });
      const claimed: string[][] = [[], []];
      await Promise.all(
        [a, b].map(async (store, n) => {
          for (;;) {
            const items = await store.jobs.claim(`w${n}`, 7, Date.now() + 60_000);
            if (items.length === 0) break;
            claimed[n]!.push(...items.map((i) => i.iccid));
          }
        }),
      );
      assert.equal(claimed[0]!.length + claimed[1]!.length, 300);
      assert.equal(new Set([...claimed[0]!, ...claimed[1]!]).size, 300, 'no item claimed twice');
      if (engine.name === 'PostgreSQL') assert.ok(claimed[0]!.length > 0 && claimed[1]!.length > 0);
      // w0's leases run out; the items go back; w1 takes one; w0's late write is refused
      const [item] = await a.jobs.items(job.id, { limit: 1 });
      const owner = item!.leaseOwner!;
      await a.engine.query('UPDATE job_items SET lease_until = 0 WHERE id = $1', [item!.id]);
      assert.equal(await a.jobs.recoverExpiredLeases(), 1);
      const [retaken] = await b.jobs.claim('w9', 1, Date.now() + 60_000);
      assert.equal(retaken!.id, item!.id);
      await assert.rejects(a.jobs.updateItem(item!, owner, { state: 'done', outcome: 'ok' }), LeaseLostError);
      await b.jobs.updateItem(retaken!, 'w9', { state: 'done', outcome: 'ok' });
      assert.equal((await a.jobs.item(item!.id)).state, 'done');
      await a.close();
      await b.close();
    });

    test('a retry decided after the job was aborted ends the item with the job: none is left ready', async () => {
      const store = await open();
      await fill(store);
      const job = await store.jobs.create({ kind: 'scp80', spec: {}, iccids: [ICCID] });
      const [item] = await store.jobs.claim('w', 1, Date.now() + 60_000);
      // the abort sweeps held and ready items; this one is running, its attempt then fails with a card error
      assert.equal(await store.jobs.setState(job.id, ['running'], 'aborted', 'too many failures'), true);
      await store.jobs.updateItem(item!, 'w', { state: 'ready', dueAt: Date.now() + 10, outcome: 'retry' });
      const ended = await store.jobs.item(item!.id);
      assert.equal(ended.state, 'cancelled');
      assert.equal(ended.outcome, 'aborted');
      assert.equal(ended.leaseOwner, undefined);
      // a paused job keeps its retries for when it resumes
      const paused = await store.jobs.create({ kind: 'scp80', spec: {}, iccids: [ICCID] });
      const [next] = await store.jobs.claim('w', 1, Date.now() + 60_000);
      assert.equal(await store.jobs.setState(paused.id, ['running'], 'paused'), true);
      await store.jobs.updateItem(next!, 'w', { state: 'ready', outcome: 'retry' });
      assert.equal((await store.jobs.item(next!.id)).state, 'ready');
      await store.close();
    });

    test("admin scripts go out only in the SIM's newest session: two servers, two live sessions, one sends", async () => {
      const location = await engine.open();
      const one = await OtaStore.open(location, STORAGE_KEY, { create: true });
      const two = await OtaStore.open(location, STORAGE_KEY);
      try {
        await fill(one);
        const first = await one.admin.push(ICCID, { script: Uint8Array.of(0xaa, 0x01) });
        const second = await one.admin.push(ICCID, { script: Uint8Array.of(0xaa, 0x02) });
        // the card's session on server one, then (the card gave up, tried again) a newer one on server two
        const older = await one.admin.openSession(ICCID);
        const newer = await two.admin.openSession(ICCID);
        assert.equal((await one.admin.next(ICCID))?.id, first);
        assert.equal(await one.admin.markSent(first, older), false, 'the older session may not send it');
        assert.equal((await one.admin.script(first))?.state, 'queued');
        assert.equal(await two.admin.markSent(first, newer), true);
        assert.equal(
          await two.admin.markSent(first, newer),
          true,
          'sent again in its own session (a resume)',
        );
        // both servers claim the second script at once: only the newest session's claim holds
        const claims = await Promise.all([
          one.admin.markSent(second, older),
          two.admin.markSent(second, newer),
        ]);
        assert.deepEqual(claims, [false, true]);
        const scripts = await one.admin.scripts(ICCID);
        assert.deepEqual(
          scripts.map((x) => [x.state, x.sentCount]),
          [
            ['sent', 2],
            ['sent', 1],
          ],
        );
        // a session opened meanwhile on server one supersedes server two's: its claims are refused
        const newest = await one.admin.openSession(ICCID);
        assert.equal(await two.admin.markSent(second, newer), false);
        assert.equal(await one.admin.markSent(second, newest), true);
      } finally {
        await two.close();
        await one.close();
      }
    });

    test('an attempt begins only while its job runs: the fence refuses it, and its counter is rolled back', async () => {
      const store = await open();
      await fill(store);
      const job = await store.jobs.create({ kind: 'scp80', spec: {}, iccids: [ICCID] });
      const [item] = await store.jobs.claim('w', 1, Date.now() + 60_000);
      const before = await store.sims.counter(ICCID, 1);
      assert.equal(await store.jobs.setState(job.id, ['running'], 'paused'), true); // after the claim
      const attempt = () => attemptOf(store, item!);
      await assert.rejects(attempt(), { name: 'JobStoppedError', message: /is paused/ });
      assert.equal(await store.sims.counter(ICCID, 1), before, 'no counter spent');
      assert.deepEqual(await store.jobs.attemptsOf(job.id), []);
      assert.equal(item!.attempt, 0);
      // resumed, the same item (still leased) makes its attempt with the next counter
      assert.equal(await store.jobs.setState(job.id, ['paused'], 'running'), true);
      assert.ok((await attempt()) > 0);
      assert.equal(await store.sims.counter(ICCID, 1), before + 1n);
      assert.equal(item!.attempt, 1);
      await store.close();
    });

    test('a PoR recorded for another worker is announced to it where the engine can (PostgreSQL NOTIFY)', async () => {
      const store = await open();
      const heard: number[] = [];
      const listening = store.jobs.listenForPors((id) => heard.push(id));
      if (engine.name === 'SQLite') {
        assert.equal(listening, undefined, 'SQLite: the waiting worker polls');
        await store.jobs.announcePor(7); // nothing to tell, nothing fails
        await store.close();
        return;
      }
      const stop = await listening!;
      await store.jobs.announcePor(41);
      await store.jobs.announcePor(42);
      for (let i = 0; i < 200 && heard.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(heard, [41, 42]);
      await stop();
      await store.jobs.announcePor(43);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(heard, [41, 42], 'nothing after the listener stopped');
      await store.close();
    });

    test('the ledger: an attempt recorded with its counter before sending; PoRs found by number, TAR, state', async () => {
      const store = await open();
      await fill(store);
      const job = await store.jobs.create({ kind: 'scp80', spec: {}, iccids: [ICCID] });
      const [item] = await store.jobs.claim('w', 1, Date.now() + 60_000);
      const id = await attemptOf(store, item!, { tar: 'B00000', spi: '1619', kvn: 1 });
      const [open1] = await store.jobs.openAttempts(MSISDN, 'B00000');
      assert.equal(open1?.id, id);
      assert.equal(open1?.counter, 1n);
      assert.deepEqual(await store.jobs.openAttempts(MSISDN, 'B00001'), []);
      assert.equal(
        await store.jobs.recordPor(id, { status: 0, data: '9000', secured: true, counter: 1n }),
        true,
      );
      assert.equal(
        await store.jobs.recordPor(id, { status: 0, data: '9000', secured: true, counter: 1n }),
        false,
        'a duplicated PoR changes nothing',
      );
      assert.deepEqual(await store.jobs.openAttempts(MSISDN, 'B00000'), []);
      const [entry] = await store.jobs.ledger(ICCID);
      assert.equal(entry?.state, 'por');
      assert.equal(entry?.jobId, job.id);
      assert.equal(entry?.porData, '9000');
      await store.close();
    });
  });
