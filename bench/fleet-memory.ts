// The fleet bench's memory part (bench/fleet.ts runs it): the OTA worker process's memory over SQLite
// campaigns. The campaign engine's own run (the worker as `iotsafe ota worker` starts it, V8's heap
// growth moderated) against the same campaign with V8's own growth (the baseline, same run), and a
// campaign four times as large, so that what a campaign costs per 10,000 more SIMs shows beside its
// peak. Peaks are sampled over each campaign's first 90 % (fleet-worker.ts), over the worker's size
// when ready; the live heap is taken after a full collection at 90 %.
import { join } from 'node:path';
import type { CampaignRun } from './fleet.js';
import { printTable } from './harness.js';

const MiB = 1024 * 1024;
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
const mib = (bytes: number) => fmt(bytes / MiB, 1);

export type RunCampaign = (options: {
  store: string;
  sims: number;
  workers: number;
  heapGrowingPercent?: number;
}) => Promise<CampaignRun>;

export async function memoryBench(
  run: RunCampaign,
  dir: string,
  sims: number,
  moderated: CampaignRun,
): Promise<void> {
  const own = await run({ store: join(dir, 'own-growth.db'), sims, workers: 1, heapGrowingPercent: 0 });
  const large = sims * 4;
  const larger = await run({ store: join(dir, 'large.db'), sims: large, workers: 1 });
  const [m, o, l] = [moderated, own, larger].map((r) => r.workers[0]!);
  const percent = m!.heapGrowingPercent;
  const opsPerSecond = (r: CampaignRun, n: number) => n / r.seconds;
  const speed = (r: CampaignRun, n: number) =>
    `${fmt(opsPerSecond(r, n))}, ${(r.workers[0]!.cpuMs / n).toFixed(3)} ms`;
  const per10k = (l!.peakRssDelta - m!.peakRssDelta) / ((large - sims) / 10_000);
  const label = `old space grown ${percent} % between full GCs (default)`;
  printTable(`Fleet: memory of the worker process over SQLite campaigns (over its size when ready)`, [
    {
      name: `V8's own heap growth (baseline): peak resident size, ${fmt(sims)} SIMs`,
      value: mib(o!.peakRssDelta),
      unit: 'MiB',
      ratio: '1.00',
    },
    {
      name: `${label}: peak resident size, ${fmt(sims)} SIMs`,
      value: mib(m!.peakRssDelta),
      unit: 'MiB',
      ratio: (m!.peakRssDelta / o!.peakRssDelta).toFixed(2),
      target: '≤ 50 MB',
    },
    {
      name: `peak JS heap, ${fmt(sims)} SIMs: default (V8's own)`,
      value: `${mib(m!.peakHeapDelta)} (${mib(o!.peakHeapDelta)})`,
      unit: 'MiB',
      ratio: (m!.peakHeapDelta / o!.peakHeapDelta).toFixed(2),
    },
    {
      name: `live JS heap after a full GC, 90 % in: ${fmt(sims)} SIMs (${fmt(large)} SIMs)`,
      value: `${mib(m!.liveHeapDelta)} (${mib(l!.liveHeapDelta)})`,
      unit: 'MiB',
    },
    {
      name: `default: peak resident size, ${fmt(large)} SIMs`,
      value: mib(l!.peakRssDelta),
      unit: 'MiB',
    },
    {
      name: `default: more per 10,000 SIMs (${fmt(large)}-SIM peak less ${fmt(sims)}-SIM, per 10,000 more)`,
      value: mib(per10k),
      unit: 'MiB',
      target: '≤ 50 MB',
    },
    {
      name: `V8's own (baseline): SIM ops/s, worker CPU per SIM, ${fmt(sims)} SIMs`,
      value: speed(own, sims),
      unit: '',
      ratio: '1.00',
    },
    {
      name: `default: SIM ops/s, worker CPU per SIM, ${fmt(sims)} SIMs (ratio: ops/s)`,
      value: speed(moderated, sims),
      unit: '',
      ratio: (opsPerSecond(moderated, sims) / opsPerSecond(own, sims)).toFixed(2),
    },
    {
      name: `default: SIM ops/s, worker CPU per SIM, ${fmt(large)} SIMs (ratio: ops/s)`,
      value: speed(larger, large),
      unit: '',
      ratio: (opsPerSecond(larger, large) / opsPerSecond(own, sims)).toFixed(2),
    },
  ]);
}
