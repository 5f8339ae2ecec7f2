// The OTA server's per-SIM key store (SQLite via better-sqlite3): SIMs by ICCID and MSISDN, SCP80 key
// sets by KVN with their KIc/KID sealed at rest (AES-256-GCM under the storage key), and the counter
// of each key set. A counter is taken by an atomic, durable increment before a packet is built, so no
// counter is ever used twice, even across a crash or restart. The file is created 0600 (SQLite gives
// its -wal and -shm files the same mode), only when asked to, and holds a sealed key check so that it
// refuses to open under another storage key.

import { closeSync, existsSync, openSync } from 'node:fs';
import { SealError, seal, unseal } from '@iotsafe/protocol';
import Database from 'better-sqlite3';

export interface SimRecord {
  iccid: string;
  msisdn: string;
}

export interface OtaKeySet {
  kvn: number;
  /** The KIc and KID bytes sent in packets (KVN in b8–b5, algorithm in b4–b1). */
  kicByte: number;
  kidByte: number;
  kic: Uint8Array;
  kid: Uint8Array;
}

export type KeyStoreErrorCode =
  | 'invalid'
  | 'missing_store'
  | 'wrong_storage_key'
  | 'unknown_sim'
  | 'unknown_key_set'
  | 'counter_exhausted';

/** A store operation that cannot be done: no store, another storage key, unknown SIM or key set… */
export class KeyStoreError extends Error {
  override name = 'KeyStoreError';
  constructor(
    message: string,
    readonly code: KeyStoreErrorCode = 'invalid',
  ) {
    super(message);
  }
}

const KEY_CHECK_TEXT = 'iotsafe-ota storage key check';
const KEY_CHECK_CONTEXT = 'ota/key-check';

const MAX_COUNTER = 2 ** 40 - 1;

export class OtaKeyStore {
  private constructor(
    private readonly db: Database.Database,
    private readonly storageKey: Uint8Array,
  ) {}

