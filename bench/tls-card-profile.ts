// The SIM admin agent's TLS (the real card's hello: TLS 1.0–1.2 PSK, CBC suites, max_fragment_length
// 512) against Node's tls PSK server on 127.0.0.1: handshakes per second of our client with that
// profile beside Node's own tls client with the same suite and version, measured in the same run.
import { constants } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { connect, SoftwareKeyOps, TLS10 } from '@iotsafe/tls';
import { measure, printTable } from './harness.js';

const IDENTITY = 'bench-card';
const PSK = Buffer.alloc(16, 0x42);

async function pskServer() {
  const server = tls.createServer(
    {
      pskCallback: (_socket, identity) => (identity === IDENTITY ? PSK : null),
      ciphers: 'PSK-AES128-CBC-SHA256:PSK-AES128-CBC-SHA:@SECLEVEL=0',
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.2',
      secureOptions: constants.SSL_OP_NO_TICKET | constants.SSL_OP_NO_ENCRYPT_THEN_MAC,
    },
    (socket) => {
      socket.on('error', () => {});
      socket.on('data', (d) => socket.write(d));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A handshake and a one-byte round trip with the real card's options (one suite, one version). */
async function ours(port: number, suite: number, version: 'TLSv1' | 'TLSv1.2'): Promise<void> {
  const socket = connect({
    host: '127.0.0.1',
    port,
    keyOps: new SoftwareKeyOps({ psk: { identity: Buffer.from(IDENTITY), key: PSK } }),
    cipherSuites: [suite],
    minVersion: version,
    maxVersion: version,
    maxFragmentLength: 512,
    legacyClientHello: { recordVersion: TLS10, emptySessionId: true, minimalExtensions: true },
  });
  await once(socket, 'secureConnect');
  socket.write('x');
  await once(socket, 'data');
  socket.destroy();
}

async function node(port: number, cipher: string, version: 'TLSv1' | 'TLSv1.2'): Promise<void> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    ciphers: `${cipher}:@SECLEVEL=0`,
    minVersion: version,
    maxVersion: version,
    checkServerIdentity: () => undefined,
    pskCallback: () => ({ psk: PSK, identity: IDENTITY }),
  });
  await once(socket, 'secureConnect');
  socket.write('x');
  await once(socket, 'data');
  socket.destroy();
}

export async function tlsCardProfileBenchmarks(): Promise<void> {
  const { server, port } = await pskServer();
  const rows = [];
  for (const [version, suite, cipher] of [
    ['TLSv1.2', 0x00ae, 'PSK-AES128-CBC-SHA256'],
    ['TLSv1', 0x008c, 'PSK-AES128-CBC-SHA'],
  ] as const) {
    const a = await measure(`real-card profile, ${version} ${cipher}`, () => ours(port, suite, version));
    const b = await measure(`Node tls client, ${version} ${cipher}`, () => node(port, cipher, version));
    rows.push(
      {
        name: a.name,
        value: a.opsPerSecond.toFixed(0),
        unit: 'handshakes/s',
        ratio: (a.opsPerSecond / b.opsPerSecond).toFixed(2),
      },
      { name: b.name, value: b.opsPerSecond.toFixed(0), unit: 'handshakes/s', ratio: '1.00' },
    );
  }
  server.close();
  printTable("SIM admin agent's TLS (PSK, CBC, MFL 512) vs Node's tls client, same server", rows);
}
