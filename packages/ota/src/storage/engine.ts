// The SQL seam of the operator's storage: one small async interface that SQLite (embedded, the
// default) and PostgreSQL (scale-out) both implement. Statements are written once, with PostgreSQL's
// numbered parameters ($1, $2…); the SQLite engine rewrites them. Every multi-statement change goes
// through transaction(), which is one database transaction on either engine.

export type Dialect = 'sqlite' | 'postgres';

export type Row = Record<string, unknown>;

export interface SqlExecutor {
  /** Runs one statement and returns its rows (none for a statement without RETURNING). */
  query<T = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
}

/** What an engine has run since it opened (diagnostics, the bench). */
export interface EngineStats {
  statements: number;
  transactions: number;
  /** Commits to disk (SQLite groups several transactions in one). */
  commits: number;
}

export interface SqlEngine extends SqlExecutor {
  readonly dialect: Dialect;
  readonly stats: EngineStats;
  /** Runs `work` in one transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: one pooled connection). */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * Where the engine can tell other processes something (PostgreSQL LISTEN/NOTIFY): calls `onMessage`
   * with each payload sent on `channel` (delivered once the sender's transaction commits), until the
   * function it resolves to is called. Best effort: a lost connection loses messages.
   */
  listen?(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>>;
  notify?(channel: string, payload: string): Promise<void>;
  close(): Promise<void>;
}

/** A storage operation that cannot be done (no store, another storage key, unknown SIM…). */
export class StorageError extends Error {
  override name = 'StorageError';
  constructor(
    message: string,
    readonly code: StorageErrorCode = 'invalid',
  ) {
    super(message);
  }
}

export type StorageErrorCode =
  | 'invalid'
  | 'missing_store'
  | 'wrong_storage_key'
  | 'unknown_sim'
  | 'unknown_key_set'
  | 'unknown_job'
  | 'counter_exhausted'
  | 'schema_too_new';

const translated = new Map<string, { sql: string; order: number[] }>();

/** `$n` placeholders as SQLite's `?`, with the parameter order each `?` takes ($1 used twice: twice). */
export function toSqlitePlaceholders(sql: string): { sql: string; order: number[] } {
  let cached = translated.get(sql);
  if (!cached) {
    const order: number[] = [];
    const text = sql.replace(/\$(\d+)/g, (_, n: string) => {
      order.push(Number(n) - 1);
      return '?';
    });
    cached = { sql: text, order };
    translated.set(sql, cached);
  }
  return cached;
}

/** `$1, $2, …` for a list of n values starting at `first` (IN lists, multi-row VALUES). */
export function placeholders(count: number, first = 1): string {
  return Array.from({ length: count }, (_, i) => `$${first + i}`).join(', ');
}
