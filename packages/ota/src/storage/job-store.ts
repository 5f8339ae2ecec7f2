// Jobs, their items and the per-SIM attempt ledger. A job holds one item per SIM; an item runs the
// job's steps in order, each step by attempts. Workers claim ready items with a lease (PostgreSQL:
// FOR UPDATE SKIP LOCKED, so workers never wait on each other; SQLite: the same UPDATE under its
// write lock), renew it while they work, and every write of theirs is fenced by it: a worker that lost
// its lease changes nothing. The attempts of each step are in the ledger (attempt-ledger.ts).
import { randomUUID } from 'node:crypto';
import { AttemptLedger } from './attempt-ledger.js';
import { placeholders, type SqlExecutor, StorageError } from './engine.js';
import {
  FINAL_ITEM_STATES,
  FINAL_ITEMS_SQL,
  type ItemState,
  type ItemUpdate,
  itemOf,
  type JobItem,
  type JobRecord,
  type JobState,
  jobOf,
  LeaseLostError,
  type NewJob,
  type Raw,
} from './job-records.js';

const INSERT_CHUNK = 400;

export class JobStore extends AttemptLedger {
  /** Creates a job and one item per SIM (in the order given), in one transaction. */
  async create(job: NewJob): Promise<JobRecord> {
    const id = job.id ?? randomUUID();
    const now = Date.now();
    const iccids = [...new Set(job.iccids)];
    await this.engine.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO jobs (id, kind, state, spec, created_by, created_at, updated_at, expires_at, total, released)
         VALUES ($1, $2, 'running', $3, $4, $5, $5, $6, $7, $8)`,
        [
          id,
          job.kind,
          JSON.stringify(job.spec),
          job.createdBy,
          now,
          job.expiresAt,
          iccids.length,
          job.held ? 0 : iccids.length,
        ],
      );
      const state: ItemState = job.held ? 'held' : 'ready';
      for (let at = 0; at < iccids.length; at += INSERT_CHUNK) {
        const chunk = iccids.slice(at, at + INSERT_CHUNK);
        const values = chunk.map((_, i) => `($1, $${i + 4}, ${at + i}, $2, $3, $3)`).join(', ');
        await tx.query(
          `INSERT INTO job_items (job_id, iccid, position, state, due_at, updated_at) VALUES ${values}`,
          [id, state, now, ...chunk],
        );
      }
    });
    return this.get(id);
  }

  async get(id: string): Promise<JobRecord> {
    const [row] = await this.engine.query<Raw>('SELECT * FROM jobs WHERE id = $1', [id]);
    if (!row) throw new StorageError(`no job ${id}`, 'unknown_job');
    return jobOf(row);
  }

  async list(options: { state?: JobState; limit?: number } = {}): Promise<JobRecord[]> {
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 1000);
    const rows = options.state
      ? await this.engine.query<Raw>(
          `SELECT * FROM jobs WHERE state = $1 ORDER BY created_at DESC LIMIT ${limit}`,
          [options.state],
        )
      : await this.engine.query<Raw>(`SELECT * FROM jobs ORDER BY created_at DESC LIMIT ${limit}`);
    return rows.map(jobOf);
  }

  /** Items per state, and final items per outcome. */
  async progress(id: string): Promise<{ states: Record<string, number>; outcomes: Record<string, number> }> {
    const rows = await this.engine.query<{ state: string; outcome: string | null; n: number }>(
      'SELECT state, outcome, COUNT(*) AS n FROM job_items WHERE job_id = $1 GROUP BY state, outcome',
      [id],
    );
    const states: Record<string, number> = {};
    const outcomes: Record<string, number> = {};
    for (const row of rows) {
      states[row.state] = (states[row.state] ?? 0) + Number(row.n);
      if (row.outcome !== null) outcomes[row.outcome] = (outcomes[row.outcome] ?? 0) + Number(row.n);
    }
    return { states, outcomes };
  }

  /** A job's items in order, from `after` (a position), at most `limit`. */
  async items(id: string, options: { after?: number; limit?: number } = {}): Promise<JobItem[]> {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 10_000);
    const rows = await this.engine.query<Raw>(
      `SELECT * FROM job_items WHERE job_id = $1 AND position > $2 ORDER BY position LIMIT ${limit}`,
      [id, options.after ?? -1],
    );
    return rows.map(itemOf);
  }

  async item(itemId: number): Promise<JobItem> {
    const [row] = await this.engine.query<Raw>('SELECT * FROM job_items WHERE id = $1', [itemId]);
    if (!row) throw new StorageError(`no job item ${itemId}`, 'unknown_job');
    return itemOf(row);
  }

  /**
   * Moves a job between states ('paused' ↔ 'running'; to 'cancelled', 'aborted' or 'expired', where
   * its held and ready items end with it). False when the job is not in one of `from`.
   */
  async setState(id: string, from: readonly JobState[], to: JobState, reason?: string): Promise<boolean> {
    return this.engine.transaction(async (tx) => {
      const now = Date.now();
      const changed = await tx.query(
        `UPDATE jobs SET state = $2, reason = COALESCE($3, reason), updated_at = $4
         WHERE id = $1 AND state IN (${placeholders(from.length, 5)}) RETURNING id`,
        [id, to, reason, now, ...from],
      );
      if (changed.length === 0) return false;
      if (to === 'cancelled' || to === 'aborted' || to === 'expired')
        await tx.query(
          `UPDATE job_items SET state = $2, outcome = $3, updated_at = $4 WHERE job_id = $1 AND state IN ('held', 'ready')`,
          [id, to === 'expired' ? 'expired' : 'cancelled', to, now],
        );
      return true;
    });
  }

  /** Releases the next `count` held items of a job if its wave is still `wave` (one releaser wins). */
  async releaseWave(id: string, wave: number, count: number): Promise<number> {
    return this.engine.transaction(async (tx) => {
      const now = Date.now();
      const moved = await tx.query<{ id: number }>(
        `UPDATE jobs SET wave = wave + 1, updated_at = $3 WHERE id = $1 AND wave = $2 AND state = 'running' RETURNING id`,
        [id, wave, now],
      );
      if (moved.length === 0) return 0;
      const released = await tx.query<{ id: number }>(
        `UPDATE job_items SET state = 'ready', due_at = $3, updated_at = $3 WHERE id IN (
           SELECT id FROM job_items WHERE job_id = $1 AND state = 'held' ORDER BY position LIMIT $2) RETURNING id`,
        [id, count, now],
      );
      await tx.query('UPDATE jobs SET released = released + $2 WHERE id = $1', [id, released.length]);
      return released.length;
    });
  }

  /** Claims up to `limit` ready items of running jobs for `worker`, leased until `leaseUntil`. */
  async claim(worker: string, limit: number, leaseUntil: number): Promise<JobItem[]> {
    const now = Date.now();
    const lock = this.engine.dialect === 'postgres' ? 'FOR UPDATE SKIP LOCKED' : '';
    const rows = await this.engine.transaction((tx) =>
      tx.query<Raw>(
        `UPDATE job_items SET state = 'running', lease_owner = $1, lease_until = $2, updated_at = $3
         WHERE id IN (
           SELECT id FROM job_items WHERE state = 'ready' AND due_at <= $3
             AND job_id IN (SELECT id FROM jobs WHERE state = 'running')
           ORDER BY due_at, id LIMIT $4 ${lock})
         RETURNING *`,
        [worker, leaseUntil, now, limit],
      ),
    );
    return rows.map(itemOf).sort((a, b) => a.dueAt - b.dueAt || a.id - b.id);
  }

  /** Extends the leases `worker` holds; returns how many it still holds. */
  async renewLeases(worker: string, leaseUntil: number): Promise<number> {
    const rows = await this.engine.query(
      `UPDATE job_items SET lease_until = $2 WHERE lease_owner = $1 AND state = 'running' RETURNING id`,
      [worker, leaseUntil],
    );
    return rows.length;
  }

  /** Items whose worker stopped renewing its lease become ready again (the ledger says what was sent). */
  async recoverExpiredLeases(): Promise<number> {
    const now = Date.now();
    const rows = await this.engine.query(
      `UPDATE job_items SET state = 'ready', lease_owner = NULL, due_at = $1, updated_at = $1
       WHERE state = 'running' AND lease_until < $1 RETURNING id`,
      [now],
    );
    return rows.length;
  }

  /** Jobs past their expiry end as 'expired' (their unstarted items with them). */
  async expireJobs(): Promise<string[]> {
    const rows = await this.engine.query<{ id: string }>(
      `SELECT id FROM jobs WHERE state IN ('running', 'paused') AND expires_at IS NOT NULL AND expires_at < $1`,
      [Date.now()],
    );
    const expired: string[] = [];
    for (const { id } of rows)
      if (await this.setState(id, ['running', 'paused'], 'expired', 'expired')) expired.push(id);
    return expired;
  }

  /**
   * Running jobs with no item ready or running: between two waves, or all ended, with no item left to
   * finish and so prompt the rollout rules (a job resumed after its items stopped while it was paused).
   */
  async stalledJobs(): Promise<string[]> {
    const rows = await this.engine.query<{ id: string }>(
      `SELECT id FROM jobs j WHERE state = 'running' AND NOT EXISTS (
         SELECT 1 FROM job_items i WHERE i.job_id = j.id AND i.state IN ('ready', 'running'))`,
    );
    return rows.map((r) => r.id);
  }

  /** Updates a leased item (and the attempt's sending details) in one fenced transaction. */
  async updateItem(
    item: JobItem,
    worker: string,
    update: ItemUpdate,
    sent?: { attemptId: number; sentAt: number; messageIds: readonly string[] },
  ): Promise<void> {
    await this.engine.transaction(async (tx) => {
      if (update.state === 'ready') update = await this.retryUnlessEnded(tx, item, update);
      const final = FINAL_ITEM_STATES.includes(update.state);
      const rows = await tx.query(
        `UPDATE job_items SET state = $3, step = $4, attempt = $5, due_at = $6, outcome = $7, detail = $8,
           data = $9, updated_at = $10, lease_owner = CASE WHEN $11 = 1 THEN NULL ELSE lease_owner END
         WHERE id = $1 AND lease_owner = $2 AND state = 'running' RETURNING id`,
        [
          item.id,
          worker,
          update.state,
          update.step ?? item.step,
          update.attempt ?? item.attempt,
          update.dueAt ?? item.dueAt,
          update.outcome === undefined ? item.outcome : update.outcome,
          update.detail === undefined ? item.detail : update.detail,
          update.data === undefined
            ? item.data === undefined
              ? null
              : JSON.stringify(item.data)
            : JSON.stringify(update.data),
          Date.now(),
          final || update.state !== 'running' ? 1 : 0,
        ],
      );
      if (rows.length === 0) throw new LeaseLostError(`job item ${item.id} is no longer leased to ${worker}`);
      if (sent)
        await tx.query(
          'UPDATE attempts SET sent_at = COALESCE(sent_at, $2), message_ids = COALESCE(message_ids, $3) WHERE id = $1',
          [sent.attemptId, sent.sentAt, sent.messageIds.join(',')],
        );
    });
    Object.assign(item, {
      ...update,
      step: update.step ?? item.step,
      attempt: update.attempt ?? item.attempt,
    });
  }

  /**
   * A retry (or a pause) puts the item back to 'ready' only while its job can still run it: a job
   * cancelled, aborted or expired meanwhile has already ended its ready items, and this one ends the
   * same way. The job row is read under a share lock, so `setState` either waits for this transaction
   * (and then sweeps the item) or has committed before it (and the item is ended here).
   */
  private async retryUnlessEnded(tx: SqlExecutor, item: JobItem, update: ItemUpdate): Promise<ItemUpdate> {
    const lock = this.engine.dialect === 'postgres' ? 'FOR SHARE' : '';
    const [job] = await tx.query<{ state: JobState }>(`SELECT state FROM jobs WHERE id = $1 ${lock}`, [
      item.jobId,
    ]);
    if (!job || job.state === 'running' || job.state === 'paused') return update;
    const state: ItemState = job.state === 'expired' ? 'expired' : 'cancelled';
    return { ...update, state, outcome: job.state, dueAt: item.dueAt };
  }

  /** Marks a job completed when none of its items is left to run. */
  async completeIfDone(id: string): Promise<boolean> {
    const rows = await this.engine.query(
      `UPDATE jobs SET state = 'completed', updated_at = $2 WHERE id = $1 AND state = 'running'
         AND NOT EXISTS (SELECT 1 FROM job_items WHERE job_id = $1 AND state NOT IN (${FINAL_ITEMS_SQL}))
       RETURNING id`,
      [id, Date.now()],
    );
    return rows.length > 0;
  }

  /** Who did what (the audit log). */
  async audit(actor: string, action: string, subject?: string, detail?: unknown): Promise<void> {
    await this.engine.query(
      'INSERT INTO audit (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)',
      [Date.now(), actor, action, subject, detail === undefined ? null : JSON.stringify(detail)],
    );
  }
}
