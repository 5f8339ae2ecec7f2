// Staged rollout of a job over its SIMs: waves that grow exponentially (the first `initial` SIMs,
// then initial × factor, …; the next wave starts once every SIM released so far has ended) and an
// abort on a failure threshold (once `minFinished` SIMs have ended, a share of failures at or above
// `failureRatio` aborts the job: the SIMs not yet started are cancelled). The rules hawkBit, AWS IoT
// Jobs and Azure Device Update apply, on the job's own counts, so any worker may take the decision.
import { StorageError } from '../storage/engine.js';
import type { JobRecord } from '../storage/job-records.js';
import type { JobStore } from '../storage/job-store.js';

export interface RolloutPolicy {
  waves?: { initial: number; factor?: number };
  abort?: { failureRatio: number; minFinished?: number };
}

const invalid = (message: string) => new StorageError(message, 'invalid');

export function parseRollout(value: unknown): RolloutPolicy | undefined {
  if (value === undefined) return undefined;
  const r = value as RolloutPolicy;
  if (!r || typeof r !== 'object') throw invalid('rollout is an object');
  const policy: RolloutPolicy = {};
  if (r.waves !== undefined) {
    const { initial, factor = 2 } = r.waves;
    if (!Number.isInteger(initial) || initial < 1)
      throw invalid('rollout.waves.initial is a positive integer');
    if (typeof factor !== 'number' || !(factor >= 1 && factor <= 100))
      throw invalid('rollout.waves.factor is 1 to 100');
    policy.waves = { initial, factor };
  }
  if (r.abort !== undefined) {
    const { failureRatio, minFinished = 1 } = r.abort;
    if (typeof failureRatio !== 'number' || !(failureRatio > 0 && failureRatio <= 1))
      throw invalid('rollout.abort.failureRatio is over 0, at most 1');
    if (!Number.isInteger(minFinished) || minFinished < 1)
      throw invalid('rollout.abort.minFinished is a positive integer');
    policy.abort = { failureRatio, minFinished };
  }
  return policy;
}

export const rolloutOf = (job: JobRecord): RolloutPolicy | undefined =>
  (job.spec as { rollout?: RolloutPolicy } | undefined)?.rollout;

/** The size of wave `n` (0 is the first). */
export const waveSize = (policy: NonNullable<RolloutPolicy['waves']>, n: number): number =>
  Math.ceil(policy.initial * (policy.factor ?? 2) ** n);

/** Applies the job's rollout rules to its counts now; returns what it did. */
export async function applyRollout(
  jobs: JobStore,
  job: JobRecord,
): Promise<'aborted' | 'released' | 'completed' | undefined> {
  if (job.state !== 'running') return undefined;
  const policy = rolloutOf(job);
  const { states } = await jobs.progress(job.id);
  const done = states.done ?? 0;
  const failed = states.failed ?? 0;
  const ended = done + failed + (states.cancelled ?? 0) + (states.expired ?? 0);
  if (
    policy?.abort &&
    done + failed >= (policy.abort.minFinished ?? 1) &&
    failed / (done + failed) >= policy.abort.failureRatio
  ) {
    const reason = `${failed} of ${done + failed} SIMs failed (abort at ${Math.round(policy.abort.failureRatio * 100)} %)`;
    if (await jobs.setState(job.id, ['running'], 'aborted', reason)) return 'aborted';
  }
  const held = states.held ?? 0;
  if (policy?.waves && held > 0 && job.total - held - ended === 0) {
    const released = await jobs.releaseWave(job.id, job.wave, waveSize(policy.waves, job.wave));
    if (released > 0) return 'released';
  }
  if (held === 0 && ended === job.total && (await jobs.completeIfDone(job.id))) return 'completed';
  return undefined;
}
