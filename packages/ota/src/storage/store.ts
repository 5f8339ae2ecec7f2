// The operator's store: one SqlEngine (SQLite file or PostgreSQL), its schema migrated on open, the
// storage key checked against a sealed value so that a store never opens under another key, and the
// two halves every role uses: `sims` (inventory, sealed key sets, counters) and `jobs` (jobs, their
// items, the per-SIM attempt ledger).
import { SealError, seal, unseal } from '@iotsafe/protocol';
import { AdminStore } from './admin-store.js';
import { type SqlEngine, StorageError } from './engine.js';
import { JobStore } from './job-store.js';
import { PostgresEngine } from './postgres-engine.js';
import { migrate } from './schema.js';
import { SimStore } from './sim-store.js';
import { SqliteEngine } from './sqlite-engine.js';

const KEY_CHECK_TEXT = 'iotsafe-ota storage key check';
const KEY_CHECK_CONTEXT = 'ota/key-check';

export interface OpenStoreOptions {
  /** Create a missing SQLite file (0600); a PostgreSQL database must exist already. */
  create?: boolean;
  /** PostgreSQL pool size (default 10). */
  maxConnections?: number;
}

/** Whether a --store value names PostgreSQL (a postgres:// or postgresql:// URL) or a SQLite file. */
export const isPostgresUrl = (location: string): boolean => /^postgres(ql)?:\/\//.test(location);

export class OtaStore {
  readonly sims: SimStore;
  readonly jobs: JobStore;
  /** SCP81: the per-SIM queues of admin scripts and the admin sessions. */
  readonly admin: AdminStore;

  private constructor(
    readonly engine: SqlEngine,
    storageKey: Uint8Array,
  ) {
    this.sims = new SimStore(engine, storageKey);
    this.jobs = new JobStore(engine);
    this.admin = new AdminStore(engine, storageKey);
  }

  /** Opens a SQLite file (':memory:' for tests) or a postgres:// URL, migrating its schema. */
  static async open(
    location: string,
    storageKey: Uint8Array,
    options: OpenStoreOptions = {},
  ): Promise<OtaStore> {
    if (storageKey.length !== 32) throw new StorageError('the storage key is 32 bytes');
    const engine = isPostgresUrl(location)
      ? await PostgresEngine.connect({
          connectionString: location,
          ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
        })
      : SqliteEngine.open(location, { ...(options.create ? { create: true } : {}) });
    try {
      await migrate(engine);
      if (engine instanceof SqliteEngine) engine.enableForeignKeys();
      await checkStorageKey(engine, storageKey, isPostgresUrl(location) ? 'PostgreSQL' : location);
    } catch (error) {
      await engine.close();
      throw error;
    }
    return new OtaStore(engine, storageKey);
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}

// The sealed key check (or, in a store from before it, the first key set) must open with this key.
// Two processes opening a new store at once both write one; the one that lands is checked by both.
async function checkStorageKey(engine: SqlEngine, storageKey: Uint8Array, where: string): Promise<void> {
  const opens = (sealed: string, context: string) => {
    try {
      unseal(storageKey, sealed, context);
    } catch (error) {
      if (!(error instanceof SealError)) throw error;
      throw new StorageError(
        `the OTA store ${where} was sealed under another storage key (or it was altered)`,
        'wrong_storage_key',
      );
    }
  };
  const stored = async () =>
    (await engine.query<{ value: string }>("SELECT value FROM meta WHERE name = 'key-check'"))[0]?.value;
  const check = await stored();
  if (check !== undefined) return opens(check, KEY_CHECK_CONTEXT);
  const [first] = await engine.query<{ iccid: string; kvn: number; keys: string }>(
    'SELECT iccid, kvn, keys FROM key_sets LIMIT 1',
  );
  if (first) opens(first.keys, `ota/${first.iccid}/key-set/${first.kvn}`);
  const sealed = seal(storageKey, new TextEncoder().encode(KEY_CHECK_TEXT), KEY_CHECK_CONTEXT);
  await engine.query(
    "INSERT INTO meta (name, value) VALUES ('key-check', $1) ON CONFLICT (name) DO NOTHING",
    [sealed],
  );
  opens((await stored())!, KEY_CHECK_CONTEXT);
}
