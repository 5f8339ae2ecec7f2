// Chapter 2: TLS 1.3 with the key in the SIM (RFC 8446 §4.4.3 CertificateVerify signed by the SIM) to a
// local server (node:tls on 127.0.0.1) that requires a client certificate, at each offload level and
// with each way of ending SIM sessions; the first session is kept for the reconnect of chapter 5.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { byId, type IoTSafe, IoTSafeKeyOps, type OffloadLevel, toPem } from '@iotsafe/device';
import type { CertificateAuthority } from '@iotsafe/pki';
import { connect as connectTls, type TlsSession } from '@iotsafe/tls';
import type { Report } from './report.js';

interface CloudServer {
  port: number;
  /** The common names of the client certificates the server accepted. */
  seen: string[];
  /** Loads the CA's CRL again (the rotation chapter's cloud checks it). */
  refreshCrl(): Promise<void>;
  close(): void;
}

export interface CloudOptions {
  /** The CA's CRL (DER): clients whose certificate it lists are refused (RFC 5280 §6.3). */
  crl?: () => Promise<Uint8Array>;
  /** Told of each client certificate accepted (DER), before the greeting goes. */
  onClient?: (certificate: Uint8Array) => Promise<void>;
}

/** The cloud side: mutual TLS 1.3, trusting the CA; echoes a greeting naming the client. */
export async function startCloud(ca: CertificateAuthority, options: CloudOptions = {}): Promise<CloudServer> {
  const identity = await ca.issueServer('localhost', 1);
  const seen: string[] = [];
  const context = async () => ({
    key: identity.keyPem,
    cert: toPem(identity.certificate, 'CERTIFICATE'),
    ca: toPem(ca.certificate, 'CERTIFICATE'),
    ...(options.crl ? { crl: toPem(await options.crl(), 'X509 CRL') } : {}),
  });
  const server = tls.createServer(
    { ...(await context()), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' },
    (socket) => {
      const peer = socket.getPeerX509Certificate();
      const cn = String(socket.getPeerCertificate().subject?.CN);
      seen.push(cn);
      socket.once('data', async (d) => {
        if (peer) await options.onClient?.(new Uint8Array(peer.raw));
        socket.end(`hello ${cn}, you sent "${d}"`);
      });
      socket.on('error', () => {});
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    refreshCrl: async () => server.setSecureContext(await context()),
    close: () => server.close(),
  };
}

export interface TlsRound {
  offload: OffloadLevel;
  sessionEnd: 'close' | 'lastUpdate';
  resumed: boolean;
  protocol: string;
  cipher: string;
  apdus: number;
  handshakeMs: number;
  reply: string;
}

/** One mutual-TLS exchange with the SIM's key; the session the server hands out goes to `onSession`. */
export async function tlsExchange(
  client: IoTSafe,
  cloud: CloudServer,
  ca: CertificateAuthority,
  offload: OffloadLevel,
  session?: TlsSession,
  onSession?: (session: TlsSession) => void,
): Promise<TlsRound> {
  const keyOps = await IoTSafeKeyOps.create(client, {
    privateKey: byId('01'),
    certificateChain: [byId('02')],
    offload,
  });
  const before = client.apduCount;
  const socket = connectTls({
    host: '127.0.0.1',
    servername: 'localhost',
    port: cloud.port,
    ca: toPem(ca.certificate, 'CERTIFICATE'),
    keyOps,
    ...(session ? { session } : {}),
  });
  if (onSession) socket.once('session', onSession);
  await once(socket, 'secureConnect');
  const apdus = client.apduCount - before;
  socket.write('telemetry 21.5C');
  const [reply] = (await once(socket, 'data')) as [Buffer];
  socket.destroy();
  return {
    offload,
    sessionEnd: client.sessionEnding,
    resumed: socket.isSessionReused(),
    protocol: socket.getProtocol() ?? '',
    cipher: socket.getCipher()?.name ?? '',
    apdus,
    handshakeMs: Number(socket.handshakeStats.milliseconds.toFixed(1)),
    reply: String(reply),
  };
}

export function describeRound(r: TlsRound): string {
  const how = r.resumed
    ? 'resumed session (no certificate)'
    : `sessions end by ${r.sessionEnd === 'close' ? 'INIT close ' : 'final UPDATE'}`;
  return `${r.offload.padEnd(4)} offload, ${how}: ${r.protocol} ${r.cipher}, ${r.apdus} APDUs, handshake ${r.handshakeMs} ms; server: ${r.reply}`;
}

export async function mutualTls(
  report: Report,
  clients: { close: IoTSafe; lastUpdate: IoTSafe },
  cloud: CloudServer,
  ca: CertificateAuthority,
): Promise<TlsSession | undefined> {
  report.chapter('TLS 1.3 with the key in the SIM, to a local server that requires a client certificate');
  let kept: TlsSession | undefined;
  const rounds: TlsRound[] = [];
  for (const [offload, client] of [
    ['sign', clients.close],
    ['full', clients.close],
    ['sign', clients.lastUpdate],
    ['full', clients.lastUpdate],
  ] as const) {
    const round = await tlsExchange(client, cloud, ca, offload, undefined, (s) => {
      kept ??= s;
    });
    rounds.push(round);
    report.line(describeRound(round));
  }
  report.set('tls', rounds);
  return kept;
}
