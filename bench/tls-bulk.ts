// Bulk record throughput, our client vs Node's native one with TLS_AES_128_GCM_SHA256, both ways. The
// server runs in another process, so this process's CPU time is the client's: the ratio is taken on
// MiB per CPU-second of the client, and wall-clock MB/s is shown beside it. A shared 2-core machine's
// load still moves the CPU cost of a byte (caches, frequency), so the two clients take turns over
// many short rounds (the order swapped each round) on connections kept open, and the ratio reported
// is the median of the rounds' own ratios, with their spread: a load that changes between rounds
// moves both sides of a round alike.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { SoftwareKeyOps, type TlsClientSocket } from '@iotsafe/tls';
import { connectToTestServer, testPki } from '../test/helpers/pki.js';
import { printTable } from './harness.js';

/** Bytes per transfer and rounds per direction (each round: one transfer by each client). */
const TOTAL = Number(process.env.BULK_MIB ?? 32) * 1024 * 1024;
const ROUNDS = Number(process.env.BULK_ROUNDS ?? 9);
const pki = testPki();

interface Rate {
  /** MB/s of wall-clock time. */
  wall: number;
  /** MiB per CPU-second of this process (the client). */
  cpu: number;
}

type Client = tls.TLSSocket | TlsClientSocket;

async function measureRate(run: () => Promise<void>): Promise<Rate> {
  const started = performance.now();
  const before = process.cpuUsage();
  await run();
  const used = process.cpuUsage(before);
  const mib = TOTAL / 1024 / 1024;
  return { wall: mib / ((performance.now() - started) / 1000), cpu: mib / ((used.user + used.system) / 1e6) };
}

/** Client to server: TOTAL bytes written, then the sink's one-byte acknowledgement. */
async function upload(socket: Client): Promise<Rate> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  return measureRate(async () => {
    const acknowledged = once(socket, 'data');
    for (let sent = 0; sent < TOTAL; sent += chunk.length)
      if (!socket.write(chunk)) await once(socket, 'drain');
    await acknowledged;
  });
}

/** Server to client: one byte asks the source for TOTAL bytes, counted as they arrive. */
async function download(socket: Client): Promise<Rate> {
  return measureRate(
    () =>
      new Promise<void>((resolve) => {
        let got = 0;
        const onData = (d: Buffer) => {
          got += d.length;
          if (got < TOTAL) return;
          socket.off('data', onData);
          resolve();
        };
        socket.on('data', onData);
        socket.write('g');
      }),
  );
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

export async function tlsBulkBenchmarks(): Promise<void> {
  const server = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./tls-bulk-server.ts', import.meta.url))],
    {
      env: {
        ...process.env,
        BULK_TOTAL: String(TOTAL),
        BULK_KEY: pki.server.keyPem,
        BULK_CERT: pki.server.certificatePem,
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const [line] = (await once(server.stdout!, 'data')) as [Buffer];
  const ports = JSON.parse(line.toString()) as { sink: number; source: number };
  const software = new SoftwareKeyOps();
  const open = async (port: number, native: boolean): Promise<Client> => {
    const socket = native
      ? tls.connect({
          host: '127.0.0.1',
          servername: 'localhost',
          port,
          ca: pki.ca.certificatePem,
          ciphers: 'TLS_AES_128_GCM_SHA256',
        })
      : connectToTestServer(pki, port, { keyOps: software, cipherSuites: [0x1301] });
    await once(socket, 'secureConnect');
    return socket;
  };
  const rows = [];
  const fmt = (n: number) => n.toFixed(0);
  try {
    for (const [direction, port, run] of [
      ['client to server', ports.sink, upload],
      ['server to client', ports.source, download],
    ] as const) {
      const nativeSocket = await open(port, true);
      const ourSocket = await open(port, false);
      await run(nativeSocket); // warm-up, both
      await run(ourSocket);
      const native: Rate[] = [];
      const ours: Rate[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        if (round % 2 === 0) {
          native.push(await run(nativeSocket));
          ours.push(await run(ourSocket));
        } else {
          ours.push(await run(ourSocket));
          native.push(await run(nativeSocket));
        }
      }
      nativeSocket.destroy();
      ourSocket.destroy();
      const ratios = ours.map((r, i) => r.cpu / native[i]!.cpu);
      rows.push(
        {
          name: `${direction}: Node's native tls client (baseline)`,
          value: `${fmt(median(native.map((r) => r.cpu)))} (${fmt(median(native.map((r) => r.wall)))} MB/s wall)`,
          unit: 'MiB per client CPU-s',
          ratio: '1.00x',
        },
        {
          name: `${direction}: our record layer`,
          value: `${fmt(median(ours.map((r) => r.cpu)))} (${fmt(median(ours.map((r) => r.wall)))} MB/s wall)`,
          unit: 'MiB per client CPU-s',
          ratio: `${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`,
          target: '>= 0.6x',
        },
      );
    }
  } finally {
    server.stdin!.end();
  }
  printTable(
    `Bulk throughput, TLS_AES_128_GCM_SHA256, server in another process: ${ROUNDS} rounds of ${TOTAL / 1024 / 1024} MiB per client and direction, order swapped each round; ratio = median of the rounds' ratios (min-max)`,
    rows,
  );
}
