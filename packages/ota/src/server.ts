// The OTA server: a store, SMS binds (paced), the PoR router and a job worker, put together. A script
// sent to a SIM is a job of one item (kind 'scp80'): submit() answers with the job at once, send()
// waits for its end and gives the PoR as before. Jobs over many SIMs, and other kinds (SCP81 sessions,
// rotations), run on the same worker; other processes may run more workers on the same store.
import { type DecodedResponse, hexToBytes, porStatusText } from '@iotsafe/protocol';
import type { JobKind, RetryPolicy } from './jobs/kind.js';
import { parseRollout, type RolloutPolicy } from './jobs/rollout.js';
import { OtaLimitError, Scp80Kind, type Scp80Spec, type Scp80Step } from './jobs/scp80-kind.js';
import { JobWorker, type WorkerOptions } from './jobs/worker.js';
import { PorRouter } from './por-router.js';
import type { SmsLink } from './smpp-link.js';
import { SmppError } from './smpp-pdu.js';
import { StorageError } from './storage/engine.js';
import { FINAL_JOB_STATES, type JobItem, type JobRecord } from './storage/job-records.js';
import type { OtaStore } from './storage/store.js';

export { OtaLimitError };

export interface OtaScript {
  /** ICCID or MSISDN of the SIM. */
  sim: string;
  /** TAR, 6 hex digits: 000000 RAM to the ISD, B00000 RFM. */
  tar: string;
  /** Secured data: compact C-APDUs or an expanded script. */
  script: Uint8Array;
  /** SPI, 4 hex digits (default 1619: cipher, CC, counter higher, PoR required, ciphered + CC). */
  spi?: string;
  kvn?: number;
}

export interface OtaResult {
  /** The PoR, or undefined when the SPI asked for none. */
  por?: DecodedResponse;
  counter: bigint;
  attempts: number;
  jobId: string;
}

/** No PoR came back after every attempt. */
export class OtaTimeoutError extends Error {
  override name = 'OtaTimeoutError';
}

export interface OtaServerOptions {
  /** How long to wait for a PoR per attempt (default 10 s). */
  timeoutMs?: number;
  /** Attempts in all for one send() when no PoR comes, each with a new counter (default 2). */
  attempts?: number;
  /** The most SMS (concatenated parts) one script may take (default 16; at most 255). */
  maxSmsPerScript?: number;
  /** The worker of this process (false: none here, other processes run the jobs). */
  worker?: WorkerOptions | false;
  /** More job kinds for the worker (SCP81 sessions, rotations…). */
  kinds?: readonly JobKind[];
  /** How often a waiting caller polls a job it does not run here (default 200 ms). */
  pollMs?: number;
}

export interface NewScriptJob {
  sims: readonly string[];
  steps: readonly Scp80Step[];
  retry?: RetryPolicy;
  porTimeoutMs?: number;
  rollout?: RolloutPolicy;
  expiresAt?: number;
  createdBy?: string;
}

export class OtaServer {
  readonly router: PorRouter;
  readonly scp80: Scp80Kind;
  readonly worker: JobWorker | undefined;

  constructor(
    readonly store: OtaStore,
    readonly link: SmsLink,
    private readonly options: OtaServerOptions = {},
  ) {
    this.router = new PorRouter(store);
    link.onMessage((from, userData) => this.router.received(from, userData));
    this.scp80 = new Scp80Kind({
      sms: link,
      router: this.router,
      ...(options.timeoutMs === undefined ? {} : { porTimeoutMs: options.timeoutMs }),
      ...(options.maxSmsPerScript === undefined ? {} : { maxSmsPerScript: options.maxSmsPerScript }),
    });
    if (options.worker !== false) {
      this.worker = new JobWorker(store, [this.scp80, ...(options.kinds ?? [])], options.worker || {});
      this.worker.start();
    }
  }

  /** The SIM a request names (by ICCID or MSISDN); a StorageError when none. */
  sim(iccidOrMsisdn: string) {
    return this.store.sims.get(iccidOrMsisdn);
  }

