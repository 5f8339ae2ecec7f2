// What the job store reads and writes: jobs, items, attempts as records, and their row mappers.
export type JobState = 'running' | 'paused' | 'completed' | 'cancelled' | 'aborted' | 'expired';
export type ItemState = 'held' | 'ready' | 'running' | 'done' | 'failed' | 'cancelled' | 'expired';
/** sending: recorded, maybe out; sent: out, no PoR asked; por: answered; no_por, smsc_error, failed. */
export type AttemptState = 'sending' | 'sent' | 'por' | 'no_por' | 'smsc_error' | 'failed';

export const FINAL_ITEM_STATES: readonly ItemState[] = ['done', 'failed', 'cancelled', 'expired'];
export const FINAL_JOB_STATES: readonly JobState[] = ['completed', 'cancelled', 'aborted', 'expired'];
export const FINAL_ITEMS_SQL = FINAL_ITEM_STATES.map((s) => `'${s}'`).join(', ');

export interface JobRecord {
  id: string;
  kind: string;
  state: JobState;
  spec: unknown;
  createdBy: string | undefined;
  createdAt: number;
  updatedAt: number;
  expiresAt: number | undefined;
  total: number;
  wave: number;
  released: number;
  reason: string | undefined;
}

export interface JobItem {
  id: number;
  jobId: string;
  iccid: string;
  position: number;
  state: ItemState;
  step: number;
  attempt: number;
  dueAt: number;
  leaseOwner: string | undefined;
  leaseUntil: number | undefined;
  outcome: string | undefined;
  detail: string | undefined;
  data: unknown;
}

export interface AttemptRecord {
  id: number;
  itemId: number;
  jobId: string;
  iccid: string;
  step: number;
  attempt: number;
  transport: string;
  msisdn: string | undefined;
  tar: string | undefined;
  spi: string | undefined;
  kvn: number | undefined;
  counter: bigint | undefined;
  smsCount: number;
  state: AttemptState;
  worker: string | undefined;
  porStatus: number | undefined;
  porData: string | undefined;
  porSecured: boolean | undefined;
  error: string | undefined;
  messageIds: string[];
  createdAt: number;
  sentAt: number | undefined;
  deadline: number | undefined;
  finishedAt: number | undefined;
}

export interface NewJob {
  /** The job's id (default a random UUID): a rotation's job takes the rotation's id. */
  id?: string;
  kind: string;
  spec: unknown;
  iccids: readonly string[];
  createdBy?: string;
  expiresAt?: number;
  /** Items wait in 'held' until a wave releases them (staged rollout). */
  held?: boolean;
}

export interface NewAttempt {
  item: JobItem;
  worker: string;
  transport: string;
  msisdn?: string;
  tar?: string;
  spi?: string;
  kvn?: number;
  counter?: bigint;
  smsCount: number;
  deadline: number;
}

export interface PorRecord {
  status: number;
  data: string;
  secured: boolean;
  counter: bigint;
}

export interface ItemUpdate {
  state: ItemState;
  step?: number;
  attempt?: number;
  dueAt?: number;
  outcome?: string | null;
  detail?: string | null;
  data?: unknown;
}

/** The item's lease is gone (expired and taken by another worker): nothing was written. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

/** An attempt refused because its job no longer runs (paused, cancelled…): nothing was sent. */
export class JobStoppedError extends Error {
  override name = 'JobStoppedError';
}

export type Raw = Record<string, unknown>;
const opt = <T>(v: unknown): T | undefined => (v === null || v === undefined ? undefined : (v as T));
const json = (text: unknown): unknown => (typeof text === 'string' ? JSON.parse(text) : undefined);

export const jobOf = (r: Raw): JobRecord => ({
  id: r.id as string,
  kind: r.kind as string,
  state: r.state as JobState,
  spec: json(r.spec),
  createdBy: opt(r.created_by),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
  expiresAt: opt<number>(r.expires_at),
  total: Number(r.total),
  wave: Number(r.wave),
  released: Number(r.released),
  reason: opt(r.reason),
});

export const itemOf = (r: Raw): JobItem => ({
  id: Number(r.id),
  jobId: r.job_id as string,
  iccid: r.iccid as string,
  position: Number(r.position),
  state: r.state as ItemState,
  step: Number(r.step),
  attempt: Number(r.attempt),
  dueAt: Number(r.due_at),
  leaseOwner: opt(r.lease_owner),
  leaseUntil: opt<number>(r.lease_until),
  outcome: opt(r.outcome),
  detail: opt(r.detail),
  data: json(r.data),
});

export const attemptOf = (r: Raw): AttemptRecord => ({
  id: Number(r.id),
  itemId: Number(r.item_id),
  jobId: r.job_id as string,
  iccid: r.iccid as string,
  step: Number(r.step),
  attempt: Number(r.attempt),
  transport: r.transport as string,
  msisdn: opt(r.msisdn),
  tar: opt(r.tar),
  spi: opt(r.spi),
  kvn: opt<number>(r.kvn),
  counter: r.counter === null || r.counter === undefined ? undefined : BigInt(r.counter as number),
  smsCount: Number(r.sms_count),
  state: r.state as AttemptState,
  worker: opt(r.worker),
  porStatus: opt<number>(r.por_status),
  porData: opt(r.por_data),
  porSecured: r.por_secured === null || r.por_secured === undefined ? undefined : Boolean(r.por_secured),
  error: opt(r.error),
  messageIds: typeof r.message_ids === 'string' && r.message_ids ? r.message_ids.split(',') : [],
  createdAt: Number(r.created_at),
  sentAt: opt<number>(r.sent_at),
  deadline: opt<number>(r.deadline),
  finishedAt: opt<number>(r.finished_at),
});
