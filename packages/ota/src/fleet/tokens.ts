// API tokens of the fleet API, each with a role: viewer (reads), operator (also imports, sends and
// runs campaigns), admin (also manages tokens). A token is 32 random bytes shown once when created;
// the store keeps only its SHA-256 (a token has 256 bits of entropy: a slow password hash would add
// nothing), so a leaked database reveals no token. Lookups go by that digest.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { SqlEngine } from '../storage/engine.js';
import { StorageError } from '../storage/engine.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Whether `held` is at least `needed` (admin ⊇ operator ⊇ viewer). */
export const roleAllows = (held: Role, needed: Role): boolean => ROLES.indexOf(held) >= ROLES.indexOf(needed);

export interface ApiTokenRecord {
  id: string;
  name: string;
  role: Role;
  createdBy: string | undefined;
  createdAt: number;
  lastUsedAt: number | undefined;
  revokedAt: number | undefined;
}

interface TokenRow {
  id: string;
  name: string;
  role: string;
  created_by: string | null;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

/** The digest a token is stored and looked up by. */
export const tokenDigest = (token: string): string =>
  createHash('sha256').update(token, 'utf8').digest('hex');

const recordOf = (row: TokenRow): ApiTokenRecord => ({
  id: row.id,
  name: row.name,
  role: row.role as Role,
  createdBy: row.created_by ?? undefined,
  createdAt: Number(row.created_at),
  lastUsedAt: row.last_used_at === null ? undefined : Number(row.last_used_at),
  revokedAt: row.revoked_at === null ? undefined : Number(row.revoked_at),
});

export class TokenStore {
  constructor(private readonly engine: SqlEngine) {}

  /** Creates a token; the token itself is in the answer only, never stored. */
  async create(
    name: string,
    role: Role,
    createdBy?: string,
  ): Promise<{ record: ApiTokenRecord; token: string }> {
    if (!/^[\w .:@-]{1,64}$/.test(name))
      throw new StorageError('a token name is 1 to 64 of [A-Za-z0-9_ .:@-]');
    if (!ROLES.includes(role)) throw new StorageError(`a role is one of ${ROLES.join(', ')}`);
    const id = randomUUID();
    const token = `iots_${randomBytes(32).toString('base64url')}`;
    await this.engine.query(
      'INSERT INTO api_tokens (id, name, role, hash, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [id, name, role, tokenDigest(token), createdBy, Date.now()],
    );
    return { record: await this.get(id), token };
  }

  async get(id: string): Promise<ApiTokenRecord> {
    const [row] = await this.engine.query<TokenRow>('SELECT * FROM api_tokens WHERE id = $1', [id]);
    if (!row) throw new StorageError(`no API token ${id}`, 'invalid');
    return recordOf(row);
  }

  async list(): Promise<ApiTokenRecord[]> {
    const rows = await this.engine.query<TokenRow>('SELECT * FROM api_tokens ORDER BY created_at, id');
    return rows.map(recordOf);
  }

  /** Revokes a token; false when there is no such live token. */
  async revoke(id: string): Promise<boolean> {
    const rows = await this.engine.query(
      'UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id',
      [id, Date.now()],
    );
    return rows.length > 0;
  }

  /** The live token with this value, or undefined (its last use is recorded, at most once a minute). */
  async verify(token: string): Promise<ApiTokenRecord | undefined> {
    const [row] = await this.engine.query<TokenRow>(
      'SELECT * FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL',
      [tokenDigest(token)],
    );
    if (!row) return undefined;
    const now = Date.now();
    if (row.last_used_at === null || now - Number(row.last_used_at) > 60_000)
      await this.engine.query('UPDATE api_tokens SET last_used_at = $2 WHERE id = $1', [row.id, now]);
    return recordOf(row);
  }
}
