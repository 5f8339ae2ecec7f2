// The embedded engine: better-sqlite3 (synchronous, one connection) behind the async SqlEngine. WAL
// and synchronous=FULL: a commit is on disk before it is reported, so a counter handed out survives a
// power cut. A commit costs an fsync (about 200 a second on a plain disk), so writes are committed in
// groups: every transaction asked for in one turn of the event loop runs, each in its own SAVEPOINT
// (a failing one is rolled back alone), inside one BEGIN IMMEDIATE … COMMIT, and none is reported
// done before that COMMIT returns. Reads run at once. A busy timeout lets several processes share a
// file (BEGIN IMMEDIATE takes the write lock).
import { closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import {
  type EngineStats,
  type SqlEngine,
  type SqlExecutor,
  StorageError,
  toSqlitePlaceholders,
} from './engine.js';

export interface SqliteOptions {
  /** Create the file (0600) when it does not exist; otherwise a missing file is an error. */
  create?: boolean;
  /** How long to wait for another process's write lock (default 10 s). */
  busyTimeoutMs?: number;
}

interface Unit {
  work: (tx: SqlExecutor) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class SqliteEngine implements SqlEngine {
  readonly dialect = 'sqlite' as const;
  private readonly statements = new Map<string, { statement: Database.Statement; order: number[] }>();
  private pending: Unit[] = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;
  private readonly direct: SqlExecutor = {
    query: <T>(sql: string, params?: readonly unknown[]) => Promise.resolve(this.run<T>(sql, params)),
  };
  readonly stats: EngineStats = { statements: 0, transactions: 0, commits: 0 };

  private constructor(private readonly db: Database.Database) {}

  /** Opens (or, with `create`, makes) a database file; ':memory:' for tests. */
  static open(path: string, options: SqliteOptions = {}): SqliteEngine {
    const inMemory = path === ':memory:';
    if (!inMemory && !existsSync(path)) {
      if (!options.create)
        throw new StorageError(
          `no OTA key store at ${path} (pass --create to make a new one)`,
          'missing_store',
        );
      closeSync(openSync(path, 'wx', 0o600)); // before SQLite creates it with the umask's mode
    }
    const db = new Database(path, { fileMustExist: !inMemory, timeout: options.busyTimeoutMs ?? 10_000 });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = OFF'); // until migrated (better-sqlite3 turns them on by default)
    return new SqliteEngine(db);
  }

  /** Foreign keys are enforced from now on (after migrating: a table rebuild needs them off). */
  enableForeignKeys(): void {
    const broken = this.db.pragma('foreign_key_check') as unknown[];
    if (broken.length)
      throw new StorageError(`the store has ${broken.length} rows whose references are broken`);
    this.db.pragma('foreign_keys = ON');
  }

  private prepared(sql: string): { statement: Database.Statement; order: number[] } {
    let prepared = this.statements.get(sql);
    if (!prepared) {
      const { sql: text, order } = toSqlitePlaceholders(sql);
      prepared = { statement: this.db.prepare(text), order };
      this.statements.set(sql, prepared);
    }
    return prepared;
  }

  /** Runs one statement now, synchronously (the rows of a statement that returns any). */
  private run<T>(sql: string, params: readonly unknown[] = []): T[] {
    const { statement, order } = this.prepared(sql);
    this.stats.statements++;
    const args = order.map((i) => toSqliteValue(params[i]));
    if (statement.reader) return statement.all(...args) as T[];
    statement.run(...args);
    return [];
  }

  query<T>(sql: string, params?: readonly unknown[]): Promise<T[]> {
    let readonly: boolean;
    try {
      readonly = this.prepared(sql).statement.readonly;
      if (readonly) return Promise.resolve(this.run<T>(sql, params));
    } catch (error) {
      return Promise.reject(error);
    }
    return this.transaction((tx) => tx.query<T>(sql, params)); // a write: committed with its group
  }

  /** `work` must only query through `tx` (no other waiting): the whole group waits for it. */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flushing = this.flush().finally(() => {
        this.flushing = undefined;
        if (this.pending.length) this.schedule();
      });
    });
  }

  private async flush(): Promise<void> {
    const units = this.pending;
    this.pending = [];
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      for (const unit of units) unit.reject(error);
      return;
    }
    for (const unit of units) {
      this.db.exec('SAVEPOINT unit');
      try {
        const value = await unit.work(this.direct);
        this.db.exec('RELEASE unit');
        outcomes.push({ ok: true, value });
      } catch (error) {
        this.db.exec('ROLLBACK TO unit');
        this.db.exec('RELEASE unit');
        outcomes.push({ ok: false, value: error });
      }
    }
    try {
      this.db.exec('COMMIT');
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      for (const unit of units) unit.reject(error);
      return;
    }
    this.stats.commits++;
    this.stats.transactions += units.length;
    units.forEach((unit, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) unit.resolve(outcome.value);
      else unit.reject(outcome.value);
    });
  }

  async close(): Promise<void> {
    while (this.flushing || this.scheduled || this.pending.length) {
      await this.flushing;
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.db.close();
  }
}

function toSqliteValue(value: unknown): unknown {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return value ?? null;
}
