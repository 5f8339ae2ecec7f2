// A stateless worker: claims ready items (a batch at a time, leased), runs each item's steps through
// its job kind, renews its leases while it works, and records every outcome through the lease, so
// that any number of workers (processes, machines) share jobs, and a worker that dies loses nothing:
// its leases expire and another worker resumes its items from the ledger. Retries follow the job's
// budget per failure class with exponential back-off; rollout rules and completion are checked for
// the jobs it touched.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { JobItem, JobRecord } from '../storage/job-records.js';
import { LeaseLostError } from '../storage/job-records.js';
import type { OtaStore } from '../storage/store.js';
import { DEFAULT_RETRY, type JobKind, type StepResult } from './kind.js';
import { applyRollout } from './rollout.js';

export interface WorkerOptions {
  /** This worker's name in leases and the ledger (default host:pid:random). */
  id?: string;
  /** Items run at once (default 256: most of them wait for PoRs). */
  concurrency?: number;
  /** Items claimed per query (default 64). */
  claimBatch?: number;
  /** How long a claim lasts unless renewed (default 30 s; renewed every third of it). */
  leaseMs?: number;
  /** Wait between claims when there was nothing to claim (default 100 ms). */
  idleMs?: number;
  /** Lease recovery, expiry and rollout checks (default every 250 ms). */
  sweepMs?: number;
}

export interface WorkerEvents {
  item: [item: JobItem, job: JobRecord];
  job: [job: JobRecord, change: string];
  error: [error: Error];
}

export class JobWorker extends EventEmitter<WorkerEvents> {
  readonly id: string;
  private readonly kinds: Map<string, JobKind>;
  private readonly running = new Set<Promise<void>>();
  private readonly touched = new Set<string>();
  private readonly jobCache = new Map<string, { job: JobRecord; spec: unknown; at: number }>();
  private stopped = true;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private timers: NodeJS.Timeout[] = [];
  /** Items run, steps run, and writes refused because a lease was lost. */
  readonly stats = { items: 0, steps: 0, leaseLost: 0 };

  constructor(
    private readonly store: OtaStore,
    kinds: readonly JobKind[],
    private readonly options: WorkerOptions = {},
  ) {
    super();
    this.id = options.id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.kinds = new Map(kinds.map((k) => [k.name, k]));
  }

  private get leaseMs(): number {
    return this.options.leaseMs ?? 30_000;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const renew = setInterval(() => {
      this.store.jobs
        .renewLeases(this.id, Date.now() + this.leaseMs)
        .catch((e: Error) => this.emit('error', e));
    }, this.leaseMs / 3);
    const sweep = setInterval(() => {
      this.sweep().catch((e: Error) => this.emit('error', e));
    }, this.options.sweepMs ?? 250);
    this.timers = [renew, sweep];
    this.loop = this.claimLoop();
  }

  /** Stops claiming and waits for the items in hand to finish their current step. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.wake?.();
    await this.loop;
    await Promise.all(this.running);
    await this.sweep().catch(() => {});
  }

  /** Makes the claim loop look for work now (a job was just created). */
  poke(): void {
    this.wake?.();
  }

