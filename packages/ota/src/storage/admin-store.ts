// The SCP81 admin server's half of the store (GP Amd B §3.4–3.5): each SIM's queue of scripts, run in
// order over its admin sessions. A script is 'queued', then 'sent' when a response carried it, then
// 'done' once the card's result for it is recorded — before the next script goes out, so a broken
// session loses no result — or 'unconfirmed' when a fresh session (not a resume) came while it was
// out: the card may have run it, so it is never sent again. Sessions are kept for the per-SIM ledger.
import { bytesToHex, hexToBytes, unseal } from '@iotsafe/protocol';
import { type SqlEngine, type SqlExecutor, StorageError } from './engine.js';
import { pskContext } from './sim-store.js';

export type AdminScriptState = 'queued' | 'sent' | 'done' | 'unconfirmed' | 'cancelled';

export interface AdminScript {
  id: number;
  iccid: string;
  /** The security domain the script is for (X-Admin-Targeted-Application); absent: the ISD. */
  target?: Uint8Array;
  /** The command scripting template (expanded format, AA or AE). */
  script: Uint8Array;
  state: AdminScriptState;
  /** X-Admin-Script-Status of the card's result. */
  status?: string;
  /** The response scripting template (AB or AF) the card posted. */
  result?: Uint8Array;
  sentCount: number;
  createdAt: number;
  finishedAt?: number;
}

export interface AdminSession {
  id: number;
  iccid: string;
  startedAt: number;
  endedAt?: number;
  protocol?: string;
  cipher?: string;
  resumed: boolean;
  posts: number;
  outcome?: string;
  detail?: string;
}

/** A SIM's PSK-TLS credentials as the handshake needs them: the key still sealed until it is used. */
export interface SealedPsk {
  iccid: string;
  identity: string;
  sealed: string;
}

interface ScriptRow {
  id: number | string;
  iccid: string;
  target: string | null;
  script: string;
  state: AdminScriptState;
  status: string | null;
  result: string | null;
  sent_count: number;
  created_at: number | string;
  finished_at: number | string | null;
}

const scriptOf = (row: ScriptRow): AdminScript => ({
  id: Number(row.id),
  iccid: row.iccid,
  ...(row.target ? { target: hexToBytes(row.target) } : {}),
  script: hexToBytes(row.script),
  state: row.state,
  ...(row.status === null ? {} : { status: row.status }),
  ...(row.result === null ? {} : { result: hexToBytes(row.result) }),
  sentCount: Number(row.sent_count),
  createdAt: Number(row.created_at),
  ...(row.finished_at === null ? {} : { finishedAt: Number(row.finished_at) }),
});

export type ResultRecorded = 'recorded' | 'duplicate' | 'unknown';

export class AdminStore {
  constructor(
    private readonly engine: SqlEngine,
    private readonly storageKey: Uint8Array,
  ) {}

  /** Queues a script for a SIM (after the ones already queued); its id. */
  async push(
    iccid: string,
    entry: { script: Uint8Array; target?: Uint8Array; createdBy?: string },
  ): Promise<number> {
    if (entry.script.length === 0) throw new StorageError('an empty script');
    const [sim] = await this.engine.query('SELECT iccid FROM sims WHERE iccid = $1', [iccid]);
    if (!sim) throw new StorageError(`no SIM ${iccid}`, 'unknown_sim');
    return this.engine.transaction(async (tx) => {
      const rows = await tx.query<{ id: number | string }>(
        `INSERT INTO admin_scripts (iccid, target, script, state, created_by, created_at)
         VALUES ($1, $2, $3, 'queued', $4, $5) RETURNING id`,
        [
          iccid,
          entry.target ? bytesToHex(entry.target) : null,
          bytesToHex(entry.script),
          entry.createdBy ?? null,
          Date.now(),
        ],
      );
      return Number(rows[0]!.id);
    });
  }

  /** A SIM's scripts, oldest first (all states: the per-SIM history). */
  async scripts(iccid: string): Promise<AdminScript[]> {
    const rows = await this.engine.query<ScriptRow>(
      'SELECT * FROM admin_scripts WHERE iccid = $1 ORDER BY id',
      [iccid],
    );
    return rows.map(scriptOf);
  }

  async script(id: number): Promise<AdminScript | undefined> {
    const [row] = await this.engine.query<ScriptRow>('SELECT * FROM admin_scripts WHERE id = $1', [id]);
    return row && scriptOf(row);
  }

  /** The script a session sends next: the oldest not yet answered. */
  async next(iccid: string): Promise<AdminScript | undefined> {
    const [row] = await this.engine.query<ScriptRow>(
      `SELECT * FROM admin_scripts WHERE iccid = $1 AND state IN ('queued', 'sent') ORDER BY id LIMIT 1`,
      [iccid],
    );
    return row && scriptOf(row);
  }

  /**
   * Written before the response carrying the script leaves; false when `sessionId` is no longer the
   * SIM's newest session (another server took a newer one: the script waits for that one, so two live
   * sessions of one SIM never both send it). A session that opens later abandons what this one sent.
   */
  async markSent(id: number, sessionId: number): Promise<boolean> {
    return this.engine.transaction(async (tx) => {
      await this.lockSim(tx, id);
      const rows = await tx.query(
        `UPDATE admin_scripts SET state = 'sent', sent_count = sent_count + 1, session_id = $2, sent_at = $3
         WHERE id = $1 AND state IN ('queued', 'sent')
           AND $2 = (SELECT MAX(s.id) FROM admin_sessions s WHERE s.iccid = admin_scripts.iccid)
         RETURNING id`,
        [id, sessionId, Date.now()],
      );
      return rows.length === 1;
    });
  }

