// npm run bench: the fleet platform (issue 16's benchmark). Import of a 100,000-row vendor file into
// SQLite (against parsing it alone, same run); the campaign engine over a virtual fleet behind an
// unthrottled local SMSC (SIM operations/s, p50/p99 per SIM from attempt to PoR), one worker on
// SQLite, then PostgreSQL with one and two workers side by side; pacing against an SMSC that takes
// 30 submit_sm/s; API latency under 100 concurrent clients; memory per 10,000 SIMs in a running
// campaign (fleet-memory.ts). The virtual fleet and its SMSC run in a process of their own (fleet-network.ts), each
// worker in its own (fleet-worker.ts), the API's clients in another (fleet-api-client.ts).
// BENCH_IMPORT_ROWS and BENCH_FLEET_SIMS shorten a run; BENCH_CPU_PROF=dir profiles the workers;
// BENCH_FLEET_PARTS (a comma list of import, sqlite, postgres, pacing, api) runs only those parts;
// BENCH_WORKER_FLAGS adds Node flags to the workers (e.g. --max-semi-space-size=2); BENCH_HEAP_PROMOTED=
// dir writes each worker's promoted allocations there (fleet-worker.ts).
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  importVendorFile,
  OtaServer,
  OtaStore,
  parseVendorCsv,
  type SmsLink,
  serveOtaApi,
  type TestNetworkOptions,
  TokenStore,
} from '@iotsafe/ota';
import { bytesToHex, hexToBytes } from '@iotsafe/protocol';
import { postgresAvailable, startPostgres } from '../packages/ota/test/postgres.js';
import type { ClientResult, ClientRun } from './fleet-api-client.js';
import { memoryBench } from './fleet-memory.js';
import type { NetworkCounts, NetworkReady, NetworkStart } from './fleet-network.js';
import type { WorkerDone, WorkerStart } from './fleet-worker.js';
import { printTable } from './harness.js';

const STORAGE_KEY = new Uint8Array(32).fill(0x3c);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
const percentile = (sorted: readonly number[], p: number) =>
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

// ---- child processes ----

