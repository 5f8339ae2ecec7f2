// The server Finished (RFC 8446 §4.4.4) against a TLS 1.3 server scripted from this library's own
// primitives: an external-PSK (psk_ke) handshake is ServerHello, EncryptedExtensions, Finished, so the
// script stays short. With the right verify_data the client connects (the control); with one bit wrong,
// or a Finished of the wrong length, it sends decrypt_error and closes without a byte of application data.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { concatBytes, hexToBytes, hkdfExtract, utf8 } from '@iotsafe/protocol';
import { connect, RecordProtection, SoftwareKeyOps, suiteByCode, type TlsError } from '@iotsafe/tls';
import { deriveSecret, emptyHash, finishedVerifyData, Transcript, trafficKeys } from '../src/key-schedule.js';
import { handshakeMessage } from '../src/messages.js';
import { u16, vec8, vec16 } from '../src/wire.js';

const PSK = hexToBytes('00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF');
const IDENTITY = utf8('finished-test');
const SUITE = suiteByCode(0x1301)!; // TLS_AES_128_GCM_SHA256

type FinishedTamper = (verifyData: Uint8Array) => Uint8Array;

const record = (type: number, body: Uint8Array) =>
  concatBytes(Uint8Array.of(type, 3, 3, body.length >> 8, body.length & 0xff), body);

/** The server's flight for a psk_ke handshake, given the ClientHello message (§2.2, §7.1). */
function serverFlight(clientHello: Uint8Array, tamper: FinishedTamper): Uint8Array {
  const sessionIdLength = clientHello[4 + 34]!;
  const sessionId = clientHello.subarray(4 + 35, 4 + 35 + sessionIdLength);
  const extensions = concatBytes(
    u16(0x002b), // supported_versions: TLS 1.3
    vec16(u16(0x0304)),
    u16(0x0029), // pre_shared_key: the first identity
    vec16(u16(0)),
  );
  const serverHello = handshakeMessage(
    2,
    concatBytes(
      u16(0x0303),
      new Uint8Array(32).fill(0x5a),
      vec8(sessionId),
      u16(SUITE.code),
      Uint8Array.of(0),
      vec16(extensions),
    ),
  );
  const transcript = new Transcript('sha256');
  transcript.add(clientHello);
  transcript.add(serverHello);
  const early = hkdfExtract('sha256', new Uint8Array(32), PSK);
  const handshakeSecret = hkdfExtract(
    'sha256',
    deriveSecret('sha256', early, 'derived', emptyHash('sha256')),
    new Uint8Array(32),
  );
  const serverSecret = deriveSecret('sha256', handshakeSecret, 's hs traffic', transcript.digest());
  const keys = trafficKeys('sha256', serverSecret, SUITE.keyLength);
  const protection = new RecordProtection(SUITE, keys.key, keys.iv);
  const encryptedExtensions = handshakeMessage(8, vec16(new Uint8Array(0)));
  transcript.add(encryptedExtensions);
  const verifyData = tamper(finishedVerifyData('sha256', serverSecret, transcript.digest()));
  const protectedFlight = protection.seal(
    22,
    concatBytes(encryptedExtensions, handshakeMessage(20, verifyData)),
  );
  return concatBytes(record(22, serverHello), record(protectedFlight.type, protectedFlight.body));
}

async function handshakeWith(tamper: FinishedTamper) {
  const received: Buffer[] = [];
  const server = net.createServer((socket) => {
    let pending = Buffer.alloc(0);
    let answered = false;
    socket.on('data', (chunk) => {
      received.push(chunk);
      pending = Buffer.concat([pending, chunk]);
      if (answered || pending.length < 5 || pending.length < 5 + pending.readUInt16BE(3)) return;
      answered = true;
      socket.write(serverFlight(new Uint8Array(pending.subarray(5, 5 + pending.readUInt16BE(3))), tamper));
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const socket = connect({
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      servername: 'localhost',
      keyOps: new SoftwareKeyOps({ psk: { identity: IDENTITY, key: PSK } }),
      pskMode: 'psk_ke',
      handshakeTimeout: 3000,
    });
    // events.once rejects with the 'error' event: either way, one outcome.
    const outcome = await once(socket, 'secureConnect').then(
      () => ({ connected: true as const }),
      (error: TlsError) => ({ connected: false as const, error }),
    );
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const fromClient = Buffer.concat(received);
    return { ...outcome, fromClient };
  } finally {
    server.close();
  }
}

/** Record content types the client sent after its ClientHello. */
function recordTypes(bytes: Buffer): number[] {
  const types: number[] = [];
  for (let offset = 0; offset + 5 <= bytes.length; offset += 5 + bytes.readUInt16BE(offset + 3))
    types.push(bytes[offset]!);
  return types;
}

test('the control: the scripted server with the right Finished completes the handshake', async () => {
  const result = await handshakeWith((verifyData) => verifyData);
  assert.equal(result.connected, true);
});

test('a server Finished with one bit flipped is decrypt_error, the alert sent, the socket closed', async () => {
  for (const bit of [0, 100, 255]) {
    const result = await handshakeWith((verifyData) => {
      const bad = Uint8Array.from(verifyData);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      return bad;
    });
    assert.equal(result.connected, false);
    if (result.connected) continue;
    assert.equal(result.error.alert, 'decrypt_error');
    assert.match(result.error.message, /server Finished does not verify/);
    // ClientHello, then the fatal decrypt_error alert and nothing else: no client Finished, no data. The
    // client's write keys change with its own Finished (as OpenSSL's client does), so the alert is clear.
    assert.deepEqual(recordTypes(result.fromClient), [22, 21]);
    assert.deepEqual([...result.fromClient.subarray(-2)], [2, 51]);
  }
});

test('a server Finished of the wrong length is decrypt_error too', async () => {
  for (const tamper of [
    (v: Uint8Array) => v.subarray(0, 31),
    (v: Uint8Array) => concatBytes(v, Uint8Array.of(0)),
  ]) {
    const result = await handshakeWith(tamper);
    assert.equal(result.connected, false);
    if (!result.connected) assert.equal(result.error.alert, 'decrypt_error');
  }
});
