// The rotations table: one row per rotation, written before each step goes out (the job's ledger holds
// the attempts and their counters; this row holds what the steps learnt: the generated key, the
// certificate, the decision). The decision is taken once, by one UPDATE: the cloud's proof and the
// deadline cannot both win.
import { bytesToHex, hexToBytes, seal, unseal } from '@iotsafe/protocol';
import type { SqlEngine } from '../storage/engine.js';
import { StorageError } from '../storage/engine.js';

export type RotationCredential = 'certificate' | 'psk';
export type RotationVia = 'scp80' | 'scp81';
export type RotationState =
  | 'created'
  | 'handing-over'
  | 'generating'
  | 'signing'
  | 'issuing'
  | 'writing'
  | 'awaiting-proof'
  | 'committing'
  | 'rolling-back'
  | 'retiring'
  | 'completed'
  | 'rolled-back'
  | 'failed';

export const FINAL_ROTATION_STATES: readonly RotationState[] = ['completed', 'rolled-back', 'failed'];

export interface RotationRecord {
  id: string;
  iccid: string;
  credential: RotationCredential;
  via: RotationVia;
  state: RotationState;
  /** Which of the two slots holds the credential in use before, and the new one. */
  fromSlot: number;
  toSlot: number;
  /** By when the cloud must have seen the new credential (ms since 1970). */
  deadline: number;
  oldSerial?: string;
  newSerial?: string;
  /** The generated public key, uncompressed point. */
  publicKey?: Uint8Array;
  certificate?: Uint8Array;
  oldIdentity?: string;
  newIdentity?: string;
  provenAt?: number;
  decision?: 'commit' | 'rollback';
  detail?: string;
  createdBy?: string;
  createdAt: number;
  updatedAt: number;
}

interface Raw {
  id: string;
  iccid: string;
  credential: string;
  via: string;
  state: string;
  from_slot: number;
  to_slot: number;
  deadline: number | string;
  old_serial: string | null;
  new_serial: string | null;
  public_key: string | null;
  certificate: string | null;
  old_identity: string | null;
  new_identity: string | null;
  new_psk: string | null;
  proven_at: number | string | null;
  decision: string | null;
  detail: string | null;
  created_by: string | null;
  created_at: number | string;
  updated_at: number | string;
}

