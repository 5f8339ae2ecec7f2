// SIM inventory: the records (sim-records.ts) and, through SimKeys (sim-keys.ts), each SIM's sealed
// SCP80 key sets, counters and SCP81 PSK; bulk writes of a vendor's batch in one transaction; card
// audits.
import { placeholders, type SqlExecutor, StorageError } from './engine.js';
import { checkKvn, KEY_SET_UPSERT, type OtaKeySet, SimKeys } from './sim-keys.js';
import {
  recordOf,
  rowsOf,
  SIM_UPSERT,
  type SimAudit,
  type SimFilter,
  type SimRecord,
  type SimRow,
  simWhere,
  validateSim,
} from './sim-records.js';

export {
  type KeySetSummary,
  MAX_COUNTER,
  type OtaKeySet,
  pskContext,
  type Sender,
} from './sim-keys.js';
export { type SimAudit, type SimFilter, type SimRecord, validateSim } from './sim-records.js';

/** SIMs written per statement by addMany (9 parameters each: well under either engine's limit). */
const WRITE_CHUNK = 250;

export class SimStore extends SimKeys {
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
        psk ? this.sealPsk(sim.iccid, psk) : undefined,
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
}
