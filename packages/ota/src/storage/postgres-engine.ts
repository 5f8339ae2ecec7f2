// The scale-out engine: PostgreSQL through a node-postgres pool. int8 columns come back as numbers
// (counters stay below 2^40, times are milliseconds), and a transaction holds one pooled connection
// from BEGIN to COMMIT.
import pg from 'pg';
import { type EngineStats, type SqlEngine, type SqlExecutor, StorageError } from './engine.js';

export interface PostgresOptions {
  /** A connection string (postgres://user@host:port/db or ?host=/socket/dir). */
  connectionString: string;
  /** Pooled connections (default 10). */
  maxConnections?: number;
}

/** Statements named (prepared once per connection) at most. */
const MAX_NAMED = 256;
/** More parameters than this: an IN list or a multi-row insert, whose text varies with its length. */
const MAX_NAMED_PARAMS = 20;

const INT8 = 20;
const NUMERIC = 1700;
const types = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    oid === INT8 || oid === NUMERIC
      ? (text: string) => Number(text)
      : pg.types.getTypeParser(oid, format as 'text'),
};

export class PostgresEngine implements SqlEngine {
  readonly dialect = 'postgres' as const;
  readonly stats: EngineStats = { statements: 0, transactions: 0, commits: 0 };

  private readonly listeners = new Set<pg.Client>();
  private readonly names = new Map<string, string>();

  private constructor(
    private readonly pool: pg.Pool,
    private readonly options: PostgresOptions,
  ) {}

  static async connect(options: PostgresOptions): Promise<PostgresEngine> {
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
      types: types as pg.CustomTypesConfig,
    });
    pool.on('error', () => {}); // an idle connection lost: the pool replaces it on next use
    try {
      const client = await pool.connect();
      client.release();
    } catch (error) {
      await pool.end();
      throw new StorageError(`cannot reach PostgreSQL: ${(error as Error).message}`);
    }
    return new PostgresEngine(pool, options);
  }

  async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    this.stats.statements++;
    const result = await this.pool.query(this.config(sql, params));
    return result.rows as T[];
  }

  // The statements the engine runs again and again (a campaign's few per SIM) are named: each
  // connection parses and plans one once, then only binds it. A bounded set: IN lists of every length
  // and one-off statements stay unnamed.
  private config(text: string, params: readonly unknown[]): pg.QueryConfig {
    const values = params.map(toPostgresValue);
    let name = this.names.get(text);
    if (
      name === undefined &&
      this.names.size < MAX_NAMED &&
      params.length <= MAX_NAMED_PARAMS &&
      /^\s*(SELECT|INSERT|UPDATE|DELETE)\b/i.test(text)
    ) {
      name = `iotsafe_${this.names.size}`;
      this.names.set(text, name);
    }
    return name === undefined ? { text, values } : { name, text, values };
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx: SqlExecutor = {
      query: async <R>(sql: string, params: readonly unknown[] = []) => {
        this.stats.statements++;
        return (await client.query(this.config(sql, params))).rows as R[];
      },
    };
    try {
      await client.query('BEGIN');
      const result = await work(tx);
      await client.query('COMMIT');
      this.stats.transactions++;
      this.stats.commits++;
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  /** A connection of its own, outside the pool, that LISTENs on `channel` (an SQL identifier). */
  async listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>> {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new StorageError(`not a channel name: ${channel}`);
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      types: types as pg.CustomTypesConfig,
    });
    client.on('error', () => {}); // the connection lost: messages are lost, the callers poll as well
    client.on('notification', (message) => {
      if (message.channel === channel) onMessage(message.payload ?? '');
    });
    await client.connect();
    this.listeners.add(client);
    try {
      await client.query(`LISTEN ${channel}`);
    } catch (error) {
      this.listeners.delete(client);
      await client.end().catch(() => {});
      throw error;
    }
    return async () => {
      if (!this.listeners.delete(client)) return;
      await client.end().catch(() => {});
    };
  }

  async notify(channel: string, payload: string): Promise<void> {
    await this.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  async close(): Promise<void> {
    await Promise.all([...this.listeners].map((client) => client.end().catch(() => {})));
    this.listeners.clear();
    await this.pool.end();
  }
}

function toPostgresValue(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array && !Buffer.isBuffer(value))
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return value ?? null;
}
