// Following a campaign until its job ends: its view read from the API every `pollMs`, a progress bar
// on stderr (cli-progress) with the SIMs ended of all, done and failed, the wave and the job's state.
// On a terminal the bar redraws itself; elsewhere (a log, CI) it prints a line every few seconds.
import { type Options, SingleBar } from 'cli-progress';
import type { FleetApi } from './fleet-client.js';

export interface JobView {
  id: string;
  state: string;
  reason?: string;
  total: number;
  wave: number;
  progress: { states: Record<string, number>; outcomes: Record<string, number> };
}

export interface CampaignView {
  id: string;
  name: string;
  state: string;
  job?: JobView;
}

export const FINAL_JOB_STATES = ['completed', 'cancelled', 'aborted', 'expired'];

/** SIMs whose item has ended (done, failed, cancelled, expired). */
export function endedOf(job: JobView): number {
  const s = job.progress.states;
  return (s.done ?? 0) + (s.failed ?? 0) + (s.cancelled ?? 0) + (s.expired ?? 0);
}

/** A campaign's state in a line: the job's state, the counts by item state, why it stopped. */
export function describeCampaign(view: CampaignView): string {
  const job = view.job;
  if (!job) return `campaign ${view.name} (${view.id}): ${view.state}`;
  const states = Object.entries(job.progress.states)
    .map(([state, n]) => `${n} ${state}`)
    .join(', ');
  return `campaign ${view.name} (${view.id}): ${job.state}, ${endedOf(job)} of ${job.total} SIMs ended (${states || 'none yet'}), ${job.wave} wave(s) released${job.reason ? `; ${job.reason}` : ''}`;
}

export interface FollowOptions {
  /** Draw the bar (default: true). */
  bar?: boolean;
  pollMs?: number;
  /** Where the bar goes (default stderr). */
  stream?: NodeJS.WritableStream;
  /** Called with each view read (the demo prints lines from it). */
  onView?: (view: CampaignView) => void;
}

/** Reads the campaign until its job has ended; returns its last view. */
export async function followCampaign(
  api: FleetApi,
  id: string,
  options: FollowOptions = {},
): Promise<CampaignView> {
  const read = async () => (await api.call('GET', `/campaigns/${id}`)) as CampaignView;
  let view = await read();
  if (!view.job) return view;
  const settings: Options = {
    format: '{bar} {value}/{total} SIMs | {done} done, {failed} failed | waves {wave} | {state}',
    stream: options.stream ?? process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 2000,
    hideCursor: true,
  };
  const bar = options.bar === false ? undefined : new SingleBar(settings);
  const payload = (job: JobView) => ({
    done: job.progress.states.done ?? 0,
    failed: job.progress.states.failed ?? 0,
    wave: job.wave,
    state: job.state,
  });
  bar?.start(view.job.total, endedOf(view.job), payload(view.job));
  try {
    for (;;) {
      const job = view.job!;
      bar?.update(endedOf(job), payload(job));
      options.onView?.(view);
      if (FINAL_JOB_STATES.includes(job.state)) return view;
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 200));
      view = await read();
    }
  } finally {
    bar?.stop();
  }
}
