// DTLS 1.2 with the keys in the SIM: SIM commands per handshake (PSK by COMPUTE PRF; ECDHE-ECDSA in sign
// and full offload against openssl s_server when it is installed; a resumed session), handshake time
// under the modem + SIM latency model through the seeded lossy proxy at 0/10/30 % loss each way
// (completion rate, p50, p99, datagrams and bytes on the air), and record throughput against Node's
// TLS over loopback, measured in the same run.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { modemSimLatency } from '@iotsafe/device';
import { hexToBytes, utf8 } from '@iotsafe/protocol';
import { connectDtls, type DtlsClient, type DtlsSession, SoftwareKeyOps } from '@iotsafe/tls';
import { opensslPsk, startOpensslDtlsServer, typeTwoPsk } from '../test/helpers/dtls.js';
import { startScriptedDtlsServer } from '../test/helpers/dtls-server.js';
import { startLossyUdpProxy } from '../test/helpers/lossy-udp-proxy.js';
import { testPki } from '../test/helpers/pki.js';
import { simKeyOps } from '../test/helpers/sim-tls.js';
import { measure, printTable } from './harness.js';

const pki = testPki();
const HANDSHAKES = Number(process.env.BENCH_DTLS_HANDSHAKES ?? 12);
/** RFC 6347's 1 s initial timer (RFC 7925's 9 s would make a lost datagram cost 9 s here). */
const RETRANSMIT = { initial: 1000, max: 8000, maxRetransmissions: 6 };

const opensslInstalled = spawnSync('openssl', ['version'], { stdio: 'ignore' }).error === undefined;

