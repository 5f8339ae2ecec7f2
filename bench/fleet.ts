// npm run bench: the fleet platform. Import of a 100,000-row vendor file into SQLite (against
// parsing it alone, same run); the campaign engine over a virtual fleet behind an unthrottled local
// SMSC (SIM operations/s, p50/p99 per SIM from attempt to PoR; one worker, SQLite); pacing against
// an SMSC that takes 30 submit_sm/s (the achieved rate, and throttling refusals left unretried).
// The SMSC and the virtual fleet run in this process (not their own, as the issue asks: a gap).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  importVendorFile,
  OtaServer,
  OtaStore,
  PacedSmsLink,
  parseVendorCsv,
  SmppLink,
  type SmsLink,
} from '@iotsafe/ota';
import { startFleet } from '../packages/ota/test/fleet-rig.js';
import { CREDENTIALS } from '../packages/ota/test/rig.js';
import { printTable } from './harness.js';

const STORAGE_KEY = new Uint8Array(32).fill(0x3c);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

function vendorFile(rows: number): string {
  const lines = ['iccid,imsi,msisdn,batch,tags,kvn,kic,kid,psk_identity,psk'];
  for (let i = 0; i < rows; i++) {
    const n = String(i).padStart(8, '0');
    const key = (b: string) => `${b}${n}`.padEnd(32, '0');
    lines.push(
      `89490000000${n},262010${n},4930${n},bench,eu;meter,1,${key('a1')},${key('b2')},id-${n},${key('c3')}`,
    );
  }
  return lines.join('\n');
}

async function importBench(dir: string) {
  const rows = Number(process.env.BENCH_IMPORT_ROWS ?? 100_000);
  const text = vendorFile(rows);
  let started = performance.now();
  parseVendorCsv(text);
  const parseSeconds = (performance.now() - started) / 1000;
  const store = await OtaStore.open(join(dir, 'import.db'), STORAGE_KEY, { create: true });
  started = performance.now();
  const report = await importVendorFile(store, text);
  const importSeconds = (performance.now() - started) / 1000;
  await store.close();
  if (report.imported !== rows) throw new Error(`imported ${report.imported} of ${rows}`);
  return [
    {
      name: `parse and check ${fmt(rows)} rows (baseline)`,
      value: fmt(parseSeconds, 2),
      unit: 's',
      ratio: '1.00',
    },
    {
      name: `import ${fmt(rows)} SIMs with key sets and PSKs (SQLite)`,
      value: fmt(importSeconds, 2),
      unit: 's',
      ratio: (importSeconds / parseSeconds).toFixed(2),
      target: '≤ 20 s',
    },
  ];
}

/** Records when each submit_sm was accepted. */
function timed(link: SmsLink, at: number[]): SmsLink {
  return {
    submit: async (to: string, userData: Uint8Array) => {
      const id = await link.submit(to, userData);
      at.push(performance.now());
      return id;
    },
    onMessage: (handler) => link.onMessage(handler),
    close: () => link.close(),
    ...(link.ready ? { ready: () => link.ready!() } : {}),
  };
}

async function campaignBench(dir: string, sims: number, tps?: number) {
  const fleet = await startFleet(sims, {
    network: { recordSubmits: false, ...(tps ? { maxSubmitsPerSecond: tps, throttleBurst: 1 } : {}) },
  });
  const store = await OtaStore.open(join(dir, `campaign-${sims}-${tps ?? 0}.db`), STORAGE_KEY, {
    create: true,
  });
  await fleet.populate(store);
  const bind = await SmppLink.connect({ host: '127.0.0.1', port: fleet.network.port, ...CREDENTIALS });
  const paced = new PacedSmsLink([bind], { window: 64, ...(tps ? { tps } : {}) });
  const submitted: number[] = [];
  const link = timed(paced, submitted);
  const server = new OtaServer(store, link, { timeoutMs: 10_000, worker: { idleMs: 5, concurrency: 512 } });
  const started = performance.now();
  const job = await server.submitJob({
    sims: fleet.sims.map((s) => s.iccid),
    steps: [{ tar: 'B00000', script: '00a40004022fe2' }],
    retry: { noPor: 0, smscError: 5, backoffMs: 50 },
  });
  const ended = await server.waitFor(job.id);
  const seconds = (performance.now() - started) / 1000;
  const attempts = await store.jobs.attemptsOf(job.id);
  const latency = attempts
    .filter((a) => a.finishedAt !== undefined)
    .map((a) => a.finishedAt! - a.createdAt)
    .sort((a, b) => a - b);
  const progress = await store.jobs.progress(job.id);
  await server.close();
  await link.close();
  await store.close();
  const refused = fleet.network.refused.length;
  await fleet.stop();
  return { seconds, latency, progress, state: ended.state, submitted, refused };
}

export async function fleetBenchmarks(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'iotsafe-bench-fleet-'));
  try {
    printTable('Fleet: vendor batch import (ratio = time against parsing alone)', await importBench(dir));

    const sims = Number(process.env.BENCH_FLEET_SIMS ?? 3000);
    const run = await campaignBench(dir, sims);
    printTable(`Fleet: campaign engine, ${fmt(sims)} virtual SIMs, unthrottled SMSC, one worker, SQLite`, [
      {
        name: `campaign (${run.state}, ${run.progress.states.done ?? 0} done)`,
        value: fmt(sims / run.seconds),
        unit: 'SIM ops/s',
        target: '≥ 1,000/s',
      },
      { name: 'per SIM, attempt to PoR, p50', value: fmt(percentile(run.latency, 0.5)), unit: 'ms' },
      { name: 'per SIM, attempt to PoR, p99', value: fmt(percentile(run.latency, 0.99)), unit: 'ms' },
    ]);

    const paced = await campaignBench(dir, 150, 30);
    const times = paced.submitted;
    const rate = times.length > 1 ? ((times.length - 1) * 1000) / (times[times.length - 1]! - times[0]!) : 0;
    printTable('Fleet: pacing against an SMSC limited to 30 submit_sm/s (150 SIMs)', [
      {
        name: `achieved rate (${paced.state})`,
        value: fmt(rate, 1),
        unit: 'SMS/s',
        ratio: (rate / 30).toFixed(3),
        target: 'within 5 % of 30',
      },
      { name: 'ESME_RTHROTTLED answers (each retried)', value: fmt(paced.refused), unit: 'submit_sm' },
      {
        name: 'SIMs not done',
        value: fmt(150 - (paced.progress.states.done ?? 0)),
        unit: 'SIMs',
        target: '0',
      },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await fleetBenchmarks();
