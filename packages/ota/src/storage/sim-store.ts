// SIM inventory and keys: a SIM by ICCID (TS 102 221 §13.2: up to 20 digits), its MSISDN, IMSI, EID,
// IoT SAFE type, batch and tags; its SCP80 key sets with KIc/KID sealed at rest (AES-256-GCM under
// the storage key, bound to the SIM and key set) and its SCP81 PSK sealed the same way. A key set's
// counter is taken by one durable `UPDATE … RETURNING` before a packet is built: a crash after it
// wastes a counter, never repeats one.
import { seal, unseal } from '@iotsafe/protocol';
import { type SqlEngine, type SqlExecutor, StorageError } from './engine.js';

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

export interface OtaKeySet {
  kvn: number;
  /** The KIc and KID bytes sent in packets (KVN in b8–b5, algorithm in b4–b1). */
  kicByte: number;
  kidByte: number;
  kic: Uint8Array;
  kid: Uint8Array;
  /** The key encryption key (PUT KEY over the air), where the SIM vendor gave one. */
  kik?: Uint8Array;
}

export interface SimFilter {
  tags?: readonly string[];
  batch?: string;
  /** ICCIDs after this one (keyset pagination, in ICCID order). */
  after?: string;
  limit?: number;
}

interface SimRow {
  iccid: string;
  msisdn: string | null;
  imsi: string | null;
  eid: string | null;
  sim_type: string | null;
  batch: string | null;
  psk_identity: string | null;
}

export const MAX_COUNTER = 2 ** 40 - 1;

const keySetContext = (iccid: string, kvn: number) => `ota/${iccid}/key-set/${kvn}`;
export const pskContext = (iccid: string) => `ota/${iccid}/psk`;
const kikContext = (iccid: string, kvn: number) => `ota/${iccid}/key-set/${kvn}/kik`;

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

export class SimStore {
  constructor(
    private readonly engine: SqlEngine,
    private readonly storageKey: Uint8Array,
  ) {}

  /** Adds a SIM or updates its record (fields not given are kept; tags, when given, replace). */
  async add(sim: SimRecord): Promise<void> {
    validateSim(sim);
    await this.engine.transaction((tx) => this.upsert(tx, sim, Date.now()));
  }

  /**
   * Adds or updates many SIMs with their key sets and PSKs in one transaction: all or nothing. The
   * records must have been validated (validateSim) by the caller.
   */
  async addMany(
    entries: readonly { sim: SimRecord; keySets?: readonly OtaKeySet[]; psk?: Uint8Array }[],
  ): Promise<void> {
    const now = Date.now();
    await this.engine.transaction(async (tx) => {
      for (const { sim, keySets, psk } of entries) {
        await this.upsert(tx, sim, now);
        for (const set of keySets ?? []) await this.writeKeySet(tx, sim.iccid, set);
        if (psk) await this.writePsk(tx, sim.iccid, psk);
      }
    });
  }

  private async upsert(tx: SqlExecutor, sim: SimRecord, now: number): Promise<void> {
    await tx.query(
      `INSERT INTO sims (iccid, msisdn, imsi, eid, sim_type, batch, psk_identity, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
       ON CONFLICT (iccid) DO UPDATE SET
         msisdn = COALESCE(excluded.msisdn, sims.msisdn), imsi = COALESCE(excluded.imsi, sims.imsi),
         eid = COALESCE(excluded.eid, sims.eid), sim_type = COALESCE(excluded.sim_type, sims.sim_type),
         batch = COALESCE(excluded.batch, sims.batch),
         psk_identity = COALESCE(excluded.psk_identity, sims.psk_identity), updated_at = excluded.updated_at`,
      [sim.iccid, sim.msisdn, sim.imsi, sim.eid, sim.type, sim.batch, sim.pskIdentity, now],
    );
    if (sim.tags) {
      await tx.query('DELETE FROM sim_tags WHERE iccid = $1', [sim.iccid]);
      const tags = [...new Set(sim.tags)];
      if (tags.length)
        await tx.query(
          `INSERT INTO sim_tags (iccid, tag) VALUES ${tags.map((_, i) => `($1, $${i + 2})`).join(', ')}`,
          [sim.iccid, ...tags],
        );
    }
  }