  /** Opens the store; a missing file is an error unless `create`. ':memory:' for tests. */
  static open(path: string, storageKey: Uint8Array, options: { create?: boolean } = {}): OtaKeyStore {
    if (storageKey.length !== 32) throw new KeyStoreError('the storage key is 32 bytes');
    const inMemory = path === ':memory:';
    if (!inMemory && !existsSync(path)) {
      if (!options.create)
        throw new KeyStoreError(
          `no OTA key store at ${path} (pass --create to make a new one)`,
          'missing_store',
        );
      closeSync(openSync(path, 'wx', 0o600)); // before SQLite creates it with the umask's mode
    }
    const db = new Database(path, { fileMustExist: !inMemory });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL'); // a counter handed out survives a power cut
      db.exec(`
        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS sims (iccid TEXT PRIMARY KEY, msisdn TEXT NOT NULL UNIQUE);
        CREATE TABLE IF NOT EXISTS key_sets (
          iccid TEXT NOT NULL REFERENCES sims(iccid),
          kvn INTEGER NOT NULL CHECK (kvn BETWEEN 1 AND 15),
          kic_byte INTEGER NOT NULL,
          kid_byte INTEGER NOT NULL,
          keys TEXT NOT NULL,
          counter INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY (iccid, kvn)
        );`);
      checkStorageKey(db, storageKey, path);
    } catch (error) {
      db.close();
      throw error;
    }
    return new OtaKeyStore(db, storageKey);
  }

  addSim(sim: SimRecord): void {
    if (!/^\d{18,20}$/.test(sim.iccid)) throw new KeyStoreError('an ICCID is 18 to 20 digits');
    if (!/^\d{1,20}$/.test(sim.msisdn)) throw new KeyStoreError('an MSISDN is 1 to 20 digits');
    this.db.prepare('INSERT OR REPLACE INTO sims (iccid, msisdn) VALUES (?, ?)').run(sim.iccid, sim.msisdn);
  }

  sim(iccidOrMsisdn: string): SimRecord {
    const row = this.db
      .prepare('SELECT iccid, msisdn FROM sims WHERE iccid = ? OR msisdn = ?')
      .get(iccidOrMsisdn, iccidOrMsisdn) as SimRecord | undefined;
    if (!row) throw new KeyStoreError(`no SIM ${iccidOrMsisdn}`, 'unknown_sim');
    return row;
  }

  /** Adds or replaces a key set; the counter of a replaced set is kept (it must never go back). */
  putKeySet(iccid: string, set: OtaKeySet): void {
    this.sim(iccid);
    const keys = seal(
      this.storageKey,
      Uint8Array.from([...set.kic, ...set.kid, set.kic.length]),
      context(iccid, set.kvn),
    );
    this.db
      .prepare(
        `INSERT INTO key_sets (iccid, kvn, kic_byte, kid_byte, keys) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (iccid, kvn) DO UPDATE SET kic_byte = excluded.kic_byte, kid_byte = excluded.kid_byte, keys = excluded.keys`,
      )
      .run(iccid, set.kvn, set.kicByte, set.kidByte, keys);
  }

  keySet(iccid: string, kvn: number): OtaKeySet {
    const row = this.db
      .prepare('SELECT kic_byte, kid_byte, keys FROM key_sets WHERE iccid = ? AND kvn = ?')
      .get(iccid, kvn) as { kic_byte: number; kid_byte: number; keys: string } | undefined;
    if (!row) throw new KeyStoreError(`SIM ${iccid} has no key set ${kvn}`, 'unknown_key_set');
    const packed = unseal(this.storageKey, row.keys, context(iccid, kvn));
    const kicLength = packed[packed.length - 1]!;
    return {
      kvn,
      kicByte: row.kic_byte,
      kidByte: row.kid_byte,
      kic: packed.slice(0, kicLength),
      kid: packed.slice(kicLength, packed.length - 1),
    };
  }

  /** Takes the next counter of a key set: incremented and committed before it is returned. */
  nextCounter(iccid: string, kvn: number): bigint {
    const row = this.db
      .prepare(
        'UPDATE key_sets SET counter = counter + 1 WHERE iccid = ? AND kvn = ? AND counter < ? RETURNING counter',
      )
      .get(iccid, kvn, MAX_COUNTER) as { counter: number } | undefined;
    if (!row) {
      this.keySetRow(iccid, kvn);
      throw new KeyStoreError(`no counter left for SIM ${iccid} key set ${kvn}`, 'counter_exhausted');
    }
    return BigInt(row.counter);
  }

  /** The last counter handed out (0 when none was). */
  counter(iccid: string, kvn: number): bigint {
    return BigInt(this.keySetRow(iccid, kvn).counter);
  }

  private keySetRow(iccid: string, kvn: number): { counter: number } {
    const row = this.db.prepare('SELECT counter FROM key_sets WHERE iccid = ? AND kvn = ?').get(iccid, kvn) as
      | { counter: number }
      | undefined;
    if (!row) throw new KeyStoreError(`SIM ${iccid} has no key set ${kvn}`, 'unknown_key_set');
    return row;
  }

  close(): void {
    this.db.close();
  }
}

const context = (iccid: string, kvn: number) => `ota/${iccid}/key-set/${kvn}`;

// The sealed key check (or, in a store from before it, the first key set) must open with this key.
function checkStorageKey(db: Database.Database, storageKey: Uint8Array, path: string): void {
  const check = db.prepare("SELECT value FROM meta WHERE name = 'key-check'").get() as
    | { value: string }
    | undefined;
  try {
    if (check) {
      unseal(storageKey, check.value, KEY_CHECK_CONTEXT);
      return;
    }
    const first = db.prepare('SELECT iccid, kvn, keys FROM key_sets LIMIT 1').get() as
      | { iccid: string; kvn: number; keys: string }
      | undefined;
    if (first) unseal(storageKey, first.keys, context(first.iccid, first.kvn));
  } catch (error) {
    if (!(error instanceof SealError)) throw error;
    throw new KeyStoreError(
      `the OTA key store ${path} was sealed under another storage key (or it was altered)`,
      'wrong_storage_key',
    );
  }
  const sealed = seal(storageKey, new TextEncoder().encode(KEY_CHECK_TEXT), KEY_CHECK_CONTEXT);
  db.prepare("INSERT INTO meta (name, value) VALUES ('key-check', ?)").run(sealed);
}
