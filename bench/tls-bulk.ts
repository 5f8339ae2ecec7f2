// Bulk record throughput, our client vs Node's native one with TLS_AES_128_GCM_SHA256, both ways. The
// server runs in another process, so this process's CPU time is the client's: the ratio is taken on
// MiB per CPU-second of the client, and wall-clock MB/s is shown beside it. A shared 2-core machine's
// load still moves the CPU cost of a byte (caches, frequency), so on connections kept open, after a
// warm-up, each round has the clients take turns over short slices (the order rotated), so that they
// see the same second of load; the ratio reported is the median of the rounds' own ratios, with their
// spread (interquartile range, min-max). BULK_BEFORE=path/to/another checkout's
// packages/tls/src/index.ts adds that client to the same rounds (before/after a change).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  aeadBackend,
  connect as ourConnect,
  SoftwareKeyOps,
  setNativeAead,
  type TlsClientSocket,
} from '@iotsafe/tls';
import { testPki } from '../test/helpers/pki.js';
import { printTable } from './harness.js';

/**
 * Bytes per client and round, in SLICES transfers that the clients take in turn (so that both see the
 * same second of the machine's load), and rounds per direction.
 */
const PER_ROUND = Number(process.env.BULK_MIB ?? 32) * 1024 * 1024;
const SLICES = 8;
const TOTAL = PER_ROUND / SLICES;
const ROUNDS = Number(process.env.BULK_ROUNDS ?? 15);
const WARM_UP = 2;
const pki = testPki();

interface Rate {
  /** MB/s of wall-clock time. */
  wall: number;
  /** MiB per CPU-second of this process (the client). */
  cpu: number;
}

/** Seconds one transfer (TOTAL bytes) took, of wall-clock and of this process's CPU. */
interface Spent {
  wall: number;
  cpu: number;
}

type Client = tls.TLSSocket | TlsClientSocket;

/**
 * The clients share this process's heap: a young-generation collection ends each transfer, inside its
 * measurement, so that a client pays for collecting its own garbage, not the next client's turn.
 */
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as (options: { type: 'minor' }) => void;

async function measureRate(run: () => Promise<void>): Promise<Spent> {
  const started = performance.now();
  const before = process.cpuUsage();
  await run();
  collect({ type: 'minor' });
  const used = process.cpuUsage(before);
  return { wall: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6 };
}

/** A round's rate: its slices' bytes over their summed times. */
function rate(slices: Spent[]): Rate {
  const mib = (slices.length * TOTAL) / 1024 / 1024;
  const sum = (key: keyof Spent) => slices.reduce((total, s) => total + s[key], 0);
  return { wall: mib / sum('wall'), cpu: mib / sum('cpu') };
}

/** Client to server: TOTAL bytes written, then the sink's one-byte acknowledgement. */
async function upload(socket: Client): Promise<Spent> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  return measureRate(async () => {
    const acknowledged = once(socket, 'data');
    for (let sent = 0; sent < TOTAL; sent += chunk.length)
      if (!socket.write(chunk)) await once(socket, 'drain');
    await acknowledged;
  });
}

/** Server to client: one byte asks the source for TOTAL bytes, counted as they arrive. */
async function download(socket: Client): Promise<Spent> {
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

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  return sorted[low]! + (sorted[Math.ceil(at)]! - sorted[low]!) * (at - low);
};
const median = (values: number[]) => quantile(values, 0.5);

interface Compared {
  name: string;
  connect: typeof ourConnect | null;
  /** Our AEAD backend for this client's record keys: the addon (where it loads) or node:crypto. */
  native?: boolean;
}

/**
 * The clients compared: Node's (the baseline), ours with the AEAD addon and with node:crypto (where
 * the addon did not load, only the latter), and optionally ours from another checkout.
 */
async function clients(): Promise<Compared[]> {
  const list: Compared[] = [{ name: "Node's native tls client (baseline)", connect: null }];
  if (setNativeAead(true))
    list.push({ name: 'our record layer (AEAD: aead-native)', connect: ourConnect, native: true });
  list.push({ name: 'our record layer (AEAD: node:crypto)', connect: ourConnect, native: false });
  const before = process.env.BULK_BEFORE;
  if (before) {
    const other = (await import(before)) as { connect: typeof ourConnect };
    list.push({ name: 'our record layer before (BULK_BEFORE)', connect: other.connect });
  }
  return list;
}

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
  const compared = await clients();
  // one at a time: the AEAD backend is taken when the handshake makes the traffic keys
  const open = async (port: number, client: Compared): Promise<Client> => {
    const target = { host: '127.0.0.1', servername: 'localhost', port, ca: pki.ca.certificatePem };
    if (client.native !== undefined) setNativeAead(client.native);
    const socket = client.connect
      ? client.connect({ ...target, keyOps: software, cipherSuites: [0x1301] })
      : tls.connect({ ...target, ciphers: 'TLS_AES_128_GCM_SHA256' });
    await once(socket, 'secureConnect');
    setNativeAead(true);
    return socket;
  };
  const openAll = async (port: number) => {
    const sockets: Client[] = [];
    for (const client of compared) sockets.push(await open(port, client));
    return sockets;
  };
  const rows: Parameters<typeof printTable>[1] = [];
  const fmt = (n: number) => n.toFixed(0);
  const two = (n: number) => n.toFixed(2);
  try {
    for (const [direction, port, run] of [
      ['client to server', ports.sink, upload],
      ['server to client', ports.source, download],
    ] as const) {
      const sockets = await openAll(port);
      for (let i = 0; i < WARM_UP; i++) for (const socket of sockets) await run(socket);
      const rates: Rate[][] = sockets.map(() => []);
      for (let round = 0; round < ROUNDS; round++) {
        const spent: Spent[][] = sockets.map(() => []);
        for (let slice = 0; slice < SLICES; slice++)
          for (let k = 0; k < sockets.length; k++) {
            const i = (round + slice + k) % sockets.length; // each client goes first as often as the others
            spent[i]!.push(await run(sockets[i]!));
          }
        spent.forEach((slices, i) => {
          rates[i]!.push(rate(slices));
        });
      }
      for (const socket of sockets) socket.destroy();
      const native = rates[0]!;
      compared.forEach((client, i) => {
        const own = rates[i]!;
        const ratios = own.map((r, round) => r.cpu / native[round]!.cpu);
        rows.push({
          name: `${direction}: ${client.name}`,
          value: `${fmt(median(own.map((r) => r.cpu)))} (${fmt(median(own.map((r) => r.wall)))} MB/s wall)`,
          unit: 'MiB per client CPU-s',
          ratio:
            i === 0
              ? '1.00x'
              : `${two(median(ratios))}x (IQR ${two(quantile(ratios, 0.25))}-${two(quantile(ratios, 0.75))}, ${two(Math.min(...ratios))}-${two(Math.max(...ratios))})`,
          ...(i === 0 ? {} : { target: '>= 0.6x' }),
        });
      });
    }
  } finally {
    server.stdin!.end();
  }
  if (compared.length === 2)
    rows.push({ name: `aead-native: ${aeadBackend().reason}`, value: '-', unit: '' });
  printTable(
    `Bulk throughput, TLS_AES_128_GCM_SHA256, server in another process: ${WARM_UP} warm-up transfers and ${ROUNDS} measured rounds of ${PER_ROUND / 1024 / 1024} MiB per client and direction (${SLICES} slices taken in turn, order rotated); ratio = median of the rounds' ratios to Node's (IQR, min-max)`,
    rows,
  );
}
