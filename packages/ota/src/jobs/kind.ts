// What a kind of job is to the engine: the steps it runs on each SIM. The engine owns claiming,
// leases, retries, waves, expiry and the ledger's bookkeeping; a kind owns what one attempt of one
// step does (SCP80: a secured script by SMS and its PoR; later SCP81: a trigger SMS and an admin
// session; a rotation: its state machine's steps, with `data` carried between them).
import type { AttemptRecord, JobItem, JobRecord } from '../storage/job-records.js';
import type { SimRecord } from '../storage/sim-store.js';
import type { OtaStore } from '../storage/store.js';

/** How a step's attempt ended, by failure class (retry budgets are per class). */
export type AttemptClass = 'no_por' | 'card_error' | 'smsc_error';

export type StepResult = (
  | { outcome: 'ok'; detail?: string; data?: unknown }
  | { outcome: AttemptClass; detail: string; data?: unknown }
  /** Cannot succeed by retrying (no such key set, too many SMS, counter exhausted…): `detail` says why. */
  | { outcome: 'failed'; detail: string; code?: string }
  /** Nothing was sent: the job stopped running (paused, cancelled…) before the attempt began. */
  | { outcome: 'skipped'; detail: string }
) & {
  /** What the attempt sent (written to the ledger with the item's new state). */
  sent?: { attemptId: number; sentAt: number; messageIds: readonly string[] };
};

/** Retries per failure class, after the first attempt (defaults: noPor 1, cardError 0, smscError 3). */
export interface RetryPolicy {
  noPor?: number;
  cardError?: number;
  smscError?: number;
  /** Delay before a retry (default 1 s), doubled per attempt of the step, at most 60 s. */
  backoffMs?: number;
}

export const DEFAULT_RETRY: Required<RetryPolicy> = { noPor: 1, cardError: 0, smscError: 3, backoffMs: 1000 };

export interface StepContext {
  job: JobRecord;
  /** The job's spec as the kind parsed it. */
  spec: unknown;
  item: JobItem;
  store: OtaStore;
  worker: string;
  /**
   * The step's last attempt when one was made and no decision followed it (its worker died): still
   * open ('sending'), resume it and do not send again; ended, take its result from the ledger.
   */
  lastAttempt: AttemptRecord | undefined;
  /** Whether the job still runs (read now): checked last thing before an attempt takes a counter. */
  stillRunning(): Promise<boolean>;
}

export interface PlannedStep {
  description: string;
  /** SMS this step takes per attempt. */
  sms: number;
}

export interface PlannedSim {
  iccid: string;
  steps: PlannedStep[];
  /** Why this SIM cannot run the job (unknown key set, no MSISDN…), when it cannot. */
  refused?: string;
}

export interface JobKind {
  readonly name: string;
  /** Checks a spec (a StorageError 'invalid' when it is not one) and returns it in the kind's form. */
  parse(spec: unknown): unknown;
  steps(spec: unknown): number;
  /** The retry budgets of a spec. */
  retry(spec: unknown): RetryPolicy | undefined;
  /** Runs one attempt of the item's current step (or resumes the open one). */
  runStep(context: StepContext): Promise<StepResult>;
  /** What a dry run reports for one SIM: nothing is sent and no counter is taken. */
  plan(spec: unknown, sim: SimRecord, store: OtaStore): Promise<PlannedSim>;
}