const opt = <K extends string, V>(key: K, value: V | null | undefined) =>
  (value === null || value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;

function fromRaw(r: Raw): RotationRecord {
  return {
    id: r.id,
    iccid: r.iccid,
    credential: r.credential as RotationCredential,
    via: r.via as RotationVia,
    state: r.state as RotationState,
    fromSlot: Number(r.from_slot),
    toSlot: Number(r.to_slot),
    deadline: Number(r.deadline),
    ...opt('oldSerial', r.old_serial),
    ...opt('newSerial', r.new_serial),
    ...opt('publicKey', r.public_key === null ? null : hexToBytes(r.public_key)),
    ...opt('certificate', r.certificate === null ? null : hexToBytes(r.certificate)),
    ...opt('oldIdentity', r.old_identity),
    ...opt('newIdentity', r.new_identity),
    ...opt('provenAt', r.proven_at === null ? null : Number(r.proven_at)),
    ...opt('decision', r.decision as RotationRecord['decision'] | null),
    ...opt('detail', r.detail),
    ...opt('createdBy', r.created_by),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export interface NewRotation {
  id: string;
  iccid: string;
  credential: RotationCredential;
  via: RotationVia;
  fromSlot: number;
  toSlot: number;
  deadline: number;
  oldSerial?: string;
  oldIdentity?: string;
  newIdentity?: string;
  /** The new PSK: stored sealed under the storage key, erased once the rotation has ended. */
  newPsk?: Uint8Array;
  createdBy?: string;
}

const pskContext = (iccid: string, id: string) => `ota/${iccid}/rotation/${id}/psk`;

export class RotationStore {
  constructor(
    private readonly engine: SqlEngine,
    private readonly storageKey: Uint8Array,
  ) {}

  async insert(rotation: NewRotation): Promise<RotationRecord> {
    const now = Date.now();
    await this.engine.query(
      `INSERT INTO rotations (id, iccid, credential, via, state, from_slot, to_slot, deadline, old_serial,
         old_identity, new_identity, new_psk, created_by, created_at, updated_at)
       VALUES ($1, $2, $3, $4, 'created', $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)`,
      [
        rotation.id,
        rotation.iccid,
        rotation.credential,
        rotation.via,
        rotation.fromSlot,
        rotation.toSlot,
        rotation.deadline,
        rotation.oldSerial ?? null,
        rotation.oldIdentity ?? null,
        rotation.newIdentity ?? null,
        rotation.newPsk
          ? seal(this.storageKey, rotation.newPsk, pskContext(rotation.iccid, rotation.id))
          : null,
        rotation.createdBy ?? null,
        now,
      ],
    );
    return this.get(rotation.id);
  }

  async get(id: string): Promise<RotationRecord> {
    const [row] = await this.engine.query<Raw>('SELECT * FROM rotations WHERE id = $1', [id]);
    if (!row) throw new StorageError(`no rotation ${id}`, 'unknown_job');
    return fromRaw(row);
  }

  async list(options: { iccid?: string; limit?: number } = {}): Promise<RotationRecord[]> {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    const rows = options.iccid
      ? await this.engine.query<Raw>(
          `SELECT * FROM rotations WHERE iccid = $1 ORDER BY created_at DESC, id LIMIT ${limit}`,
          [options.iccid],
        )
      : await this.engine.query<Raw>(`SELECT * FROM rotations ORDER BY created_at DESC, id LIMIT ${limit}`);
    return rows.map(fromRaw);
  }

  /** The new PSK of a PSK rotation still under way. */
  async newPsk(rotation: RotationRecord): Promise<Uint8Array> {
    const [row] = await this.engine.query<{ new_psk: string | null }>(
      'SELECT new_psk FROM rotations WHERE id = $1',
      [rotation.id],
    );
    if (!row?.new_psk) throw new StorageError(`rotation ${rotation.id} holds no PSK any more`);
    return unseal(this.storageKey, row.new_psk, pskContext(rotation.iccid, rotation.id));
  }

  async update(
    id: string,
    change: Partial<{
      state: RotationState;
      publicKey: Uint8Array;
      certificate: Uint8Array;
      newSerial: string;
      detail: string;
      erasePsk: true;
    }>,
  ): Promise<void> {
    const sets: string[] = ['updated_at = $2'];
    const params: unknown[] = [id, Date.now()];
    const add = (column: string, value: unknown) => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (change.state) add('state', change.state);
    if (change.publicKey) add('public_key', bytesToHex(change.publicKey));
    if (change.certificate) add('certificate', bytesToHex(change.certificate));
    if (change.newSerial) add('new_serial', change.newSerial);
    if (change.detail !== undefined) add('detail', change.detail);
    if (change.erasePsk) sets.push('new_psk = NULL');
    await this.engine.query(`UPDATE rotations SET ${sets.join(', ')} WHERE id = $1`, params);
  }

  /** Takes the decision once; answers the decision that stands (this one or an earlier one). */
  async decide(id: string, decision: 'commit' | 'rollback'): Promise<'commit' | 'rollback'> {
    await this.engine.query(
      'UPDATE rotations SET decision = $2, updated_at = $3 WHERE id = $1 AND decision IS NULL',
      [id, decision, Date.now()],
    );
    return (await this.get(id)).decision!;
  }

  /**
   * The cloud saw the new credential (`column` new_serial or new_identity = `value`): the proof of a
   * rotation not yet decided and before its deadline. Answers the rotation it proved, if any.
   */
  async prove(column: 'new_serial' | 'new_identity', value: string): Promise<string | undefined> {
    const now = Date.now();
    const [row] = await this.engine.query<{ id: string }>(
      `SELECT id FROM rotations WHERE ${column} = $1 AND decision IS NULL AND deadline > $2
         AND state IN ('writing', 'awaiting-proof')`,
      [value, now],
    );
    if (!row) return undefined;
    await this.engine.query(
      'UPDATE rotations SET proven_at = $2, updated_at = $2 WHERE id = $1 AND proven_at IS NULL AND decision IS NULL',
      [row.id, now],
    );
    return row.id;
  }
}
