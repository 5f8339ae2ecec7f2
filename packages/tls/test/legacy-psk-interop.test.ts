// The PSK suites and versions of constrained clients (a SIM's admin agent, GP Amd B) against real
// servers on 127.0.0.1: Node's tls PSK server (OpenSSL) and openssl s_server -psk at TLS 1.0, 1.1 and
// 1.2 with each MAC-then-encrypt suite, and gnutls-serv for PSK-3DES (OpenSSL 3 has no 3DES PSK
// suite). Every connection asks for max_fragment_length 512 (RFC 6066 §4), with the minimal legacy
// ClientHello; a relay reads the records on the wire to show the limit holds both ways.
import assert from 'node:assert/strict';
import { constants } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { type ConnectOptions, connect, SoftwareKeyOps, type TlsClientSocket, TlsError } from '@iotsafe/tls';
import { freePort, peerAvailable, startIsolatedServer, startPeer } from '../../../test/helpers/peers.js';
import { suite12ByCode } from '../src/tls12/suites.js';

const IDENTITY = 'card-test-identity';
const PSK = Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex');
const VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2'] as const;
const SUITES: [number, string][] = [
  [0x00ae, 'PSK-AES128-CBC-SHA256'],
  [0x008c, 'PSK-AES128-CBC-SHA'],
  [0x00b0, 'PSK-NULL-SHA256'],
  [0x002c, 'PSK-NULL-SHA'],
];
/** The most a 512-byte fragment can grow to: an IV, a SHA-256 MAC and a full block of padding. */
const MAX_PROTECTED = 512 + 16 + 32 + 16;
const dir = mkdtempSync(join(tmpdir(), 'legacy-psk-'));

const legacyOptions = (suite: number, version: (typeof VERSIONS)[number]): ConnectOptions => ({
  keyOps: new SoftwareKeyOps({ psk: { identity: Buffer.from(IDENTITY), key: PSK } }),
  cipherSuites: [suite],
  minVersion: version,
  maxVersion: version,
  maxFragmentLength: 512,
  legacyClientHello: { recordVersion: 0x0301, emptySessionId: true, minimalExtensions: true },
  handshakeTimeout: 10_000,
});