function forkChild(script: string, profileDir?: string, flags: string[] = []): ChildProcess {
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, ...flags] : flags;
  return fork(fileURLToPath(new URL(script, import.meta.url)), [], {
    execArgv: ['--conditions=development', '--import', 'tsx', '--expose-gc', ...profile],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function nextMessage<T extends { type: string }>(child: ChildProcess, type: T['type']): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: T) => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message);
    };
    const onExit = (code: number | null) =>
      reject(new Error(`a bench child exited (${code}) before '${type}'`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
  );

interface Network {
  port: number;
  sims: NetworkReady['sims'];
  counts(): Promise<NetworkCounts>;
  stop(): Promise<void>;
}

async function startNetwork(sims: number, network: TestNetworkOptions): Promise<Network> {
  const child = forkChild('./fleet-network.ts');
  const start: NetworkStart = { sims, network };
  child.send(start);
  const ready = await nextMessage<NetworkReady>(child, 'ready');
  return {
    port: ready.port,
    sims: ready.sims,
    counts: () => {
      child.send({ type: 'counts' });
      return nextMessage<NetworkCounts>(child, 'counts');
    },
    stop: async () => {
      child.send({ type: 'stop' });
      await exited(child);
    },
  };
}

async function startWorker(
  start: WorkerStart,
  extraFlags: readonly string[] = [],
): Promise<{ stop(): Promise<WorkerDone> }> {
  const flags = [...(process.env.BENCH_WORKER_FLAGS?.split(' ').filter(Boolean) ?? []), ...extraFlags];
  const child = forkChild('./fleet-worker.ts', process.env.BENCH_CPU_PROF, flags);
  child.send(start);
  await nextMessage(child, 'ready');
  return {
    stop: async () => {
      child.send({ type: 'stop' });
      const done = await nextMessage<WorkerDone>(child, 'done');
      await exited(child);
      return done;
    },
  };
}

// The parent only creates jobs and watches them: the workers send.
const NO_LINK: SmsLink = {
  submit: () => Promise.reject(new Error('the bench parent sends nothing')),
  onMessage: () => {},
  close: async () => {},
};

export interface CampaignRun {
  seconds: number;
  /** Of which creating the job (every SIM, key set and script size checked first). */
  submitted: number;
  latency: number[];
  done: number;
  state: string;
  workers: WorkerDone[];
  counts: NetworkCounts;
  unretried: number;
}

async function campaignBench(options: {
  store: string;
  sims: number;
  workers: number;
  tps?: number;
  burst?: number;
  network?: TestNetworkOptions;
  /** Node flags of the worker processes (a bounded heap). */
  workerFlags?: readonly string[];
  /** The workers' heap growing percent (0: V8's own; default: what the CLI sets). */
  heapGrowingPercent?: number;
}): Promise<CampaignRun> {
  const network = await startNetwork(options.sims, { recordSubmits: false, ...options.network });
  const store = await OtaStore.open(options.store, STORAGE_KEY, { create: true });
  try {
    await store.sims.addMany(
      network.sims.map((s) => ({
        sim: { iccid: s.iccid, msisdn: s.msisdn, batch: 'fleet' },
        keySets: [{ kvn: 1, kicByte: 0x12, kidByte: 0x12, kic: hexToBytes(s.kic), kid: hexToBytes(s.kid) }],
      })),
    );
    const workers = await Promise.all(
      Array.from({ length: options.workers }, () =>
        startWorker(
          {
            store: options.store,
            storageKey: bytesToHex(STORAGE_KEY),
            port: network.port,
            window: 64,
            concurrency: 512,
            sims: Math.ceil(options.sims / options.workers),
            ...(options.tps ? { tps: options.tps / options.workers } : {}),
            ...(options.burst ? { burst: options.burst } : {}),
            ...(options.heapGrowingPercent === undefined
              ? {}
              : { heapGrowingPercent: options.heapGrowingPercent }),
          },
          options.workerFlags,
        ),
      ),
    );
    const server = new OtaServer(store, NO_LINK, { worker: false, pollMs: 20 });
    const started = performance.now();
    const job = await server.submitJob({
      sims: network.sims.map((s) => s.iccid),
      steps: [{ tar: 'B00000', script: '00a40004022fe2' }],
      retry: { noPor: 0, smscError: 5, backoffMs: 50 },
    });
    const submitted = (performance.now() - started) / 1000;
    const ended = await server.waitFor(job.id);
    const seconds = (performance.now() - started) / 1000;
    const done = await Promise.all(workers.map((w) => w.stop()));
    await server.close();
    const attempts = await store.jobs.attemptsOf(job.id);
    const latency = attempts
      .filter((a) => a.finishedAt !== undefined)
      .map((a) => a.finishedAt! - a.createdAt)
      .sort((a, b) => a - b);
    const progress = await store.jobs.progress(job.id);
    return {
      seconds,
      submitted,
      latency,
      done: progress.states.done ?? 0,
      state: ended.state,
      workers: done,
      counts: await network.counts(),
      unretried: progress.outcomes.smsc_error ?? 0,
    };
  } finally {
    await store.close();
    await network.stop();
  }
}

function campaignRows(label: string, sims: number, run: CampaignRun) {
  const sum = (key: 'cpuMs' | 'statements' | 'transactions') =>
    run.workers.reduce((total, worker) => total + worker[key], 0);
  return [
    {
      name: `${label} (${run.state}, ${fmt(run.done)} of ${fmt(sims)} done)`,
      value: fmt(sims / run.seconds),
      unit: 'SIM ops/s',
      target: '≥ 1,000/s',
    },
    { name: `${label}: of which creating the job`, value: fmt(run.submitted, 2), unit: 's' },
    { name: `${label}: worker CPU per SIM`, value: fmt(sum('cpuMs') / sims, 3), unit: 'ms' },
    {
      name: `${label}: SQL statements (transactions) per SIM`,
      value: `${fmt(sum('statements') / sims, 2)} (${fmt(sum('transactions') / sims, 2)})`,
      unit: '',
    },
    { name: `${label}: per SIM, attempt to PoR, p50`, value: fmt(percentile(run.latency, 0.5)), unit: 'ms' },
    { name: `${label}: per SIM, attempt to PoR, p99`, value: fmt(percentile(run.latency, 0.99)), unit: 'ms' },
  ];
}

async function apiBench(dir: string, sims: number) {
  const network = await startNetwork(sims, { recordSubmits: false });
  const store = await OtaStore.open(join(dir, 'api.db'), STORAGE_KEY, { create: true });
  await store.sims.addMany(
    network.sims.map((s, i) => ({
      sim: { iccid: s.iccid, msisdn: s.msisdn, batch: 'fleet', tags: [i % 2 ? 'odd' : 'even'] },
      keySets: [{ kvn: 1, kicByte: 0x12, kidByte: 0x12, kic: hexToBytes(s.kic), kid: hexToBytes(s.kid) }],
    })),
  );
  const { token } = await new TokenStore(store.engine).create('bench', 'viewer');
  const server = new OtaServer(store, NO_LINK, { worker: false });
  const api = await serveOtaApi(server, { tokens: ['bench-static-token-0123456789'] });
  const clients = forkChild('./fleet-api-client.ts');
  const run = async (paths: string[], withToken: boolean): Promise<ClientResult> => {
    const request: ClientRun = {
      url: api.url,
      paths,
      clients: 100,
      requests: 4000,
      ...(withToken ? { token } : {}),
    };
    clients.send(request);
    return nextMessage<ClientResult>(clients, 'latencies');
  };
  try {
    const some = network.sims.filter((_, i) => i % 97 === 0).map((s) => `/sims/${s.iccid}`);
    const refused = await run(['/sims'], false);
    const reads = await run(['/sims?limit=50&tag=odd', ...some], true);
    if (refused.statuses['401'] !== 4000 || reads.statuses['200'] !== 4000)
      throw new Error(`unexpected answers: ${JSON.stringify([refused.statuses, reads.statuses])}`);
    const p99 = (r: ClientResult) => percentile(r.latencies, 0.99);
    return [
      {
        name: '401 without a token (baseline), p99',
        value: fmt(p99(refused), 1),
        unit: 'ms',
        ratio: '1.00',
      },
      {
        name: `GET /sims?tag (50 a page) and /sims/:iccid, viewer token, p50`,
        value: fmt(percentile(reads.latencies, 0.5), 1),
        unit: 'ms',
      },
      {
        name: `GET /sims?tag and /sims/:iccid, p99 (${fmt(4000 / reads.seconds)} requests/s)`,
        value: fmt(p99(reads), 1),
        unit: 'ms',
        ratio: (p99(reads) / p99(refused)).toFixed(2),
      },
    ];
  } finally {
    clients.kill();
    await api.stop();
    await server.close();
    await store.close();
    await network.stop();
  }
}

const parts = process.env.BENCH_FLEET_PARTS?.split(',');
const runs = (part: 'import' | 'sqlite' | 'postgres' | 'pacing' | 'api') => !parts || parts.includes(part);

export async function fleetBenchmarks(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'iotsafe-bench-fleet-'));
  try {
    if (runs('import'))
      printTable('Fleet: vendor batch import (ratio = time against parsing alone)', await importBench(dir));

    const sims = Number(process.env.BENCH_FLEET_SIMS ?? 10_000);
    const rows: ReturnType<typeof campaignRows> = [];
    const sqlite = runs('sqlite')
      ? await campaignBench({ store: join(dir, 'campaign.db'), sims, workers: 1 })
      : undefined;
    if (sqlite) rows.push(...campaignRows('SQLite, 1 worker', sims, sqlite));
    const available = runs('postgres') ? postgresAvailable() : false;
    if (available === true) {
      const postgres = await startPostgres();
      try {
        for (const workers of [1, 2]) {
          const url = await postgres.createDatabase(`campaign${workers}`);
          const run = await campaignBench({ store: url, sims, workers });
          rows.push(
            ...campaignRows(`PostgreSQL (fsync off), ${workers} worker${workers > 1 ? 's' : ''}`, sims, run),
          );
        }
      } finally {
        await postgres.stop();
      }
    } else if (available !== false)
      rows.push({ name: `PostgreSQL: ${available}`, value: '-', unit: '', target: '' });
    if (rows.length)
      printTable(`Fleet: campaign engine, ${fmt(sims)} virtual SIMs, unthrottled SMSC (own process)`, rows);

    if (sqlite) await memoryBench(campaignBench, dir, sims, sqlite);

    if (runs('pacing')) await pacingBench(dir);
    if (runs('api'))
      printTable(
        `Fleet: API latency, 100 concurrent clients, ${fmt(sims)} SIMs (clients in their own process)`,
        await apiBench(dir, sims),
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Two ways an SMSC enforces 30 TPS: a strict one spaces every submit_sm 1/30 s apart (a bucket of one:
// any jitter of either process is lost for good), the common one counts per second (a bucket of 30:
// a late SMS may be caught up, and the pacer is given the same burst).
const SMSC_MODELS = [
  { name: 'strict spacing (bucket of 1)', throttleBurst: 1, pacerBurst: 1 },
  { name: 'per second (bucket of 30)', throttleBurst: 30, pacerBurst: 1 },
] as const;

async function pacingBench(dir: string): Promise<void> {
  const rows = [];
  for (const model of SMSC_MODELS) {
    const paced = await campaignBench({
      store: join(dir, `paced-${model.throttleBurst}.db`),
      sims: 300,
      workers: 1,
      tps: 30,
      burst: model.pacerBurst,
      network: { maxSubmitsPerSecond: 30, throttleBurst: model.throttleBurst },
    });
    const rate = paced.counts.acceptedRate;
    rows.push(
      {
        name: `${model.name}: achieved rate (${paced.state})`,
        value: fmt(rate, 1),
        unit: 'SMS/s',
        ratio: (rate / 30).toFixed(3),
        target: 'within 5 % of 30',
      },
      {
        name: `${model.name}: ESME_RTHROTTLED answers (each retried)`,
        value: fmt(paced.counts.throttled),
        unit: 'submit_sm',
      },
      {
        name: `${model.name}: SIMs failed on an SMSC error / not done`,
        value: `${fmt(paced.unretried)} / ${fmt(300 - paced.done)}`,
        unit: 'SIMs',
        target: '0 / 0',
      },
    );
  }
  printTable(
    'Fleet: pacing against an SMSC limited to 30 submit_sm/s (300 SIMs, rate as the SMSC clocked it)',
    rows,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await fleetBenchmarks();
