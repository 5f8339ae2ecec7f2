// The OTA key store at rest: created 0600 (with its WAL files), never created by a typo, sealed under
// one storage key and refused under another, keys never in clear in the file.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { KeyStoreError, OtaKeyStore } from '@iotsafe/ota';
import Database from 'better-sqlite3';
import { ICCID, KIC, KID, MSISDN, STORAGE_KEY } from './rig.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-ota-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const fill = (store: OtaKeyStore) => {
  store.addSim({ iccid: ICCID, msisdn: MSISDN });
  store.putKeySet(ICCID, { kvn: 1, kicByte: 0x12, kidByte: 0x12, kic: KIC, kid: KID });
};

describe('the OTA key store on disk', () => {
  test('a missing store is an error unless asked to create it: a typo creates nothing', () => {
    const path = join(dir, 'typo.db');
    assert.throws(
      () => OtaKeyStore.open(path, STORAGE_KEY),
      (error: KeyStoreError) => error.code === 'missing_store' && error.message.includes(path),
    );
    assert.equal(existsSync(path), false);
  });

  test('created 0600, and so are its -wal and -shm files', () => {
    const path = join(dir, 'private.db');
    const store = OtaKeyStore.open(path, STORAGE_KEY, { create: true });
    fill(store);
    for (const file of [path, `${path}-wal`, `${path}-shm`])
      assert.equal(statSync(file).mode & 0o777, 0o600, file);
    store.close();
  });

  test('keys sealed at rest; another storage key is refused at open, with a clear error', () => {
    const path = join(dir, 'sealed.db');
    const store = OtaKeyStore.open(path, STORAGE_KEY, { create: true });
    fill(store);
    assert.deepEqual(store.keySet(ICCID, 1).kid, KID);
    store.close();
    const bytes = readFileSync(path);
    assert.equal(bytes.includes(Buffer.from(KIC)), false);
    assert.equal(bytes.includes(Buffer.from(KID)), false);
    for (const create of [false, true])
      assert.throws(
        () => OtaKeyStore.open(path, new Uint8Array(32), { create }),
        (error: KeyStoreError) =>
          error.code === 'wrong_storage_key' && /another storage key/.test(error.message),
      );
    const again = OtaKeyStore.open(path, STORAGE_KEY);
    assert.deepEqual(again.keySet(ICCID, 1).kic, KIC);
    again.close();
  });

  test('a store written before the key check: checked against its key sets, then given one', () => {
    const path = join(dir, 'old.db');
    const store = OtaKeyStore.open(path, STORAGE_KEY, { create: true });
    fill(store);
    store.close();
    const raw = new Database(path);
    raw.exec('DROP TABLE meta');
    raw.close();
    assert.throws(
      () => OtaKeyStore.open(path, new Uint8Array(32).fill(1)),
      (error: KeyStoreError) => error.code === 'wrong_storage_key',
    );
    OtaKeyStore.open(path, STORAGE_KEY).close();
    assert.throws(() => OtaKeyStore.open(path, new Uint8Array(32).fill(1)), KeyStoreError);
  });

  test('unknown SIMs and key sets, bad records: KeyStoreErrors with a code', () => {
    const store = OtaKeyStore.open(':memory:', STORAGE_KEY);
    fill(store);
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return error instanceof KeyStoreError ? error.code : 'not a KeyStoreError';
      }
      return 'no error';
    };
    assert.equal(
      code(() => store.sim('000')),
      'unknown_sim',
    );
    assert.equal(
      code(() => store.keySet(ICCID, 9)),
      'unknown_key_set',
    );
    assert.equal(
      code(() => store.nextCounter(ICCID, 9)),
      'unknown_key_set',
    );
    assert.equal(
      code(() => store.addSim({ iccid: '12', msisdn: '1' })),
      'invalid',
    );
    assert.equal(
      code(() => OtaKeyStore.open(':memory:', new Uint8Array(31))),
      'invalid',
    );
    store.close();
  });
});