  /**
   * PostgreSQL: the SIM's row locked, so a session's opening and a script's claim by an older session
   * are ordered (READ COMMITTED would otherwise let the claim miss a session committed meanwhile).
   * SQLite's BEGIN IMMEDIATE already serializes writers. `script`: a script id (or the ICCID itself).
   */
  private async lockSim(tx: SqlExecutor, script: number | string): Promise<void> {
    if (this.engine.dialect !== 'postgres') return;
    await tx.query(
      typeof script === 'string'
        ? 'SELECT iccid FROM sims WHERE iccid = $1 FOR UPDATE'
        : 'SELECT iccid FROM sims WHERE iccid = (SELECT iccid FROM admin_scripts WHERE id = $1) FOR UPDATE',
      [script],
    );
  }

  /**
   * The card's result for script `id`: recorded once; the same result again (a resumed or duplicated
   * POST) is a 'duplicate' and changes nothing; a script that is not this SIM's, or was never sent, is
   * 'unknown'.
   */
  async recordResult(
    iccid: string,
    id: number,
    result: { status: string | undefined; body: Uint8Array },
  ): Promise<ResultRecorded> {
    return this.engine.transaction(async (tx) => {
      const [row] = await tx.query<{ state: AdminScriptState }>(
        'SELECT state FROM admin_scripts WHERE id = $1 AND iccid = $2',
        [id, iccid],
      );
      if (!row || row.state === 'queued' || row.state === 'cancelled') return 'unknown';
      if (row.state !== 'sent') return 'duplicate';
      await tx.query(
        `UPDATE admin_scripts SET state = 'done', status = $2, result = $3, finished_at = $4 WHERE id = $1`,
        [id, result.status ?? null, bytesToHex(result.body), Date.now()],
      );
      return 'recorded';
    });
  }

  /** A fresh session while a script was out: its fate is unknown, so it is never sent again. */
  abandonSent(iccid: string): Promise<number> {
    return this.move(iccid, 'sent', 'unconfirmed');
  }

  /** Drops a SIM's scripts not yet sent. */
  cancel(iccid: string): Promise<number> {
    return this.move(iccid, 'queued', 'cancelled');
  }

  private move(iccid: string, from: AdminScriptState, to: AdminScriptState): Promise<number> {
    return this.engine.transaction(async (tx) => {
      const rows = await tx.query(
        `UPDATE admin_scripts SET state = $3, finished_at = $4 WHERE iccid = $1 AND state = $2 RETURNING id`,
        [iccid, from, to, Date.now()],
      );
      return rows.length;
    });
  }

  async openSession(
    iccid: string,
    details: { protocol?: string; cipher?: string; resumed?: boolean } = {},
  ): Promise<number> {
    return this.engine.transaction(async (tx) => {
      await this.lockSim(tx, iccid);
      const rows = await tx.query<{ id: number | string }>(
        `INSERT INTO admin_sessions (iccid, started_at, protocol, cipher, resumed) VALUES ($1, $2, $3, $4, $5)
         RETURNING id`,
        [iccid, Date.now(), details.protocol ?? null, details.cipher ?? null, details.resumed ? 1 : 0],
      );
      return Number(rows[0]!.id);
    });
  }

  async endSession(id: number, end: { outcome: string; detail?: string; posts: number; resumed?: boolean }) {
    await this.engine.transaction((tx) =>
      tx.query(
        `UPDATE admin_sessions SET ended_at = $2, outcome = $3, detail = $4, posts = $5,
           resumed = CASE WHEN $6 = 1 THEN 1 ELSE resumed END WHERE id = $1`,
        [id, Date.now(), end.outcome, end.detail ?? null, end.posts, end.resumed ? 1 : 0],
      ),
    );
  }

  async sessions(iccid: string): Promise<AdminSession[]> {
    const rows = await this.engine.query<Record<string, unknown>>(
      'SELECT * FROM admin_sessions WHERE iccid = $1 ORDER BY id',
      [iccid],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      iccid: String(r.iccid),
      startedAt: Number(r.started_at),
      ...(r.ended_at === null ? {} : { endedAt: Number(r.ended_at) }),
      ...(r.protocol === null ? {} : { protocol: String(r.protocol) }),
      ...(r.cipher === null ? {} : { cipher: String(r.cipher) }),
      resumed: Number(r.resumed) === 1,
      posts: Number(r.posts),
      ...(r.outcome === null ? {} : { outcome: String(r.outcome) }),
      ...(r.detail === null ? {} : { detail: String(r.detail) }),
    }));
  }

  /** Every SIM with a PSK identity and a PSK, the PSK still sealed (the admin server's keyring). */
  async sealedPsks(): Promise<SealedPsk[]> {
    const rows = await this.engine.query<{ iccid: string; psk_identity: string; psk: string }>(
      'SELECT iccid, psk_identity, psk FROM sims WHERE psk_identity IS NOT NULL AND psk IS NOT NULL',
    );
    return rows.map((r) => ({ iccid: r.iccid, identity: r.psk_identity, sealed: r.psk }));
  }

  /** Opens a sealed PSK, synchronously: for a TLS handshake's PSK callback. */
  openPsk(entry: SealedPsk): Uint8Array {
    return unseal(this.storageKey, entry.sealed, pskContext(entry.iccid));
  }
}
