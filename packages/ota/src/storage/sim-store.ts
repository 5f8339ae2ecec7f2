// SIM inventory and keys: a SIM by ICCID (TS 102 221 §13.2: up to 20 digits), its MSISDN, IMSI, EID,
// IoT SAFE type, batch and tags; its SCP80 key sets with KIc/KID sealed at rest (AES-256-GCM under
// the storage key, bound to the SIM and key set) and its SCP81 PSK sealed the same way. A key set's
// counter is taken by one durable `UPDATE … RETURNING` before a packet is built: a crash after it
// wastes a counter, never repeats one.
import { seal, unseal } from '@iotsafe/protocol';
import { placeholders, type SqlEngine, type SqlExecutor, StorageError } from './engine.js';

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

/** A key set as the inventory shows it: no key, only what it is and how far its counter went. */
export interface KeySetSummary {
  kvn: number;
  kicByte: number;
  kidByte: number;
  counter: bigint;
  hasKik: boolean;
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

/** SIMs written per statement by addMany (9 parameters each: well under either engine's limit). */
const WRITE_CHUNK = 250;

// What an upsert changes on a SIM that exists: the fields given; the others are kept.
const SIM_UPSERT = `msisdn = COALESCE(excluded.msisdn, sims.msisdn), imsi = COALESCE(excluded.imsi, sims.imsi),
  eid = COALESCE(excluded.eid, sims.eid), sim_type = COALESCE(excluded.sim_type, sims.sim_type),
  batch = COALESCE(excluded.batch, sims.batch),
  psk_identity = COALESCE(excluded.psk_identity, sims.psk_identity), updated_at = excluded.updated_at`;
// A key set replaced keeps its counter (it must never go back), and its KIK unless a new one is given.
const KEY_SET_UPSERT = `kic_byte = excluded.kic_byte, kid_byte = excluded.kid_byte, keys = excluded.keys,
  kik = COALESCE(excluded.kik, key_sets.kik)`;

function checkKvn(kvn: number): void {
  if (!Number.isInteger(kvn) || kvn < 1 || kvn > 15) throw new StorageError('a KVN is 1 to 15');
}

const rowLists = new Map<string, string>();

/** `($2, …), ($n, …)` for `rows` rows of `width` parameters after the first, each row ending in `tail`. */
function rowsOf(rows: number, width: number, tail?: string): string {
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
   * records must have been validated (validateSim) by the caller. Written a chunk of rows per
   * statement (a SIM named twice lands in a later chunk, so the last one given wins as it would one
   * by one); each key sealed once, with AES-256-GCM only.
   */
  async addMany(
    entries: readonly { sim: SimRecord; keySets?: readonly OtaKeySet[]; psk?: Uint8Array }[],
  ): Promise<void> {
    const now = Date.now();
    for (const { keySets } of entries) for (const set of keySets ?? []) checkKvn(set.kvn);
    const chunks: (typeof entries)[number][][] = [];
    let chunk: (typeof entries)[number][] = [];
    let inChunk = new Set<string>();
    for (const entry of entries) {
      if (chunk.length === WRITE_CHUNK || inChunk.has(entry.sim.iccid)) {
        chunks.push(chunk);
        chunk = [];
        inChunk = new Set();
      }
      chunk.push(entry);
      inChunk.add(entry.sim.iccid);
    }
    if (chunk.length) chunks.push(chunk);
    await this.engine.transaction(async (tx) => {
      for (const rows of chunks) await this.writeChunk(tx, rows, now);
    });
  }

  private async writeChunk(
    tx: SqlExecutor,
    entries: readonly { sim: SimRecord; keySets?: readonly OtaKeySet[]; psk?: Uint8Array }[],
    now: number,
  ): Promise<void> {
    const sims: unknown[] = [];
    for (const { sim, psk } of entries)
      sims.push(
        sim.iccid,
        sim.msisdn,
        sim.imsi,
        sim.eid,
        sim.type,
        sim.batch,
        sim.pskIdentity,
        psk ? seal(this.storageKey, psk, pskContext(sim.iccid)) : undefined,
      );
    await tx.query(
      `INSERT INTO sims (iccid, msisdn, imsi, eid, sim_type, batch, psk_identity, psk, created_at, updated_at)
       VALUES ${rowsOf(entries.length, 8, '$1, $1')}
       ON CONFLICT (iccid) DO UPDATE SET ${SIM_UPSERT}, psk = COALESCE(excluded.psk, sims.psk)`,
      [now, ...sims],
    );
    const tagged = entries.filter((e) => e.sim.tags);
    if (tagged.length) {
      const iccids = tagged.map((e) => e.sim.iccid);
      await tx.query(`DELETE FROM sim_tags WHERE iccid IN (${placeholders(iccids.length)})`, iccids);
      const pairs = tagged.flatMap((e) => [...new Set(e.sim.tags)].flatMap((tag) => [e.sim.iccid, tag]));
      if (pairs.length)
        await tx.query(`INSERT INTO sim_tags (iccid, tag) VALUES ${rowsOf(pairs.length / 2, 2)}`, pairs);
    }
    const sets = new Map<string, unknown[]>();
    for (const { sim, keySets } of entries)
      for (const set of keySets ?? []) sets.set(`${sim.iccid}/${set.kvn}`, this.keySetRow(sim.iccid, set));
    if (sets.size)
      await tx.query(
        `INSERT INTO key_sets (iccid, kvn, kic_byte, kid_byte, keys, kik) VALUES ${rowsOf(sets.size, 6)}
         ON CONFLICT (iccid, kvn) DO UPDATE SET ${KEY_SET_UPSERT}`,
        [...sets.values()].flat(),
      );
  }

  private async upsert(tx: SqlExecutor, sim: SimRecord, now: number): Promise<void> {
    await tx.query(
      `INSERT INTO sims (iccid, msisdn, imsi, eid, sim_type, batch, psk_identity, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
       ON CONFLICT (iccid) DO UPDATE SET ${SIM_UPSERT}`,
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
  async get(iccidOrMsisdn: string, options: { tags?: boolean } = {}): Promise<SimRecord> {
    const id = iccidOrMsisdn.replace(/^\+/, '');
    const [row] = await this.engine.query<SimRow>('SELECT * FROM sims WHERE iccid = $1 OR msisdn = $1', [id]);
    if (!row) throw new StorageError(`no SIM ${iccidOrMsisdn}`, 'unknown_sim');
    if (options.tags === false) return recordOf(row); // a sender needs the number, not the tags
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
    checkKvn(set.kvn);
    await tx.query(
      `INSERT INTO key_sets (iccid, kvn, kic_byte, kid_byte, keys, kik) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (iccid, kvn) DO UPDATE SET ${KEY_SET_UPSERT}`,
      this.keySetRow(iccid, set),
    );
  }

  /** A key set's row: KIc and KID sealed together, the KIK apart (iccid, kvn, bytes, keys, kik). */
  private keySetRow(iccid: string, set: OtaKeySet): unknown[] {
    const keys = seal(
      this.storageKey,
      Uint8Array.from([...set.kic, ...set.kid, set.kic.length]),
      keySetContext(iccid, set.kvn),
    );
    const kik = set.kik ? seal(this.storageKey, set.kik, kikContext(iccid, set.kvn)) : null;
    return [iccid, set.kvn, set.kicByte, set.kidByte, keys, kik];
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

  /** Records what an audit of the card found (replacing the previous audit). */
  async recordAudit(iccid: string, audit: SimAudit): Promise<void> {
    await this.get(iccid);
    await this.engine.query(
      `INSERT INTO sim_audits (iccid, audited_at, objects, cert_serial, cert_not_after) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (iccid) DO UPDATE SET audited_at = excluded.audited_at, objects = excluded.objects,
         cert_serial = excluded.cert_serial, cert_not_after = excluded.cert_not_after`,
      [
        iccid,
        audit.auditedAt,
        JSON.stringify(audit.objects),
        audit.certificate?.serial,
        audit.certificate?.notAfter,
      ],
    );
  }

  /** The card's last audit, or undefined when it was never audited. */
  async audit(iccid: string): Promise<SimAudit | undefined> {
    const [row] = await this.engine.query<{
      audited_at: number;
      objects: string;
      cert_serial: string | null;
      cert_not_after: number | null;
    }>('SELECT audited_at, objects, cert_serial, cert_not_after FROM sim_audits WHERE iccid = $1', [iccid]);
    if (!row) return undefined;
    return {
      auditedAt: Number(row.audited_at),
      objects: JSON.parse(row.objects) as unknown[],
      ...(row.cert_serial !== null && row.cert_not_after !== null
        ? { certificate: { serial: row.cert_serial, notAfter: Number(row.cert_not_after) } }
        : {}),
    };
  }

  /** The SIM's key sets without their keys. */
  async keySets(iccid: string): Promise<KeySetSummary[]> {
    const rows = await this.engine.query<{
      kvn: number;
      kic_byte: number;
      kid_byte: number;
      counter: number;
      kik: string | null;
    }>('SELECT kvn, kic_byte, kid_byte, counter, kik FROM key_sets WHERE iccid = $1 ORDER BY kvn', [iccid]);
    return rows.map((r) => ({
      kvn: Number(r.kvn),
      kicByte: Number(r.kic_byte),
      kidByte: Number(r.kid_byte),
      counter: BigInt(r.counter),
      hasKik: r.kik !== null,
    }));
  }

  /** Whether the SIM has an SCP81 PSK (the PSK itself stays sealed). */
  async hasPsk(iccid: string): Promise<boolean> {
    const [row] = await this.engine.query<{ psk: string | null }>('SELECT psk FROM sims WHERE iccid = $1', [
      iccid,
    ]);
    return Boolean(row?.psk);
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
