// Hostile or broken servers, scripted byte by byte: each case is a TlsError naming the problem, an
// alert where one applies, and a closed connection — never a crash or a hang.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { connect, SoftwareKeyOps, TlsError } from '@iotsafe/tls';

/** A server that answers the ClientHello with `reply` (and optionally closes). */
async function scripted(reply: Buffer, close = false) {
  const received: Buffer[] = [];
  const server = net.createServer((s) => {
    s.once('data', () => {
      s.write(reply);
      if (close) s.end();
    });
    s.on('data', (d) => received.push(d));
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server, received };
}

async function failure(reply: Buffer, close = false): Promise<{ error: TlsError; alerts: Buffer[] }> {
  const { port, server, received } = await scripted(reply, close);
  try {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: '',
      keyOps: new SoftwareKeyOps(),
      handshakeTimeout: 3000,
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