  private async claimLoop(): Promise<void> {
    const concurrency = this.options.concurrency ?? 256;
    while (!this.stopped) {
      const room = concurrency - this.running.size;
      let claimed: JobItem[] = [];
      if (room > 0) {
        try {
          claimed = await this.store.jobs.claim(
            this.id,
            Math.min(room, this.options.claimBatch ?? 64),
            Date.now() + this.leaseMs,
          );
        } catch (error) {
          this.emit('error', error as Error);
        }
      }
      for (const item of claimed) {
        const run: Promise<void> = this.runItem(item).finally(() => {
          this.running.delete(run);
          this.wake?.();
        });
        this.running.add(run);
      }
      if (claimed.length === 0 || room <= claimed.length)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, room > 0 ? (this.options.idleMs ?? 100) : 1000);
          this.wake = () => {
            clearTimeout(timer);
            this.wake = undefined;
            resolve();
          };
        });
    }
  }

  private async jobOf(id: string, fresh = false): Promise<{ job: JobRecord; spec: unknown; kind?: JobKind }> {
    const cached = this.jobCache.get(id);
    if (cached && !fresh && Date.now() - cached.at < 500)
      return { ...cached, kind: this.kinds.get(cached.job.kind) };
    const job = await this.store.jobs.get(id);
    const kind = this.kinds.get(job.kind);
    const spec = cached?.job.id === id ? cached.spec : kind?.parse(job.spec);
    this.jobCache.set(id, { job, spec, at: Date.now() });
    return { job, spec, ...(kind ? { kind } : {}) };
  }

  private async runItem(item: JobItem): Promise<void> {
    this.stats.items++;
    try {
      for (;;) {
        const { job, spec, kind } = await this.jobOf(item.jobId);
        if (job.state !== 'running') {
          const state = job.state === 'paused' ? 'ready' : job.state === 'expired' ? 'expired' : 'cancelled';
          await this.store.jobs.updateItem(item, this.id, {
            state,
            ...(state === 'ready' ? {} : { outcome: job.state }),
          });
          break;
        }
        if (!kind) {
          await this.store.jobs.updateItem(item, this.id, {
            state: 'failed',
            outcome: 'failed',
            detail: `this worker runs no "${job.kind}" jobs`,
          });
          break;
        }
        // a retry decided: a new attempt; otherwise the step's last attempt, if any, is resumed or read
        const lastAttempt =
          item.attempt > 0 && item.outcome !== 'retry'
            ? await this.store.jobs.lastAttemptOf(item)
            : undefined;
        this.stats.steps++;
        const result = await kind.runStep({
          job,
          spec,
          item,
          store: this.store,
          worker: this.id,
          lastAttempt,
          stillRunning: async () => (await this.jobOf(item.jobId, true)).job.state === 'running',
        });
        if (result.outcome === 'skipped') {
          await this.jobOf(item.jobId, true); // the job's new state, read now, is handled above
          continue;
        }
        if (!(await this.decide(item, job, kind, spec, result))) break;
      }
      const { job } = await this.jobOf(item.jobId);
      this.touched.add(item.jobId);
      this.emit('item', item, job);
    } catch (error) {
      if (error instanceof LeaseLostError) {
        this.stats.leaseLost++;
        return;
      }
      this.emit('error', error as Error);
      // left leased: when the lease runs out, another worker (or this one) resumes it from the ledger
    }
  }

  /** Records a step's result; true when the item goes on to its next step under the same lease. */
  private async decide(
    item: JobItem,
    job: JobRecord,
    kind: JobKind,
    spec: unknown,
    result: Exclude<StepResult, { outcome: 'skipped' }>,
  ): Promise<boolean> {
    const sent = result.sent;
    if (result.outcome === 'ok') {
      if (item.step + 1 < kind.steps(spec)) {
        await this.store.jobs.updateItem(
          item,
          this.id,
          {
            state: 'running',
            step: item.step + 1,
            attempt: 0,
            detail: result.detail ?? null,
            data: result.data ?? null,
          },
          sent,
        );
        return true;
      }
      await this.store.jobs.updateItem(
        item,
        this.id,
        { state: 'done', outcome: 'ok', detail: result.detail ?? null, data: result.data ?? null },
        sent,
      );
      return false;
    }
    if (result.outcome === 'failed') {
      await this.store.jobs.updateItem(item, this.id, {
        state: 'failed',
        outcome: result.code ?? 'failed',
        detail: result.detail,
      });
      return false;
    }
    const policy = { ...DEFAULT_RETRY, ...kind.retry(spec) };
    const budget = { no_por: policy.noPor, card_error: policy.cardError, smsc_error: policy.smscError }[
      result.outcome
    ];
    const used = (await this.store.jobs.attemptClasses(item))[result.outcome] ?? 1;
    const expired = job.expiresAt !== undefined && Date.now() >= job.expiresAt;
    if (used <= budget && !expired) {
      const delay = Math.min(policy.backoffMs * 2 ** Math.max(0, item.attempt - 1), 60_000);
      await this.store.jobs.updateItem(
        item,
        this.id,
        {
          state: 'ready',
          dueAt: Date.now() + delay,
          outcome: 'retry',
          detail: result.detail,
          data: result.data ?? null,
        },
        sent,
      );
      return false;
    }
    await this.store.jobs.updateItem(
      item,
      this.id,
      {
        state: expired ? 'expired' : 'failed',
        outcome: result.outcome,
        detail: result.detail,
        data: result.data ?? null,
      },
      sent,
    );
    return false;
  }

  private async sweep(): Promise<void> {
    await this.store.jobs.recoverExpiredLeases();
    for (const id of await this.store.jobs.expireJobs()) this.touched.add(id);
    // a job resumed (by any process) after its items stopped: no item will finish to move it on
    for (const id of await this.store.jobs.stalledJobs()) this.touched.add(id);
    const touched = [...this.touched];
    this.touched.clear();
    for (const id of touched) {
      const { job } = await this.jobOf(id, true);
      const change = await applyRollout(this.store.jobs, job);
      if (change) {
        const { job: now } = await this.jobOf(id, true);
        this.emit('job', now, change);
        if (change === 'released') this.poke();
      }
    }
  }
}
