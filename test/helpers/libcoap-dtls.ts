// libcoap's coap-server with a DTLS back-end (Debian libcoap3-bin ships coap-server-openssl and
// coap-server-gnutls; no Mbed TLS build) on 127.0.0.1: plain CoAP on PORT, DTLS on PORT + 1 (as
// coap-server does), with a PSK or with PKI requiring a client certificate. Ready once it answers a
// plain CoAP ping.
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { awaitCoapPing } from './libcoap.js';
import { freePort, peerAvailable, startPeer } from './peers.js';

export const LIBCOAP_DTLS_BACKENDS = ['openssl', 'gnutls'] as const;
export type LibcoapBackend = (typeof LIBCOAP_DTLS_BACKENDS)[number];

export function libcoapDtlsAvailable(backend: LibcoapBackend): true | string {
  return peerAvailable(`coap-server-${backend}`, ['-h']);
}

const udpFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** A port whose UDP twin and successor are free too (coap-server takes PORT and PORT + 1). */
async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port < 65535 && (await udpFree(port)) && (await udpFree(port + 1))) return port;
  }
}

export type LibcoapSecurity =
  | { kind: 'psk'; key: string; hint?: string }
  | { kind: 'pki'; dir: string; cert: string; key: string; ca: string };

export interface LibcoapDtlsServer {
  /** Where DTLS listens (the plain CoAP port + 1). */
  dtlsPort: number;
  output: () => string;
  stop: () => Promise<void>;
}

export async function startLibcoapDtlsServer(
  backend: LibcoapBackend,
  security: LibcoapSecurity,
  extra: string[] = [],
): Promise<LibcoapDtlsServer> {
  const port = await freePortPair();
  const args = ['-A', '127.0.0.1', '-p', String(port), ...extra];
  if (security.kind === 'psk') args.push('-k', security.key, '-h', security.hint ?? 'CoAP');
  else {
    const files = {
      cert: join(security.dir, 'coap.pem'),
      key: join(security.dir, 'coap.key'),
      ca: join(security.dir, 'coap-ca.pem'),
    };
    writeFileSync(files.cert, security.cert);
    writeFileSync(files.key, security.key, { mode: 0o600 });
    writeFileSync(files.ca, security.ca);
    // -C: the CA that must have issued the client's certificate (checked: no -n).
    args.push('-c', files.cert, '-j', files.key, '-C', files.ca);
  }
  const binary = `coap-server-${backend}`;
  const peer = await startPeer(binary, binary, args, () => true);
  await awaitCoapPing(port, peer, binary);
  return { dtlsPort: port + 1, output: peer.output, stop: peer.stop };
}
