// The secrets of each SIM in the inventory: its SCP80 key sets, KIc/KID sealed at rest (AES-256-GCM
// under the storage key, bound to the SIM and key set), the KIK apart, and its SCP81 PSK sealed the
// same way. A key set's counter is taken by one durable `UPDATE … RETURNING` before a packet is built:
// a crash after it wastes a counter, never repeats one (TS 102 225 §5.1.1: a counter is never reused).
import { seal, unseal } from '@iotsafe/protocol';
import { placeholders, type SqlEngine, type SqlExecutor, StorageError } from './engine.js';

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

/** A key set as the inventory shows it: no key, only what it is and how far its counter went. */
export interface KeySetSummary {
  kvn: number;
  kicByte: number;
  kidByte: number;
  counter: bigint;
  hasKik: boolean;
}

/** What sending to a SIM takes: its number and one of its key sets (each when it has them). */
export interface Sender {
  iccid: string;
  msisdn?: string;
  keySet?: OtaKeySet;
}

export const MAX_COUNTER = 2 ** 40 - 1;

/** Names looked up per statement by senders() (well under either engine's parameter limit). */
const LOOKUP_CHUNK = 400;

// A key set replaced keeps its counter (it must never go back), and its KIK unless a new one is given.
export const KEY_SET_UPSERT = `kic_byte = excluded.kic_byte, kid_byte = excluded.kid_byte, keys = excluded.keys,
  kik = COALESCE(excluded.kik, key_sets.kik)`;

const keySetContext = (iccid: string, kvn: number) => `ota/${iccid}/key-set/${kvn}`;
export const pskContext = (iccid: string) => `ota/${iccid}/psk`;
const kikContext = (iccid: string, kvn: number) => `ota/${iccid}/key-set/${kvn}/kik`;

export function checkKvn(kvn: number): void {
  if (!Number.isInteger(kvn) || kvn < 1 || kvn > 15) throw new StorageError('a KVN is 1 to 15');
}

interface KeySetRow {
  kic_byte: number;
  kid_byte: number;
  keys: string;
  kik: string | null;
}

export class SimKeys {
  constructor(
    protected readonly engine: SqlEngine,
    private readonly storageKey: Uint8Array,
  ) {}

  /** Adds or replaces a key set; the counter of a replaced set is kept (it must never go back). */
  async putKeySet(iccid: string, set: OtaKeySet): Promise<void> {
    await this.mustExist(iccid);
    await this.engine.transaction(async (tx) => {
      checkKvn(set.kvn);
      await tx.query(
        `INSERT INTO key_sets (iccid, kvn, kic_byte, kid_byte, keys, kik) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (iccid, kvn) DO UPDATE SET ${KEY_SET_UPSERT}`,
        this.keySetRow(iccid, set),
      );
    });
  }

  private async mustExist(iccid: string): Promise<void> {
    const [row] = await this.engine.query('SELECT 1 AS one FROM sims WHERE iccid = $1', [iccid]);
    if (!row) throw new StorageError(`no SIM ${iccid}`, 'unknown_sim');
  }

  /** A key set's row: KIc and KID sealed together, the KIK apart (iccid, kvn, bytes, keys, kik). */
  protected keySetRow(iccid: string, set: OtaKeySet): unknown[] {
    const keys = seal(
      this.storageKey,
      Uint8Array.from([...set.kic, ...set.kid, set.kic.length]),
      keySetContext(iccid, set.kvn),
    );
    const kik = set.kik ? seal(this.storageKey, set.kik, kikContext(iccid, set.kvn)) : null;
    return [iccid, set.kvn, set.kicByte, set.kidByte, keys, kik];
  }

  protected sealPsk(iccid: string, psk: Uint8Array): string {
    return seal(this.storageKey, psk, pskContext(iccid));
  }

  private openKeySet(iccid: string, kvn: number, row: KeySetRow): OtaKeySet {
    const packed = unseal(this.storageKey, row.keys, keySetContext(iccid, kvn));
    const kicLength = packed[packed.length - 1]!;
    return {
      kvn,
      kicByte: Number(row.kic_byte),
      kidByte: Number(row.kid_byte),
      kic: packed.slice(0, kicLength),
      kid: packed.slice(kicLength, packed.length - 1),
      ...(row.kik ? { kik: unseal(this.storageKey, row.kik, kikContext(iccid, kvn)) } : {}),
    };
  }