  /**
   * Creates a job that runs `steps` on each SIM. Every SIM, key set and script size is checked first:
   * a job that cannot run on one of them is refused whole (StorageError, OtaLimitError), nothing sent.
   */
  async submitJob(request: NewScriptJob): Promise<JobRecord> {
    const spec: Scp80Spec & { rollout?: RolloutPolicy } = this.scp80.parse({
      steps: request.steps,
      ...(request.retry ? { retry: request.retry } : {}),
      ...(request.porTimeoutMs === undefined ? {} : { porTimeoutMs: request.porTimeoutMs }),
    });
    const rollout = parseRollout(request.rollout);
    const iccids = await this.scp80.check(this.store, request.sims, spec.steps);
    const job = await this.store.jobs.create({
      kind: this.scp80.name,
      spec: rollout ? { ...spec, rollout } : spec,
      iccids,
      ...(request.createdBy ? { createdBy: request.createdBy } : {}),
      ...(request.expiresAt === undefined ? {} : { expiresAt: request.expiresAt }),
      held: rollout?.waves !== undefined,
    });
    if (rollout?.waves) await this.store.jobs.releaseWave(job.id, 0, rollout.waves.initial);
    this.worker?.poke();
    return job;
  }

  /** One script to one SIM as a job; answers at once with the job. */
  submit(request: OtaScript, createdBy?: string): Promise<JobRecord> {
    return this.submitJob({
      sims: [request.sim],
      steps: [
        {
          tar: request.tar,
          script: Buffer.from(request.script).toString('hex'),
          ...(request.spi === undefined ? {} : { spi: request.spi }),
          ...(request.kvn === undefined ? {} : { kvn: request.kvn }),
        },
      ],
      retry: { noPor: (this.options.attempts ?? 2) - 1, backoffMs: 100 },
      ...(createdBy ? { createdBy } : {}),
    });
  }

  /** Waits until a job has ended (whichever worker runs it). */
  async waitFor(jobId: string): Promise<JobRecord> {
    for (;;) {
      const job = await this.store.jobs.get(jobId);
      if (FINAL_JOB_STATES.includes(job.state)) return job;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.options.pollMs ?? 200);
        const worker = this.worker;
        function done() {
          clearTimeout(timer);
          worker?.off('job', onJob);
          resolve();
        }
        const onJob = (changed: JobRecord) => {
          if (changed.id === jobId) done();
        };
        worker?.on('job', onJob);
      });
    }
  }

  /** Sends a script and waits for its PoR (a job of one item, run to its end). */
  async send(request: OtaScript): Promise<OtaResult> {
    const job = await this.submit(request);
    await this.waitFor(job.id);
    const [item] = await this.store.jobs.items(job.id);
    return resultOf(job.id, item!, request.sim);
  }

  async close(): Promise<void> {
    await this.worker?.stop();
    this.router.close();
  }
}

interface PorData {
  counter?: string;
  status?: number;
  statusText?: string;
  data?: string;
  secured?: boolean;
}

/** What one SIM's item ended with, as send() reports it (errors as the old synchronous server threw). */
export function resultOf(jobId: string, item: JobItem, sim: string = item.iccid): OtaResult {
  const data = (item.data ?? {}) as PorData;
  const base = { counter: BigInt(data.counter ?? 0), attempts: item.attempt, jobId };
  if (data.status !== undefined && (item.outcome === 'ok' || item.outcome === 'card_error'))
    return {
      ...base,
      por: {
        tar: new Uint8Array(3),
        counter: base.counter,
        status: data.status,
        statusText: data.statusText ?? porStatusText(data.status),
        data: hexToBytes(data.data ?? ''),
        secured: data.secured ?? true,
      },
    };
  if (item.outcome === 'ok') return base;
  const detail = item.detail ?? item.outcome ?? 'failed';
  switch (item.outcome) {
    case 'no_por':
      throw new OtaTimeoutError(`no PoR from ${sim} after ${item.attempt} attempts: ${detail}`);
    case 'smsc_error':
      throw new SmppError(detail);
    case 'too_many_sms':
      throw new OtaLimitError(detail, 0, 0);
    case 'unknown_sim':
    case 'unknown_key_set':
    case 'counter_exhausted':
      throw new StorageError(detail, item.outcome);
    default:
      throw new StorageError(`${item.outcome ?? item.state}: ${detail}`, 'invalid');
  }
}
