// The per-SIM attempt ledger under the jobs: every attempt of every step, recorded with its counter
// (in the transaction that took it, fenced by the item's lease and the job's state) before anything
// is sent; its PoR, or why it ended without one; what was sent. PoRs are matched by the SIM's number
// and the TAR of open attempts, and one recorded for another worker is announced to it where the
// engine can (PostgreSQL NOTIFY).
import { placeholders, type SqlEngine, type SqlExecutor, StorageError } from './engine.js';
import {
  type AttemptRecord,
  type AttemptState,
  attemptOf,
  type JobItem,
  type JobState,
  JobStoppedError,
  LeaseLostError,
  type NewAttempt,
  type PorRecord,
  type Raw,
} from './job-records.js';

/** Where a worker says it recorded a PoR for an attempt another worker waits on. */
const POR_CHANNEL = 'iotsafe_por';

export class AttemptLedger {
  constructor(protected readonly engine: SqlEngine) {}

  /**
   * Records an attempt (state 'sending') inside the transaction that took its counter, fenced by the
   * lease and by the job's state, read in the same statement: an attempt begins only while its job
   * runs (JobStoppedError otherwise; the transaction, and so its counter, is then rolled back).
   */
  async insertAttempt(tx: SqlExecutor, attempt: NewAttempt): Promise<number> {
    const { item, worker } = attempt;
    const attemptNumber = item.attempt + 1;
    const now = Date.now();
    const fenced = await tx.query(
      `UPDATE job_items SET attempt = $3, updated_at = $4, outcome = NULL
       WHERE id = $1 AND lease_owner = $2 AND state = 'running'
         AND EXISTS (SELECT 1 FROM jobs WHERE id = $5 AND state = 'running') RETURNING id`,
      [item.id, worker, attemptNumber, now, item.jobId],
    );
    if (fenced.length === 0) {
      const [job] = await tx.query<{ state: JobState }>('SELECT state FROM jobs WHERE id = $1', [item.jobId]);
      if (job && job.state !== 'running') throw new JobStoppedError(`job ${item.jobId} is ${job.state}`);
      throw new LeaseLostError(`job item ${item.id} is no longer leased to ${worker}`);
    }
    const [row] = await tx.query<{ id: number }>(
      `INSERT INTO attempts (item_id, job_id, iccid, step, attempt, transport, msisdn, tar, kvn, counter,
         sms_count, state, worker, created_at, deadline, spi)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'sending', $12, $13, $14, $15) RETURNING id`,
      [
        item.id,
        item.jobId,
        item.iccid,
        item.step,
        attemptNumber,
        attempt.transport,
        attempt.msisdn,
        attempt.tar,
        attempt.kvn,
        attempt.counter,
        attempt.smsCount,
        worker,
        now,
        attempt.deadline,
        attempt.spi,
      ],
    );
    item.attempt = attemptNumber;
    item.outcome = undefined; // a new attempt: no retry decision stands for it yet
    return Number(row!.id);
  }

  /**
   * Records a PoR on an open attempt, with what was sent when that is known by then; false when the
   * attempt was closed already (a duplicate).
   */
  async recordPor(
    attemptId: number,
    por: PorRecord,
    sent?: { sentAt: number; messageIds: readonly string[] },
  ): Promise<boolean> {
    const rows = await this.engine.query(
      `UPDATE attempts SET state = 'por', por_status = $2, por_data = $3, por_secured = $4, finished_at = $5,
         sent_at = COALESCE(sent_at, $6), message_ids = COALESCE(message_ids, $7)
       WHERE id = $1 AND state = 'sending' RETURNING id`,
      [
        attemptId,
        por.status,
        por.data,
        por.secured ? 1 : 0,
        Date.now(),
        sent?.sentAt,
        sent?.messageIds.join(','),
      ],
    );
    return rows.length > 0;
  }

  /**
   * Tells the other workers that a PoR was recorded for one of their attempts (PostgreSQL: NOTIFY on
   * POR_CHANNEL, the attempt's id as payload); where the engine cannot, they find it by polling.
   */
  async announcePor(attemptId: number): Promise<void> {
    await this.engine.notify?.(POR_CHANNEL, String(attemptId));
  }

