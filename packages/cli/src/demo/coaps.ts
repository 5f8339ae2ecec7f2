// The CoAP-over-DTLS chapter (RFC 7252 §9, DTLS 1.2 RFC 6347 in the RFC 7925 profile): the device
// sends telemetry to a local CoAP server over DTLS, once with the PSK of a Type II SIM (the master
// secret by one COMPUTE PRF, the PSK never leaves the SIM) and once with ECDHE-ECDSA and the Type I
// SIM's key and certificate (the SIM signs the CertificateVerify). Node has no DTLS server, so the
// server is libcoap's coap-server (Debian libcoap3-bin), started here on 127.0.0.1 with this run's
// credentials and stopped at the end; without it the chapter says so and is skipped.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoapClient } from '@iotsafe/coap';
import { byId, byLabel, IoTSafe, IoTSafeKeyOps, MemoryTransport } from '@iotsafe/device';
import { type CertificateAuthority, pem } from '@iotsafe/pki';
import { bytesToHex, utf8 } from '@iotsafe/protocol';
import { VirtualSim } from '@iotsafe/sim';
import { type DtlsClient, dtlsTransport, type KeyOps } from '@iotsafe/tls';
import { writeSecretFile } from '../key-files.js';
import type { Report } from './report.js';

const IDENTITY = 'demo-device-0003';
const SERVERS = ['coap-server-openssl', 'coap-server-gnutls'];

export interface CoapsRound {
  credential: 'psk' | 'certificate';
  cipher: string;
  apdus: number;
  handshakeMs: number;
  status: string;
}

const installed = (binary: string) => spawnSync(binary, ['-h'], { stdio: 'ignore' }).error === undefined;

/** A UDP port whose successor is free too (coap-server takes PORT for CoAP, PORT + 1 for DTLS). */
async function freePortPair(): Promise<number> {
  const bind = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(undefined));
      socket.bind(port, '127.0.0.1', () => {
        const bound = socket.address().port;
        socket.close(() => resolve(bound));
      });
    });
  for (;;) {
    const port = await bind(0);
    if (port && port < 65535 && (await bind(port + 1))) return port;
  }
}

/** coap-server on 127.0.0.1, ready once it answers a CoAP ping on its plain port. */
async function startCoapServer(binary: string, security: string[]) {
  const port = await freePortPair();
  const child = spawn(binary, ['-A', '127.0.0.1', '-p', String(port), '-d', '10', ...security], {
    stdio: 'ignore',
  });
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', stop);
  const plain = await CoapClient.connect(`coap://127.0.0.1:${port}`, {
    transmission: { ackTimeout: 100, maxRetransmit: 2 },
  });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await plain.ping();
        break;
      } catch (error) {
        if (attempt >= 20 || child.exitCode !== null) {
          stop();
          throw new Error(`${binary} did not start: ${(error as Error).message}`);
        }
      }
    }
  } finally {
    await plain.close();
  }
  return { dtlsPort: port + 1, stop };
}

/** One telemetry PUT over a new DTLS association, and what the handshake cost the SIM. */
async function sendTelemetry(
  port: number,
  sim: IoTSafe,
  keyOps: KeyOps,
  trust: { ca?: string; servername?: string },
  credential: CoapsRound['credential'],
  reading: string,
): Promise<CoapsRound> {
  let dtls: DtlsClient | undefined;
  const factory = dtlsTransport({ keyOps, retransmit: { initial: 1000 }, ...trust });
  const before = sim.apduCount;
  const coap = await CoapClient.connect(`coaps://127.0.0.1:${port}`, {
    secureTransport: async (peer) => {
      dtls = await factory(peer);
      return dtls;
    },
  });
  try {
    const apdus = sim.apduCount - before;
    const response = await coap.put('/telemetry', utf8(reading), { contentFormat: 'json' });
    if (!response.ok) throw new Error(`the CoAP server answered ${response.status}`);
    return {
      credential,
      cipher: dtls!.getCipher()?.name ?? '',
      apdus,
      handshakeMs: Number(dtls!.handshakeStats.milliseconds.toFixed(1)),
      status: response.status,
    };
  } finally {
    await coap.close();
  }
}

