// Against a TLS 1.3 server scripted from this library's own primitives (test/helpers/tls13-server.ts):
// - the server Finished (RFC 8446 §4.4.4), external PSK (psk_ke): with the right verify_data the client
//   connects (the control); with one bit wrong, or the wrong length, it sends decrypt_error and closes,
//   without a Finished of its own or a byte of application data;
// - a server CertificateVerify whose scheme names another curve than the certificate's (§4.2.3).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { bytesToHex, concatBytes, hexToBytes, utf8 } from '@iotsafe/protocol';
import { connect, SIGNATURE_SCHEME, SoftwareKeyOps, type TlsError } from '@iotsafe/tls';
import { connectToTestServer, testPki } from '../../../test/helpers/pki.js';
import { startScriptedTls13Server } from '../../../test/helpers/tls13-server.js';

const PSK = hexToBytes('00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF');

async function handshakeWith(tamperFinished: (verifyData: Uint8Array) => Uint8Array) {
  const server = await startScriptedTls13Server({ auth: { kind: 'psk', psk: PSK }, tamperFinished });
  try {
    const socket = connect({
      host: '127.0.0.1',
      port: server.port,
      servername: 'localhost',
      keyOps: new SoftwareKeyOps({ psk: { identity: utf8('finished-test'), key: PSK } }),
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
    return { ...outcome, fromClient: server.received() };
  } finally {
    await server.close();
  }
}

/** Record content types in what the client sent. */
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

test('a P-256 server key signing as ecdsa_brainpoolP256r1tls13_sha256 is illegal_parameter', async () => {
  const pki = testPki();
  const server = await startScriptedTls13Server({
    auth: {
      kind: 'certificate',
      certificateDer: pki.server.certificateDer,
      keyPem: pki.server.keyPem,
      requestSchemes: [SIGNATURE_SCHEME.ecdsa_secp256r1_sha256],
    },
    claimScheme: SIGNATURE_SCHEME.ecdsa_brainpoolP256r1tls13_sha256,
  });
  try {
    const socket = connectToTestServer(pki, server.port, {
      keyOps: new SoftwareKeyOps({
        certificateChain: [pki.client.certificateDer],
        privateKeyPem: pki.client.keyPem,
      }),
    });
    const [error] = (await once(socket, 'error')) as [TlsError];
    assert.equal(error.alert, 'illegal_parameter');
    assert.match(error.message, /081a needs a brainpoolP256r1 key, not prime256v1/);
  } finally {
    await server.close();
  }
});

test('no secret in the error: not the PSK, not a traffic secret of the failed handshake', async () => {
  const server = await startScriptedTls13Server({
    auth: { kind: 'psk', psk: PSK },
    tamperFinished: (verifyData) => verifyData.map((b) => b ^ 0xff),
  });
  const secrets: string[] = [bytesToHex(PSK)];
  try {
    const socket = connect({
      host: '127.0.0.1',
      port: server.port,
      keyOps: new SoftwareKeyOps({ psk: { identity: utf8('finished-test'), key: PSK } }),
      pskMode: 'psk_ke',
      keylog: (line) => secrets.push(line.trim().split(' ')[2]!),
    });
    const [error] = (await once(socket, 'error').catch((e) => [e])) as [TlsError];
    assert.equal(error.alert, 'decrypt_error');
    assert.ok(secrets.length >= 3, 'the handshake secrets were logged where asked');
    const everything = `${String(error)} ${error.stack} ${JSON.stringify(error)}`.toUpperCase();
    for (const secret of secrets) assert.ok(!everything.includes(secret.toUpperCase()));
  } finally {
    await server.close();
  }
});