  /** Calls `onPor` with the id of each attempt whose PoR another worker recorded (where supported). */
  listenForPors(onPor: (attemptId: number) => void): Promise<() => Promise<void>> | undefined {
    return this.engine.listen?.(POR_CHANNEL, (payload) => {
      const id = Number(payload);
      if (Number.isSafeInteger(id)) onPor(id);
    });
  }

  /**
   * Closes an open attempt as failed ('no_por', 'smsc_error', 'failed'), with what was sent; returns
   * the attempt as it now is (a PoR recorded meanwhile, by any worker, wins).
   */
  async closeAttempt(
    attemptId: number,
    state: Exclude<AttemptState, 'sending' | 'por'>,
    sent: { sentAt?: number; messageIds?: readonly string[]; error?: string },
  ): Promise<AttemptRecord> {
    const now = Date.now();
    await this.engine.query(
      `UPDATE attempts SET state = CASE WHEN state = 'sending' THEN $2 ELSE state END,
         finished_at = COALESCE(finished_at, $3), error = COALESCE($4, error),
         sent_at = COALESCE($5, sent_at), message_ids = COALESCE($6, message_ids)
       WHERE id = $1`,
      [attemptId, state, now, sent.error, sent.sentAt, sent.messageIds?.join(',')],
    );
    return this.attempt(attemptId);
  }

  async attempt(attemptId: number): Promise<AttemptRecord> {
    const [row] = await this.engine.query<Raw>('SELECT * FROM attempts WHERE id = $1', [attemptId]);
    if (!row) throw new StorageError(`no attempt ${attemptId}`, 'unknown_job');
    return attemptOf(row);
  }

  /** The attempts among `ids` that have a PoR recorded (a worker waiting on PoRs another received). */
  async answered(ids: readonly number[]): Promise<AttemptRecord[]> {
    if (ids.length === 0) return [];
    const rows = await this.engine.query<Raw>(
      `SELECT * FROM attempts WHERE state = 'por' AND id IN (${placeholders(ids.length)})`,
      ids,
    );
    return rows.map(attemptOf);
  }

  /** Open attempts to a SIM number on a TAR: where a PoR from it belongs (by index). */
  async openAttempts(msisdn: string, tar: string): Promise<AttemptRecord[]> {
    const rows = await this.engine.query<Raw>(
      `SELECT * FROM attempts WHERE msisdn = $1 AND tar = $2 AND state = 'sending' ORDER BY id`,
      [msisdn, tar],
    );
    return rows.map(attemptOf);
  }

  /** The step's last attempt (its worker may have died before it recorded what came of it). */
  async lastAttemptOf(item: JobItem): Promise<AttemptRecord | undefined> {
    const [row] = await this.engine.query<Raw>(
      `SELECT * FROM attempts WHERE item_id = $1 AND step = $2 ORDER BY attempt DESC LIMIT 1`,
      [item.id, item.step],
    );
    return row ? attemptOf(row) : undefined;
  }

  /** The step's attempts so far, by outcome class (for retry budgets). */
  async attemptClasses(item: JobItem): Promise<Record<string, number>> {
    const rows = await this.engine.query<{ state: string; card: number; n: number }>(
      `SELECT state, CASE WHEN state = 'por' AND por_status <> 0 THEN 1 ELSE 0 END AS card, COUNT(*) AS n
       FROM attempts WHERE item_id = $1 AND step = $2 GROUP BY state, card`,
      [item.id, item.step],
    );
    const classes: Record<string, number> = {};
    for (const row of rows) {
      const name = row.state === 'por' ? (Number(row.card) ? 'card_error' : 'ok') : row.state;
      classes[name] = (classes[name] ?? 0) + Number(row.n);
    }
    return classes;
  }

  /** A SIM's ledger, newest first. */
  async ledger(iccid: string, options: { before?: number; limit?: number } = {}): Promise<AttemptRecord[]> {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    const rows = await this.engine.query<Raw>(
      `SELECT * FROM attempts WHERE iccid = $1 AND id < $2 ORDER BY id DESC LIMIT ${limit}`,
      [iccid, options.before ?? Number.MAX_SAFE_INTEGER],
    );
    return rows.map(attemptOf);
  }

  /** A job's attempts in order (tests, reports). */
  async attemptsOf(jobId: string): Promise<AttemptRecord[]> {
    const rows = await this.engine.query<Raw>('SELECT * FROM attempts WHERE job_id = $1 ORDER BY id', [
      jobId,
    ]);
    return rows.map(attemptOf);
  }
}