  /** The SIM a request names, by ICCID or MSISDN (a leading + ignored); a StorageError when none. */
  async get(iccidOrMsisdn: string): Promise<SimRecord> {
    const id = iccidOrMsisdn.replace(/^\+/, '');
    const [row] = await this.engine.query<SimRow>('SELECT * FROM sims WHERE iccid = $1 OR msisdn = $1', [id]);
    if (!row) throw new StorageError(`no SIM ${iccidOrMsisdn}`, 'unknown_sim');
    return { ...recordOf(row), tags: await this.tagsOf(row.iccid) };
  }

  private async tagsOf(iccid: string): Promise<string[]> {
    const rows = await this.engine.query<{ tag: string }>(
      'SELECT tag FROM sim_tags WHERE iccid = $1 ORDER BY tag',
      [iccid],
    );
    return rows.map((r) => r.tag);
  }

  /** SIMs matching every tag given and the batch, in ICCID order. */
  async list(filter: SimFilter = {}): Promise<SimRecord[]> {
    const { where, params } = simWhere(filter);
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 100_000);
    const rows = await this.engine.query<SimRow>(
      `SELECT s.* FROM sims s ${where} ORDER BY s.iccid LIMIT ${limit}`,
      params,
    );
    const records: SimRecord[] = [];
    for (const row of rows) records.push({ ...recordOf(row), tags: await this.tagsOf(row.iccid) });
    return records;
  }

  /** The ICCIDs matching a filter (all of them: for a campaign's selection). */
  async select(filter: Omit<SimFilter, 'limit'>): Promise<string[]> {
    const { where, params } = simWhere(filter);
    const rows = await this.engine.query<{ iccid: string }>(
      `SELECT s.iccid FROM sims s ${where} ORDER BY s.iccid`,
      params,
    );
    return rows.map((r) => r.iccid);
  }

  async count(filter: Omit<SimFilter, 'limit' | 'after'> = {}): Promise<number> {
    const { where, params } = simWhere(filter);
    const [row] = await this.engine.query<{ n: number }>(`SELECT COUNT(*) AS n FROM sims s ${where}`, params);
    return Number(row?.n ?? 0);
  }

  /** Adds or replaces a key set; the counter of a replaced set is kept (it must never go back). */
  async putKeySet(iccid: string, set: OtaKeySet): Promise<void> {
    await this.get(iccid);
    await this.engine.transaction((tx) => this.writeKeySet(tx, iccid, set));
  }

  private async writeKeySet(tx: SqlExecutor, iccid: string, set: OtaKeySet): Promise<void> {
    if (!Number.isInteger(set.kvn) || set.kvn < 1 || set.kvn > 15) throw new StorageError('a KVN is 1 to 15');
    const keys = seal(
      this.storageKey,
      Uint8Array.from([...set.kic, ...set.kid, set.kic.length]),
      keySetContext(iccid, set.kvn),
    );
    const kik = set.kik ? seal(this.storageKey, set.kik, kikContext(iccid, set.kvn)) : null;
    await tx.query(
      `INSERT INTO key_sets (iccid, kvn, kic_byte, kid_byte, keys, kik) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (iccid, kvn) DO UPDATE SET kic_byte = excluded.kic_byte, kid_byte = excluded.kid_byte,
         keys = excluded.keys, kik = COALESCE(excluded.kik, key_sets.kik)`,
      [iccid, set.kvn, set.kicByte, set.kidByte, keys, kik],
    );
  }

  async keySet(iccid: string, kvn: number): Promise<OtaKeySet> {
    const [row] = await this.engine.query<{
      kic_byte: number;
      kid_byte: number;
      keys: string;
      kik: string | null;
    }>('SELECT kic_byte, kid_byte, keys, kik FROM key_sets WHERE iccid = $1 AND kvn = $2', [iccid, kvn]);
    if (!row) throw new StorageError(`SIM ${iccid} has no key set ${kvn}`, 'unknown_key_set');
    const packed = unseal(this.storageKey, row.keys, keySetContext(iccid, kvn));
    const kicLength = packed[packed.length - 1]!;
    return {
      kvn,
      kicByte: row.kic_byte,
      kidByte: row.kid_byte,
      kic: packed.slice(0, kicLength),
      kid: packed.slice(kicLength, packed.length - 1),
      ...(row.kik ? { kik: unseal(this.storageKey, row.kik, kikContext(iccid, kvn)) } : {}),
    };
  }

  /** Takes the next counter of a key set inside a transaction (committed with it, before use). */
  async takeCounter(tx: SqlExecutor, iccid: string, kvn: number): Promise<bigint> {
    const [row] = await tx.query<{ counter: number }>(
      'UPDATE key_sets SET counter = counter + 1 WHERE iccid = $1 AND kvn = $2 AND counter < $3 RETURNING counter',
      [iccid, kvn, MAX_COUNTER],
    );
    if (row) return BigInt(row.counter);
    const [exists] = await tx.query('SELECT 1 AS one FROM key_sets WHERE iccid = $1 AND kvn = $2', [
      iccid,
      kvn,
    ]);
    if (!exists) throw new StorageError(`SIM ${iccid} has no key set ${kvn}`, 'unknown_key_set');
    throw new StorageError(`no counter left for SIM ${iccid} key set ${kvn}`, 'counter_exhausted');
  }

  /** Takes the next counter of a key set: incremented and committed before it is returned. */
  nextCounter(iccid: string, kvn: number): Promise<bigint> {
    return this.engine.transaction((tx) => this.takeCounter(tx, iccid, kvn));
  }

  /** The last counter handed out (0 when none was). */
  async counter(iccid: string, kvn: number): Promise<bigint> {
    const [row] = await this.engine.query<{ counter: number }>(
      'SELECT counter FROM key_sets WHERE iccid = $1 AND kvn = $2',
      [iccid, kvn],
    );
    if (!row) throw new StorageError(`SIM ${iccid} has no key set ${kvn}`, 'unknown_key_set');
    return BigInt(row.counter);
  }

  /** Stores the SIM's SCP81 PSK, sealed. */
  async putPsk(iccid: string, psk: Uint8Array): Promise<void> {
    await this.get(iccid);
    await this.engine.transaction((tx) => this.writePsk(tx, iccid, psk));
  }

  private async writePsk(tx: SqlExecutor, iccid: string, psk: Uint8Array): Promise<void> {
    await tx.query('UPDATE sims SET psk = $2 WHERE iccid = $1', [
      iccid,
      seal(this.storageKey, psk, pskContext(iccid)),
    ]);
  }

  /** The SIM's SCP81 PSK (for the admin server's handshake), or undefined when it has none. */
  async psk(iccid: string): Promise<Uint8Array | undefined> {
    const [row] = await this.engine.query<{ psk: string | null }>('SELECT psk FROM sims WHERE iccid = $1', [
      iccid,
    ]);
    if (!row) throw new StorageError(`no SIM ${iccid}`, 'unknown_sim');
    return row.psk ? unseal(this.storageKey, row.psk, pskContext(iccid)) : undefined;
  }
}

function recordOf(row: SimRow): SimRecord {
  const record: SimRecord = { iccid: row.iccid };
  if (row.msisdn !== null) record.msisdn = row.msisdn;
  if (row.imsi !== null) record.imsi = row.imsi;
  if (row.eid !== null) record.eid = row.eid;
  if (row.sim_type !== null) record.type = row.sim_type;
  if (row.batch !== null) record.batch = row.batch;
  if (row.psk_identity !== null) record.pskIdentity = row.psk_identity;
  return record;
}

function simWhere(filter: Omit<SimFilter, 'limit'>): { where: string; params: unknown[] } {
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
  if (filter.after !== undefined) {
    params.push(filter.after);
    clauses.push(`s.iccid > $${params.length}`);
  }
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}