/** A TCP relay that reads the record headers each way: [type, length] per record. */
async function recordRelay(target: () => net.Socket) {
  const seen = { client: [] as [number, number][], server: [] as [number, number][] };
  const frame = (into: [number, number][]) => {
    let buffered = Buffer.alloc(0);
    return (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt16BE(3)) {
        into.push([buffered[0]!, buffered.readUInt16BE(3)]);
        buffered = buffered.subarray(5 + buffered.readUInt16BE(3));
      }
    };
  };
  const relay = net.createServer((inbound) => {
    const outbound = target();
    inbound.on('data', frame(seen.client));
    outbound.on('data', frame(seen.server));
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return { port: (relay.address() as AddressInfo).port, seen, close: () => relay.close() };
}

/** Sends 1,500 bytes and reads until `expect` bytes have come back. */
async function exchange(socket: TlsClientSocket, expect: number): Promise<Buffer> {
  socket.write(Buffer.alloc(1500, 0x61));
  socket.write('\n');
  const chunks: Buffer[] = [];
  let got = 0;
  for await (const chunk of socket) {
    chunks.push(chunk as Buffer);
    got += (chunk as Buffer).length;
    if (got >= expect) break;
  }
  return Buffer.concat(chunks);
}

function assertFragmentsWithin512(seen: { client: [number, number][]; server: [number, number][] }) {
  const application = (records: [number, number][]) => records.filter(([type]) => type === 23);
  // 1,501 bytes each way need at least three records of at most 512 bytes.
  assert.ok(application(seen.client).length >= 3, `client records ${JSON.stringify(seen.client)}`);
  assert.ok(application(seen.server).length >= 3, `server records ${JSON.stringify(seen.server)}`);
  for (const [, length] of [...seen.client, ...seen.server.slice(1)])
    assert.ok(length <= MAX_PROTECTED, `a record of ${length} bytes`);
}

describe("Node's tls PSK server (TLS 1.0–1.2, CBC and NULL suites, MFL 512)", () => {
  let server: tls.Server;
  before(async () => {
    server = tls.createServer(
      {
        pskCallback: (_socket, identity) => (identity === IDENTITY ? PSK : null),
        ciphers: `${SUITES.map(([, name]) => name).join(':')}:@SECLEVEL=0`,
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.2',
        secureOptions: constants.SSL_OP_NO_TICKET | constants.SSL_OP_NO_ENCRYPT_THEN_MAC,
      },
      (socket) => {
        socket.on('data', (d) => socket.write(d));
        socket.on('error', () => {});
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(() => server.close());

  for (const version of VERSIONS)
    for (const [code, name] of SUITES)
      test(`${version} ${name}: handshake, echo, every record within 512 bytes`, async () => {
        const port = (server.address() as AddressInfo).port;
        const relay = await recordRelay(() => net.connect(port, '127.0.0.1'));
        try {
          const socket = connect({ host: '127.0.0.1', port: relay.port, ...legacyOptions(code, version) });
          await once(socket, 'secureConnect');
          assert.equal(socket.getProtocol(), version);
          assert.equal(socket.getCipher()?.name, suite12ByCode(code)!.name);
          const reply = await exchange(socket, 1501);
          assert.equal(reply.length, 1501);
          socket.end();
          assertFragmentsWithin512(relay.seen);
        } finally {
          relay.close();
        }
      });

  test('a wrong PSK is a TlsError (the server cannot decrypt our Finished)', async () => {
    const port = (server.address() as AddressInfo).port;
    const options = legacyOptions(0x008c, 'TLSv1');
    const socket = connect({
      host: '127.0.0.1',
      port,
      ...options,
      keyOps: new SoftwareKeyOps({ psk: { identity: Buffer.from(IDENTITY), key: Buffer.alloc(16, 9) } }),
    });
    const [error] = (await once(socket, 'error')) as [Error];
    assert.ok(error instanceof TlsError, String(error));
  });
});

describe('openssl s_server -psk (TLS 1.0–1.2, each suite, MFL 512)', () => {
  const openssl = peerAvailable('openssl');
  for (const version of VERSIONS)
    for (const [code, name] of SUITES)
      test(`${version} ${name}`, { skip: openssl === true ? false : openssl }, async () => {
        const port = await freePort();
        const flag = { TLSv1: '-tls1', 'TLSv1.1': '-tls1_1', 'TLSv1.2': '-tls1_2' }[version];
        const peer = await startPeer(
          'openssl s_server',
          'openssl',
          [
            's_server',
            '-accept',
            `127.0.0.1:${port}`,
            '-nocert',
            '-psk',
            PSK.toString('hex'),
            '-psk_identity',
            IDENTITY,
            '-cipher',
            `${name}:@SECLEVEL=0`,
            flag,
            '-no_ticket',
            '-rev',
          ],
          (out) => out.includes('ACCEPT'),
          { stdin: 'pipe' },
        );
        const relay = await recordRelay(() => net.connect(port, '127.0.0.1'));
        try {
          const socket = connect({ host: '127.0.0.1', port: relay.port, ...legacyOptions(code, version) });
          await once(socket, 'secureConnect');
          assert.equal(socket.getProtocol(), version);
          // -rev answers each line reversed, with its newline.
          const reply = await exchange(socket, 1501);
          assert.equal(reply.toString().trim(), 'a'.repeat(1500));
          socket.destroy();
          assertFragmentsWithin512(relay.seen);
        } finally {
          relay.close();
          await peer.stop();
        }
      });
});

describe('gnutls-serv: PSK-3DES-EDE-CBC-SHA (008B), which OpenSSL 3 no longer builds', () => {
  const gnutls =
    [
      peerAvailable('gnutls-serv', ['--version']),
      peerAvailable('socat', ['-V']),
      peerAvailable('unshare', ['--version']),
    ].find((a) => a !== true) ?? true;
  for (const version of VERSIONS)
    test(`${version}`, { skip: gnutls === true ? false : gnutls }, async () => {
      const home = mkdtempSync(join(dir, 'gnutls-'));
      writeFileSync(join(home, 'psk.txt'), `${IDENTITY}:${PSK.toString('hex')}\n`, { mode: 0o600 });
      const v = { TLSv1: 'TLS1.0', 'TLSv1.1': 'TLS1.1', 'TLSv1.2': 'TLS1.2' }[version];
      const server = await startIsolatedServer(
        home,
        `gnutls-serv -p 5556 --echo --pskpasswd ${join(home, 'psk.txt')} --priority NORMAL:-VERS-ALL:+VERS-${v}:+PSK:+3DES-CBC:%NO_ETM`,
        /Echo Server listening|ready|listening/i,
      );
      try {
        // No max_fragment_length here: gnutls-serv 3.7 echoes it and then sends longer records anyway
        // (record_overflow, as RFC 6066 §4 requires of us; the MFL tests above use OpenSSL).
        const { maxFragmentLength: _, ...options } = legacyOptions(0x008b, version);
        const socket = connect({ socket: server.connect(), ...options });
        await once(socket, 'secureConnect');
        assert.equal(socket.getProtocol(), version);
        assert.equal(socket.getCipher()?.name, 'TLS_PSK_WITH_3DES_EDE_CBC_SHA');
        const reply = await exchange(socket, 1501);
        assert.equal(reply.length, 1501);
        socket.destroy();
      } finally {
        await server.stop();
      }
    });
});