const describe = (r: CoapsRound) =>
  `${r.cipher}: ${r.apdus} APDU${r.apdus === 1 ? '' : 's'}, handshake ${r.handshakeMs} ms; PUT /telemetry → ${r.status}`;

export async function coapOverDtls(
  report: Report,
  base: string,
  storageKey: Uint8Array,
  typeOne: { client: IoTSafe; ca: CertificateAuthority },
): Promise<void> {
  report.chapter(
    'CoAP over DTLS 1.2: telemetry with the Type II SIM’s PSK, then ECDHE-ECDSA with the Type I SIM',
  );
  const binary = SERVERS.find(installed);
  if (!binary) {
    const reason = `skipped: no DTLS CoAP server here (${SERVERS.join(' or ')}, Debian package libcoap3-bin)`;
    report.line(reason);
    report.set('coaps', { skipped: reason });
    return;
  }
  // A Type II SIM with a PSK of letters and digits: coap-server takes it as command-line text. A test
  // key of this run only (the process list shows it while the demo runs).
  const pskText = randomBytes(24).toString('base64url').replace(/[-_]/g, 'x');
  const type2 = VirtualSim.create(
    join(base, 'sim-type2-coaps'),
    {
      description: 'demo Type II SIM for CoAP over DTLS (test PSK)',
      containers: [{ class: 'secret', id: '01', label: 'psk', value: { hex: bytesToHex(utf8(pskText)) } }],
    },
    { storageKey },
  );
  const pskSim = await IoTSafe.connect(new MemoryTransport(type2.card));
  const rounds: CoapsRound[] = [];
  try {
    const pskServer = await startCoapServer(binary, ['-k', pskText, '-h', 'CoAP']);
    try {
      const keyOps = await IoTSafeKeyOps.create(pskSim, {
        offload: 'sign',
        psk: { identity: utf8(IDENTITY), secret: byLabel('psk') },
      });
      rounds.push(await sendTelemetry(pskServer.dtlsPort, pskSim, keyOps, {}, 'psk', '{"t":19.5}'));
    } finally {
      pskServer.stop();
    }
    report.line(`PSK identity ${IDENTITY} (Type II SIM, COMPUTE PRF), ${describe(rounds[0]!)}`);

    // The server's certificate from the demo CA; it requires a client certificate from the same CA.
    const identity = await typeOne.ca.issueServer('localhost', 1);
    const files = {
      cert: join(base, 'coap-server.pem'),
      key: join(base, 'coap-server.key'),
      ca: join(base, 'ca.pem'),
    };
    writeFileSync(files.cert, pem(identity.certificate, 'CERTIFICATE'));
    writeFileSync(files.ca, typeOne.ca.certificatePem);
    writeSecretFile(files.key, identity.keyPem, true);
    const pkiServer = await startCoapServer(binary, ['-c', files.cert, '-j', files.key, '-C', files.ca]);
    try {
      const keyOps = await IoTSafeKeyOps.create(typeOne.client, {
        offload: 'sign',
        privateKey: byId('01'),
        certificateChain: [byId('02')],
      });
      rounds.push(
        await sendTelemetry(
          pkiServer.dtlsPort,
          typeOne.client,
          keyOps,
          { ca: typeOne.ca.certificatePem, servername: 'localhost' },
          'certificate',
          '{"t":19.7}',
        ),
      );
    } finally {
      pkiServer.stop();
    }
    report.line(`the Type I SIM's key and certificate (the SIM signs), ${describe(rounds[1]!)}`);
    report.line(`the server: ${binary} (libcoap), on 127.0.0.1, started and stopped by the demo`);
    report.set('coaps', { server: binary, rounds });
  } finally {
    await pskSim.close();
    type2.close();
  }
}
