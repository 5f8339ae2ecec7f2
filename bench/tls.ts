// TLS benchmarks: APDUs per handshake per offload level (beside wolfSSL's published sequence), wall
// time with a modem+SIM latency model, CPU per handshake against Node's native client (bulk: bench/tls-bulk.ts).
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { modemSimLatency } from '@iotsafe/device';
import { type ConnectOptions, type KeyOps, SoftwareKeyOps, type TlsSession } from '@iotsafe/tls';
import { connectToTestServer, serverChain, testPki } from '../test/helpers/pki.js';
import { simKeyOps } from '../test/helpers/sim-tls.js';
import { printTable } from './harness.js';

const pki = testPki();
/** Session ending, its description, and the applet personality (T=1 reference; Kigen runs T=0). */
const SESSION_ENDS = [
  ['close', 'INIT close after each operation', 'reference'],
  ['lastUpdate', 'sessions end at the final UPDATE', 'reference'],
  ['close', 'INIT close, T=0 card (Kigen)', 'kigen'],
] as const;

async function startServer(
  handler: (s: tls.TLSSocket) => void,
  version: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3',
  identity: { key: string; cert: string } = { key: pki.server.keyPem, cert: pki.server.certificatePem },
) {
  const server = tls.createServer(
    {
      key: identity.key,
      cert: identity.cert,
      ca: pki.ca.certificatePem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: version,
      maxVersion: version,
    },
    (s) => {
      s.on('error', () => {});
      handler(s);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** One handshake and a round trip; returns the first session ticket that came with it, if any. */
async function ourHandshake(
  port: number,
  keyOps: KeyOps,
  session?: TlsSession,
  options: Partial<ConnectOptions> = {},
) {
  const socket = connectToTestServer(pki, port, {
    keyOps,
    ...(session ? { session } : {}),
    ...options,
  });
  let ticket: TlsSession | undefined;
  socket.once('session', (s: TlsSession) => {
    ticket = s;
  });
  await once(socket, 'secureConnect');
  socket.write('x');
  await once(socket, 'data');
  socket.destroy();
  return ticket;
}

async function nodeHandshake(
  port: number,
  ca = pki.ca.certificatePem,
  version: tls.SecureVersion = 'TLSv1.3',
) {
  const socket = tls.connect({
    host: '127.0.0.1',
    servername: 'localhost',
    port,
    ca,
    cert: pki.client.certificatePem,
    key: pki.client.keyPem,
    minVersion: version,
    maxVersion: version,
  });
  await once(socket, 'secureConnect');
  socket.write('x');
  await once(socket, 'data');
  socket.destroy();
}

async function cpuPerHandshake(run: () => Promise<void>, count: number): Promise<number> {
  for (let i = 0; i < 20; i++) await run();
  const before = process.cpuUsage();
  for (let i = 0; i < count; i++) await run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / count;
}

export async function tlsBenchmarks(): Promise<void> {
  const echo = await startServer((s) => s.on('data', (d) => s.write(d)));
  try {
    // APDUs per handshake, per level.
    const apduRows = [];
    const echo12 = await startServer((s) => s.on('data', (d) => s.write(d)), 'TLSv1.2');
    for (const [version, port] of [
      ['1.3', echo.port],
      ['1.2', echo12.port],
    ] as const) {
      for (const offload of ['sign', 'full'] as const)
        for (const [sessionEnd, how, personality] of SESSION_ENDS) {
          const { client, keyOps } = await simKeyOps(pki.ca, offload, { sessionEnd, personality });
          await ourHandshake(port, keyOps); // the second handshake shows the steady state
          const before = client.apduCount;
          const followUpsBefore = client.followUpCount;
          await ourHandshake(port, keyOps);
          const followUps = client.followUpCount - followUpsBefore;
          const target = version === '1.3' ? (offload === 'sign' ? '<= 3' : '<= 8') : '';
          apduRows.push({
            name: `TLS ${version} mTLS, ${offload} offload, ${how}`,
            value: `${client.apduCount - before - followUps} + ${followUps}`,
            unit: 'APDUs + GET RESPONSE',
            target,
          });
        }
    }
    echo12.server.close();
    for (const offload of ['sign', 'full'] as const)
      for (const [sessionEnd, how] of SESSION_ENDS.slice(0, 2)) {
        const { client, keyOps } = await simKeyOps(pki.ca, offload, { sessionEnd });
        const session = await ourHandshake(echo.port, keyOps);
        const before = client.apduCount;
        await ourHandshake(echo.port, keyOps, session);
        apduRows.push({
          name: `TLS 1.3 resumed session, ${offload} offload, ${how}`,
          value: `${client.apduCount - before} + 0`,
          unit: 'APDUs + GET RESPONSE',
          target: '',
        });
      }
    apduRows.push({
      name: 'wolfSSL IoT-SAFE port, TLS 1.3 mTLS (published)',
      value: '~18',
      unit: 'APDUs',
      target: "wolfSSL's IoT-SAFE port (its PK callbacks)",
    });
    printTable(
      'APDUs per handshake, second handshake of a client (certificate cached; GET RESPONSEs counted apart)',
      apduRows,
    );

    // Wall time with the modem + SIM latency model.
    const wallRows = [];
    for (const offload of ['sign', 'full'] as const)
      for (const [sessionEnd, how, personality] of SESSION_ENDS) {
        const { keyOps } = await simKeyOps(pki.ca, offload, {
          sessionEnd,
          personality,
          latency: modemSimLatency(),
        });
        const started = performance.now();
        for (let i = 0; i < 2; i++) await ourHandshake(echo.port, keyOps);
        wallRows.push({
          name: `${offload} offload, ${how}, modem SIM latency model`,
          value: ((performance.now() - started) / 2).toFixed(0),
          unit: 'ms/handshake',
        });
      }
    printTable(
      'Handshake wall time (per-INS card time of docs/hardware.md, Timing + AT+CSIM at 115200 baud)',
      wallRows,
    );

    await cpuPerHandshakeTable();
  } finally {
    echo.server.close();
  }
}

/**
 * CPU per mTLS handshake, our client with a software key vs Node's native client against the same local
 * server (client and server in one process): the P-256 test server in TLS 1.3, and an RSA-2048 chain
 * with an intermediate (as cloud endpoints present) in TLS 1.3 and TLS 1.2.
 */
async function cpuPerHandshakeTable(): Promise<void> {
  const software = new SoftwareKeyOps({
    certificateChain: [pki.client.certificateDer],
    privateKeyPem: pki.client.keyPem,
  });
  const rsa = serverChain({ root: 'rsa2048', intermediate: 'rsa2048', leaf: 'rsa2048' });
  const rows = [];
  for (const [name, version, identity, ca] of [
    ['P-256 server, TLS 1.3', 'TLSv1.3', undefined, pki.ca.certificatePem],
    [
      'RSA-2048 chain, TLS 1.3',
      'TLSv1.3',
      { key: rsa.leaf.keyPem, cert: rsa.chainPem },
      rsa.root.certificatePem,
    ],
    [
      'RSA-2048 chain, TLS 1.2',
      'TLSv1.2',
      { key: rsa.leaf.keyPem, cert: rsa.chainPem },
      rsa.root.certificatePem,
    ],
  ] as const) {
    const server = await startServer((s) => s.on('data', (d) => s.write(d)), version, identity);
    try {
      const ours = await cpuPerHandshake(
        async () =>
          void (await ourHandshake(server.port, software, undefined, {
            ca,
            maxVersion: version,
            minVersion: version,
          })),
        150,
      );
      const native = await cpuPerHandshake(() => nodeHandshake(server.port, ca, version), 150);
      rows.push(
        {
          name: `${name}: Node's native tls client (baseline)`,
          value: native.toFixed(2),
          unit: 'ms CPU',
          ratio: '1.00x',
        },
        {
          name: `${name}: our client, software KeyOps`,
          value: ours.toFixed(2),
          unit: 'ms CPU',
          ratio: `${(ours / native).toFixed(2)}x`,
          target: '<= 1.5x',
        },
      );
    } finally {
      server.server.close();
    }
  }
  printTable('CPU per mTLS handshake (client and local server in one process)', rows);
}
