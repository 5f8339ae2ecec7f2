// The inventory's records as rows: a SIM by ICCID (TS 102 221 §13.2: up to 20 digits), its MSISDN,
// IMSI, EID, IoT SAFE type, batch and tags, their checks, and the SQL that selects SIMs by filter.
import { placeholders, StorageError } from './engine.js';

export interface SimRecord {
  iccid: string;
  msisdn?: string;
  imsi?: string;
  eid?: string;
  /** IoT SAFE type (e.g. type1, type2) or any label the operator uses. */
  type?: string;
  batch?: string;
  tags?: readonly string[];
  /** SCP81 PSK identity (public); the PSK itself is only written, sealed (putPsk). */
  pskIdentity?: string;
}

export interface SimFilter {
  tags?: readonly string[];
  batch?: string;
  /** SIMs whose current certificate (as last audited) expires before this time (ms). */
  certExpiresBefore?: number;
  /** ICCIDs after this one (keyset pagination, in ICCID order). */
  after?: string;
  limit?: number;
}

/** What the last audit of a card found: its IoT SAFE objects and the certificate in use. */
export interface SimAudit {
  auditedAt: number;
  /** The IoT SAFE object list as read (labels, types, sizes: never key material). */
  objects: readonly unknown[];
  certificate?: { serial: string; notAfter: number };
}

export interface SimRow {
  iccid: string;
  msisdn: string | null;
  imsi: string | null;
  eid: string | null;
  sim_type: string | null;
  batch: string | null;
  psk_identity: string | null;
}

// What an upsert changes on a SIM that exists: the fields given; the others are kept.
export const SIM_UPSERT = `msisdn = COALESCE(excluded.msisdn, sims.msisdn), imsi = COALESCE(excluded.imsi, sims.imsi),
  eid = COALESCE(excluded.eid, sims.eid), sim_type = COALESCE(excluded.sim_type, sims.sim_type),
  batch = COALESCE(excluded.batch, sims.batch),
  psk_identity = COALESCE(excluded.psk_identity, sims.psk_identity), updated_at = excluded.updated_at`;

/** Checks a record's fields; a StorageError naming the first bad one. */
export function validateSim(sim: SimRecord): void {
  if (!/^\d{18,20}$/.test(sim.iccid)) throw new StorageError('an ICCID is 18 to 20 digits');
  if (sim.msisdn !== undefined && !/^\d{1,20}$/.test(sim.msisdn))
    throw new StorageError('an MSISDN is 1 to 20 digits');
  if (sim.imsi !== undefined && !/^\d{6,15}$/.test(sim.imsi))
    throw new StorageError('an IMSI is 6 to 15 digits');
  if (sim.eid !== undefined && !/^\d{32}$/.test(sim.eid)) throw new StorageError('an EID is 32 digits');
  for (const tag of sim.tags ?? [])
    if (!/^[\w.:-]{1,64}$/.test(tag))
      throw new StorageError(`tag "${tag}" is not 1 to 64 of [A-Za-z0-9_.:-]`);
  if (sim.batch !== undefined && !/^[\w.:-]{1,64}$/.test(sim.batch))
    throw new StorageError('a batch name is 1 to 64 of [A-Za-z0-9_.:-]');
}

const rowLists = new Map<string, string>();

/** `($2, …), ($n, …)` for `rows` rows of `width` parameters after the first, each row ending in `tail`. */
export function rowsOf(rows: number, width: number, tail?: string): string {
  const key = `${rows}/${width}/${tail ?? ''}`;
  const cached = rowLists.get(key);
  if (cached !== undefined) return cached;
  if (rowLists.size > 64) rowLists.clear();
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const first = (tail ? 2 : 1) + r * width;
    out.push(`(${placeholders(width, first)}${tail ? `, ${tail}` : ''})`);
  }
  const list = out.join(', ');
  rowLists.set(key, list);
  return list;
}

export function recordOf(row: SimRow): SimRecord {
  const record: SimRecord = { iccid: row.iccid };
  if (row.msisdn !== null) record.msisdn = row.msisdn;
  if (row.imsi !== null) record.imsi = row.imsi;
  if (row.eid !== null) record.eid = row.eid;
  if (row.sim_type !== null) record.type = row.sim_type;
  if (row.batch !== null) record.batch = row.batch;
  if (row.psk_identity !== null) record.pskIdentity = row.psk_identity;
  return record;
}

/** The WHERE clause (over `sims s`) and its parameters for a filter. */
export function simWhere(filter: Omit<SimFilter, 'limit'>): { where: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  for (const tag of new Set(filter.tags ?? [])) {
    params.push(tag);
    clauses.push(`EXISTS (SELECT 1 FROM sim_tags t WHERE t.iccid = s.iccid AND t.tag = $${params.length})`);
  }
  if (filter.batch !== undefined) {
    params.push(filter.batch);
    clauses.push(`s.batch = $${params.length}`);
  }
  if (filter.certExpiresBefore !== undefined) {
    params.push(filter.certExpiresBefore);
    clauses.push(
      `EXISTS (SELECT 1 FROM sim_audits a WHERE a.iccid = s.iccid AND a.cert_not_after < $${params.length})`,
    );
  }
  if (filter.after !== undefined) {
    params.push(filter.after);
    clauses.push(`s.iccid > $${params.length}`);
  }
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}
