// Hostile or broken servers, scripted byte by byte: each case is a TlsError naming the problem, an
// alert where one applies, and a closed connection — never a crash or a hang.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { type ConnectOptions, connect, SoftwareKeyOps, TlsError } from '@iotsafe/tls';
import { type ClientHello, marshalServerHello, unmarshalClientHello } from '../src/hello.js';

/** A server that answers the ClientHello with `reply` (and optionally closes). */
async function scripted(reply: Buffer | ((hello: ClientHello) => Buffer), close = false) {
  const received: Buffer[] = [];
  const server = net.createServer((s) => {
    s.once('data', (d: Buffer) => {
      s.write(typeof reply === 'function' ? reply(unmarshalClientHello(d.subarray(9))) : reply);
      if (close) s.end();
    });
    s.on('data', (d) => received.push(d));
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server, received };
}

async function failure(
  reply: Buffer | ((hello: ClientHello) => Buffer),
  close = false,
  options: Partial<ConnectOptions> = {},
): Promise<{ error: TlsError; alerts: Buffer[] }> {
  const { port, server, received } = await scripted(reply, close);
  try {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: '',
      keyOps: new SoftwareKeyOps(),
      handshakeTimeout: 3000,
      ...options,
    });
    const [error] = (await once(socket, 'error')) as [TlsError];
    assert.ok(socket.destroyed);
    await new Promise((r) => setTimeout(r, 20));
    const alerts = received.filter((b) => b[0] === 21);
    return { error, alerts };
  } finally {
    server.close();
  }
}

const header = (type: number, length: number) => Buffer.from([type, 3, 3, length >> 8, length & 0xff]);

test('an oversized record is record_overflow', async () => {
  const { error, alerts } = await failure(Buffer.concat([header(22, 16384 + 300), Buffer.alloc(40)]));
  assert.ok(error instanceof TlsError);
  assert.equal(error.alert, 'record_overflow');
  assert.equal(alerts[0]?.[6], 22, 'the record_overflow alert was sent');
});

test('a Finished where ServerHello belongs is unexpected_message', async () => {
  const finished = Buffer.from([20, 0, 0, 32, ...new Array(32).fill(0)]);
  const { error } = await failure(Buffer.concat([header(22, finished.length), finished]));
  assert.equal(error.alert, 'unexpected_message');
});

test('a truncated ServerHello is decode_error', async () => {
  const hello = Buffer.from([2, 0, 0, 6, 3, 3, 1, 2, 3, 4]);
  const { error } = await failure(Buffer.concat([header(22, hello.length), hello]));
  assert.equal(error.alert, 'decode_error');
});

test('application data before any keys is unexpected_message', async () => {
  const { error } = await failure(Buffer.concat([header(23, 5), Buffer.from('hello')]));
  assert.equal(error.alert, 'unexpected_message');
});

test('a server that closes mid-handshake is a clear error at once, not a timeout', async () => {
  const started = Date.now();
  const { error } = await failure(Buffer.concat([header(22, 100), Buffer.alloc(10)]), true);
  assert.match(error.message, /closed the connection during the handshake/);
  assert.ok(Date.now() - started < 2000);
});

test("a fatal alert from the server is reported as the server's", async () => {
  const { error } = await failure(Buffer.concat([header(21, 2), Buffer.from([2, 40])]));
  assert.equal(error.fromPeer, true);
  // handshake_failure before the ServerHello: nothing offered suited the server, and the offer is named.
  assert.match(
    error.message,
    /^the server found nothing it accepts in our offer: it sent a handshake_failure alert \(we offered TLS 1\.3, TLS 1\.2; cipher suites TLS_AES_128_GCM_SHA256, .*; groups x25519, secp256r1, secp384r1, secp521r1; signature schemes ecdsa_secp256r1_sha256, .*\)$/,
  );
});

/** A TLS 1.3 ServerHello for `hello` with this key share, as one plaintext record. */
const serverHelloWith = (group: number, publicKey: Uint8Array) => (hello: ClientHello) => {
  const message = marshalServerHello({
    legacyVersion: 0x0303,
    random: new Uint8Array(32).fill(1),
    sessionId: hello.sessionId,
    cipherSuite: 0x1301,
    supportedVersion: 0x0304,
    keyShare: { group, publicKey },
  });
  return Buffer.concat([header(22, message.length), message]);
};

// RFC 8446 §4.2.8.2 and RFC 7748 §6.1: a share that is not a valid point is illegal_parameter, said in
// this library's words, never an internal_error carrying OpenSSL's text.
for (const [name, group, share, groups] of [
  ['a 31-byte x25519 share', 0x001d, new Uint8Array(31).fill(9), undefined],
  ['a low-order x25519 share (u = 0)', 0x001d, new Uint8Array(32), undefined],
  ['a low-order x25519 share (u = 1)', 0x001d, Uint8Array.of(1, ...new Uint8Array(31)), undefined],
  ['an off-curve P-256 point', 0x0017, Uint8Array.of(4, ...new Uint8Array(64).fill(3)), ['secp256r1']],
  ['a compressed P-256 point', 0x0017, Uint8Array.of(2, ...new Uint8Array(32).fill(3)), ['secp256r1']],
] as const)
  test(`${name} is illegal_parameter, the alert sent`, async () => {
    const { error, alerts } = await failure(serverHelloWith(group, share), false, {
      ...(groups ? { groups } : {}),
    });
    assert.equal(error.alert, 'illegal_parameter');
    assert.equal(error.fromPeer, false);
    assert.doesNotMatch(error.message, /error:[0-9A-F]{8}|routines|Failed to convert/);
    assert.match(error.message, /key share/);
    assert.equal(alerts[0]?.[6], 47, 'the illegal_parameter alert went out');
  });

// OpenSSL (MAX_EMPTY_RECORDS) and BoringSSL (kMaxEmptyRecords) stop after 32 records in a row that carry
// nothing; so does this client, instead of reading them until the handshake deadline.
for (const [name, record] of [
  ['zero-length handshake records', header(22, 0)],
  ['ChangeCipherSpec records', Buffer.concat([header(20, 1), Buffer.of(1)])],
] as const)
  test(`endless ${name} are cut off after 32 with unexpected_message`, async () => {
    const { error } = await failure(Buffer.concat(new Array(1000).fill(record)));
    assert.equal(error.alert, 'unexpected_message');
    assert.match(error.message, /more than 32 empty records in a row/);
  });
