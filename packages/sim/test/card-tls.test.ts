// The SCP81 agent's TLS seam: by default the real card's ClientHello (pySim-smpp2sim's trace) byte for
// byte, the random aside, as it leaves the card; sessions against Node's tls PSK server (OpenSSL) as
// the admin servers run it, including one that speaks only TLS 1.0 and one with NULL suites only (the
// security level the ISD sees); and the `tls12-aead` profile for a server that refuses CBC.
import assert from 'node:assert/strict';
import { constants } from 'node:crypto';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import tls from 'node:tls';
import {
  type CardTlsOptions,
  cardTlsConnectOptions,
  openTlsWithIotsafeTls,
  openTlsWithProfile,
  REAL_CARD_CIPHER_SUITES,
} from '@iotsafe/sim';
import { scp80Expected } from '../../../test/helpers/vectors.js';

const IDENTITY = 'card-tls-test-identity';
const PSK = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const options = (extra: Partial<CardTlsOptions> = {}): CardTlsOptions => ({
  identity: Buffer.from(IDENTITY),
  psk: Uint8Array.from(PSK),
  handshakeTimeoutMs: 10_000,
  maxFragmentLength: 512,
  ...extra,
});

/** A server that keeps the first record the card sends, then closes. */
async function captureFirstRecord(open: (socket: net.Socket) => Promise<unknown>): Promise<Buffer> {
  let resolveRecord: (b: Buffer) => void = () => {};
  const record = new Promise<Buffer>((resolve) => {
    resolveRecord = resolve;
  });
  const server = net.createServer((socket) => {
    let got = Buffer.alloc(0);
    socket.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 5 && got.length >= 5 + got.readUInt16BE(3)) {
        resolveRecord(got.subarray(0, 5 + got.readUInt16BE(3)));
        socket.destroy();
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  open(client).catch(() => {}); // the server hangs up after the hello
  try {
    return await record;
  } finally {
    client.destroy();
    server.close();
  }
}

const servers: tls.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** Node's tls PSK server as test/helpers/admin-server.ts and the OTA admin server configure it. */
async function pskServer(ciphers: string, minVersion: tls.SecureVersion, maxVersion: tls.SecureVersion) {
  const server = tls.createServer(
    {
      pskCallback: (_socket, identity) => (identity === IDENTITY ? PSK : null),
      ciphers: `${ciphers}:@SECLEVEL=0`,
      minVersion,
      maxVersion,
      secureOptions: constants.SSL_OP_NO_TICKET | constants.SSL_OP_NO_ENCRYPT_THEN_MAC,
    },
    (socket) => {
      socket.on('data', (d) => socket.end(d));
      socket.on('error', () => {});
    },
  );
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function session(port: number, open = openTlsWithIotsafeTls, extra: Partial<CardTlsOptions> = {}) {
  const transport = net.connect(port, '127.0.0.1');
  await once(transport, 'connect');
  const result = await open(transport, options(extra));
  result.stream.write('ping');
  const [echo] = (await once(result.stream, 'data')) as [Buffer];
  result.stream.destroy();
  return { ...result, echo: echo.toString() };
}

describe('the real card profile (the default)', () => {
  test("the ClientHello record is the real card's, byte for byte but the random", async () => {
    const sent = await captureFirstRecord((socket) => openTlsWithIotsafeTls(socket, options()));
    const expected = Buffer.from(
      scp80Expected<{ channel_data: string }>('scp81-real-card-clienthello').channel_data,
      'hex',
    );
    // 16 0301 003c | 01 000038 | 0303 | random(32) | 00 | 000a 00ae 008c 008b 00b0 002c | 01 00 | 0005 0001 0001 01
    assert.equal(sent.length, expected.length);
    assert.equal(sent.subarray(0, 11).toString('hex'), '160301003c0100003803' + '03');
    assert.deepEqual(sent.subarray(0, 11), expected.subarray(0, 11));
    assert.deepEqual(sent.subarray(43), expected.subarray(43));
    const suites = sent.subarray(46, 56); // after session_id (43) and the list length (44–45)
    assert.deepEqual(
      [0, 2, 4, 6, 8].map((i) => suites.readUInt16BE(i)),
      [...REAL_CARD_CIPHER_SUITES],
    );
  });

  test('another record size the card keeps to is asked for with max_fragment_length; 256 is not asked', () => {
    assert.equal(cardTlsConnectOptions(options({ maxFragmentLength: 1024 })).maxFragmentLength, 1024);
    assert.equal(cardTlsConnectOptions(options({ maxFragmentLength: 256 })).maxFragmentLength, undefined);
  });

  test('TLS 1.2 against a TLS 1.0–1.2 admin server: PSK-AES128-CBC-SHA256, confidential', async () => {
    const port = await pskServer(
      'PSK-AES128-CBC-SHA256:PSK-AES128-CBC-SHA:PSK-AES128-GCM-SHA256',
      'TLSv1',
      'TLSv1.2',
    );
    const s = await session(port);
    assert.deepEqual(
      [s.protocol, s.cipher, s.confidential, s.echo],
      ['TLSv1.2', 'TLS_PSK_WITH_AES_128_CBC_SHA256', true, 'ping'],
    );
  });

  test('a server that speaks only TLS 1.0 gets TLS 1.0 with PSK-AES128-CBC-SHA (the reference trace)', async () => {
    const port = await pskServer('PSK-AES128-CBC-SHA', 'TLSv1', 'TLSv1');
    const s = await session(port);
    assert.deepEqual([s.protocol, s.cipher, s.confidential], ['TLSv1', 'TLS_PSK_WITH_AES_128_CBC_SHA', true]);
  });

  test('NULL suites only: the session runs, and is not confidential', async () => {
    const port = await pskServer('PSK-NULL-SHA256:PSK-NULL-SHA', 'TLSv1', 'TLSv1.2');
    const s = await session(port);
    assert.deepEqual([s.cipher, s.confidential, s.echo], ['TLS_PSK_WITH_NULL_SHA256', false, 'ping']);
  });

  test('a GCM-only server refuses the real card (a TlsError), and the tls12-aead profile connects', async () => {
    const port = await pskServer('PSK-AES128-GCM-SHA256', 'TLSv1.2', 'TLSv1.2');
    await assert.rejects(session(port), (e: Error) => e.name === 'TlsError');
    const s = await session(port, openTlsWithProfile('tls12-aead'));
    assert.deepEqual([s.protocol, s.cipher], ['TLSv1.2', 'TLS_PSK_WITH_AES_128_GCM_SHA256']);
  });
});