async function apduRows() {
  const rows: { name: string; value: string; unit: string; target?: string }[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'iotsafe-bench-dtls-'));
  try {
    const { client: sim, keyOps, pskHex } = await typeTwoPsk();
    if (!opensslInstalled) {
      rows.push({ name: 'openssl not installed: APDU rows skipped', value: '-', unit: '' });
      return rows;
    }
    const psk = await startOpensslDtlsServer(dir, pki, [...opensslPsk(pskHex), '-cipher', 'PSK-AES128-CCM8']);
    try {
      const before = sim.apduCount;
      const c = connectDtls({ port: psk.port, keyOps, retransmit: RETRANSMIT });
      await c.ready();
      rows.push({
        name: 'PSK-AES128-CCM8 (Type II, COMPUTE PRF)',
        value: String(sim.apduCount - before),
        unit: 'APDUs',
        target: '1',
      });
      await c.close();
    } finally {
      await psk.stop();
    }
    const server = await startOpensslDtlsServer(dir, pki, [
      '-Verify',
      '1',
      '-cipher',
      'ECDHE-ECDSA-AES128-CCM8',
    ]);
    try {
      for (const offload of ['sign', 'full'] as const) {
        const { client, keyOps: ecdsa } = await simKeyOps(pki.ca, offload);
        const options = {
          port: server.port,
          keyOps: ecdsa,
          ca: pki.ca.certificatePem,
          servername: 'localhost',
          retransmit: RETRANSMIT,
        };
        let before = client.apduCount;
        const full = connectDtls(options);
        const session = once(full, 'session') as Promise<[DtlsSession]>;
        await full.ready();
        rows.push({
          name: `ECDHE-ECDSA-AES128-CCM8, ${offload} offload`,
          value: String(client.apduCount - before),
          unit: 'APDUs',
          ...(offload === 'sign' ? { target: '<= 3' } : {}),
        });
        const [kept] = await session;
        await full.close();
        before = client.apduCount;
        const resumed = connectDtls({ ...options, dtlsSession: kept });
        await resumed.ready();
        rows.push({
          name: `  resumed (abbreviated handshake), ${offload} offload`,
          value: String(client.apduCount - before),
          unit: 'APDUs',
          target: '0',
        });
        await resumed.close();
      }
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

async function lossRows() {
  const rows: { name: string; value: string; unit: string; ratio?: string; target?: string }[] = [];
  for (const [loss, seed] of [
    [0, 101],
    [0.1, 102],
    [0.3, 103],
  ] as const) {
    const { keyOps, pskHex } = await typeTwoPsk({ latency: modemSimLatency() });
    const server = await startScriptedDtlsServer({ psk: hexToBytes(pskHex) });
    const proxy = await startLossyUdpProxy({
      target: { host: '127.0.0.1', port: server.port },
      seed,
      toServer: { loss },
      toClient: { loss },
    });
    const times: number[] = [];
    let completed = 0;
    let datagrams = 0;
    let bytes = 0;
    try {
      for (let i = 0; i < HANDSHAKES; i++) {
        const client = connectDtls({ port: proxy.port, keyOps, retransmit: RETRANSMIT });
        try {
          await client.ready();
          completed++;
          times.push(client.handshakeStats.milliseconds);
          datagrams += client.handshakeStats.datagramsSent + client.handshakeStats.datagramsReceived;
          bytes += client.handshakeStats.bytesSent + client.handshakeStats.bytesReceived;
        } catch {
          // counted as not completed
        }
        await client.close();
      }
    } finally {
      await proxy.close();
      await server.close();
    }
    times.sort((a, b) => a - b);
    const label = `${loss * 100} % loss each way`;
    rows.push({
      name: `${label}: completed`,
      value: `${completed}/${HANDSHAKES}`,
      unit: 'handshakes',
      target: '100 %',
    });
    if (times.length > 0) {
      rows.push({ name: `${label}: p50`, value: percentile(times, 0.5).toFixed(0), unit: 'ms' });
      rows.push({ name: `${label}: p99`, value: percentile(times, 0.99).toFixed(0), unit: 'ms' });
      rows.push({
        name: `${label}: on the air`,
        value: `${(datagrams / completed).toFixed(1)} / ${Math.round(bytes / completed)}`,
        unit: 'datagrams / bytes',
      });
    }
  }
  return rows;
}

async function throughputRows() {
  const payload = new Uint8Array(1000).fill(0x42);
  const psk = hexToBytes('00112233445566778899aabbccddeeff');
  const sink = await startScriptedDtlsServer({ psk, echo: false });
  const client: DtlsClient = connectDtls({
    port: sink.port,
    keyOps: new SoftwareKeyOps({ psk: { identity: utf8('bench'), key: psk } }),
    retransmit: RETRANSMIT,
  });
  await client.ready();
  const dtls = await measure('DTLS PSK-AES128-CCM8, 1,000-byte records', () => client.send(payload));
  await client.close();
  await sink.close();

  const server = tls.createServer({ key: pki.server.keyPem, cert: pki.server.certificatePem }, (s) => {
    s.on('error', () => {});
    s.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = tls.connect({
    port: (server.address() as AddressInfo).port,
    host: '127.0.0.1',
    ca: pki.ca.certificatePem,
    servername: 'localhost',
    maxVersion: 'TLSv1.2',
    ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  });
  await once(socket, 'secureConnect');
  const node = await measure(
    "Node's TLS 1.2 AES128-GCM, 1,000-byte writes",
    () => new Promise((resolve) => socket.write(payload, resolve)),
  );
  socket.destroy();
  server.close();
  const mbps = (ops: number) => ((ops * payload.length) / 1e6).toFixed(1);
  return [
    { name: node.name, value: mbps(node.opsPerSecond), unit: 'MB/s', ratio: '1.00x' },
    {
      name: dtls.name,
      value: mbps(dtls.opsPerSecond),
      unit: 'MB/s',
      ratio: `${(dtls.opsPerSecond / node.opsPerSecond).toFixed(2)}x`,
      target: '>= 0.6x',
    },
  ];
}

export async function dtlsBenchmarks(): Promise<void> {
  printTable('DTLS 1.2: SIM commands per handshake (openssl s_server -dtls1_2)', await apduRows());
  printTable(
    `DTLS 1.2 PSK handshakes, Type II SIM with the modem latency model, lossy proxy (${HANDSHAKES} each, 1 s initial timer)`,
    await lossRows(),
  );
  printTable(
    'DTLS record throughput over loopback (one datagram per record) vs Node TLS',
    await throughputRows(),
  );
}
