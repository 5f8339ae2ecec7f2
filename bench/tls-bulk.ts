// Bulk record throughput, our client vs Node's native one with TLS_AES_128_GCM_SHA256, both ways. The
// server runs in another process, so this process's CPU time is the client's: the ratio is taken on
// MiB per CPU-second of the client, which the load of a shared machine barely moves; wall-clock MB/s
// is shown beside it. Clients alternate, three rounds each, medians reported.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { SoftwareKeyOps, type TlsClientSocket } from '@iotsafe/tls';
import { connectToTestServer, testPki } from '../test/helpers/pki.js';
import { printTable } from './harness.js';

const TOTAL = 64 * 1024 * 1024;
const pki = testPki();

interface Rate {
  wall: number;
  cpu: number;
}

async function measureRate(run: () => Promise<void>): Promise<Rate> {
  const started = performance.now();
  const before = process.cpuUsage();
  await run();
  const used = process.cpuUsage(before);
  const mib = TOTAL / 1024 / 1024;
  return { wall: mib / ((performance.now() - started) / 1000), cpu: mib / ((used.user + used.system) / 1e6) };
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
  const open = async (port: number, native: boolean): Promise<tls.TLSSocket | TlsClientSocket> => {
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
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const upload = async (native: boolean) => {
    const socket = await open(ports.sink, native);
    const rate = await measureRate(async () => {
      const acknowledged = once(socket, 'data');
      for (let sent = 0; sent < TOTAL; sent += chunk.length)
        if (!socket.write(chunk)) await once(socket, 'drain');
      await acknowledged;
    });
    socket.destroy();
    return rate;
  };
  const download = async (native: boolean) => {
    const socket = await open(ports.source, native);
    const rate = await measureRate(
      () =>
        new Promise<void>((resolve) => {
          let got = 0;
          socket.on('data', (d: Buffer) => {
            got += d.length;
            if (got >= TOTAL) resolve();
          });
        }),
    );
    socket.destroy();
    return rate;
  };
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const rows = [];
  try {
    for (const [direction, run] of [
      ['client to server', upload],
      ['server to client', download],
    ] as const) {
      await run(false); // warm-up
      const ours: Rate[] = [];
      const native: Rate[] = [];
      for (let round = 0; round < 3; round++) {
        native.push(await run(true));
        ours.push(await run(false));
      }
      const nodeCpu = median(native.map((r) => r.cpu));
      const ourCpu = median(ours.map((r) => r.cpu));
      rows.push(
        {
          name: `${direction}: Node's native tls client (baseline)`,
          value: `${nodeCpu.toFixed(0)} (${median(native.map((r) => r.wall)).toFixed(0)} MB/s wall)`,
          unit: 'MiB per client CPU-s',
          ratio: '1.00x',
        },
        {
          name: `${direction}: our record layer`,
          value: `${ourCpu.toFixed(0)} (${median(ours.map((r) => r.wall)).toFixed(0)} MB/s wall)`,
          unit: 'MiB per client CPU-s',
          ratio: `${(ourCpu / nodeCpu).toFixed(2)}x`,
          target: '>= 0.6x',
        },
      );
    }
  } finally {
    server.stdin!.end();
  }
  printTable(
    'Bulk throughput, 64 MiB, TLS_AES_128_GCM_SHA256, server in another process (median of 3)',
    rows,
  );
}