  async keySet(iccid: string, kvn: number): Promise<OtaKeySet> {
    const [row] = await this.engine.query<KeySetRow>(
      'SELECT kic_byte, kid_byte, keys, kik FROM key_sets WHERE iccid = $1 AND kvn = $2',
      [iccid, kvn],
    );
    if (!row) throw new StorageError(`SIM ${iccid} has no key set ${kvn}`, 'unknown_key_set');
    return this.openKeySet(iccid, kvn, row);
  }

  /** A SIM's number and key set `kvn`, read together (one statement per attempt of a job). */
  async sender(iccid: string, kvn: number): Promise<Sender> {
    const [row] = await this.engine.query<KeySetRow & { msisdn: string | null; kvn: number | null }>(
      `SELECT s.msisdn, k.kvn, k.kic_byte, k.kid_byte, k.keys, k.kik FROM sims s
       LEFT JOIN key_sets k ON k.iccid = s.iccid AND k.kvn = $2 WHERE s.iccid = $1`,
      [iccid, kvn],
    );
    if (!row) throw new StorageError(`no SIM ${iccid}`, 'unknown_sim');
    return {
      iccid,
      ...(row.msisdn === null ? {} : { msisdn: row.msisdn }),
      ...(row.kvn === null ? {} : { keySet: this.openKeySet(iccid, kvn, row) }),
    };
  }

  /**
   * The SIMs named (ICCID or MSISDN, a leading + ignored), in the order given, each with its key sets
   * among `kvns`: a few statements for a whole job's selection instead of two per SIM. A name that
   * matches no SIM gives undefined; a missing key set is left out of `keySets`.
   */
  async senders(
    names: readonly string[],
    kvns: readonly number[],
  ): Promise<({ iccid: string; msisdn?: string; keySets: Map<number, OtaKeySet> } | undefined)[]> {
    const ids = names.map((name) => name.replace(/^\+/, ''));
    const rows: { iccid: string; msisdn: string | null }[] = [];
    for (let at = 0; at < ids.length; at += LOOKUP_CHUNK) {
      const chunk = [...new Set(ids.slice(at, at + LOOKUP_CHUNK))];
      rows.push(
        ...(await this.engine.query<{ iccid: string; msisdn: string | null }>(
          `SELECT iccid, msisdn FROM sims WHERE iccid IN (${placeholders(chunk.length)})
           OR msisdn IN (${placeholders(chunk.length)})`,
          chunk,
        )),
      );
    }
    const sims = new Map(rows.map((row) => [row.iccid, row])); // a name that is an ICCID names that SIM
    for (const row of rows) if (row.msisdn !== null && !sims.has(row.msisdn)) sims.set(row.msisdn, row);
    const found = ids.map((id) => sims.get(id));
    const wanted = [...new Set(kvns)];
    const sets = new Map<string, OtaKeySet>();
    const iccids = [...new Set(found.flatMap((sim) => (sim ? [sim.iccid] : [])))];
    for (let at = 0; at < iccids.length && wanted.length; at += LOOKUP_CHUNK) {
      const chunk = iccids.slice(at, at + LOOKUP_CHUNK);
      const rows = await this.engine.query<KeySetRow & { iccid: string; kvn: number }>(
        `SELECT iccid, kvn, kic_byte, kid_byte, keys, kik FROM key_sets
         WHERE iccid IN (${placeholders(chunk.length)}) AND kvn IN (${placeholders(wanted.length, chunk.length + 1)})`,
        [...chunk, ...wanted],
      );
      for (const row of rows)
        sets.set(`${row.iccid}/${row.kvn}`, this.openKeySet(row.iccid, Number(row.kvn), row));
    }
    return found.map((sim) => {
      if (!sim) return undefined;
      const keySets = new Map<number, OtaKeySet>();
      for (const kvn of wanted) {
        const set = sets.get(`${sim.iccid}/${kvn}`);
        if (set) keySets.set(kvn, set);
      }
      return { iccid: sim.iccid, ...(sim.msisdn === null ? {} : { msisdn: sim.msisdn }), keySets };
    });
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
    await this.mustExist(iccid);
    await this.engine.query('UPDATE sims SET psk = $2 WHERE iccid = $1', [iccid, this.sealPsk(iccid, psk)]);
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
