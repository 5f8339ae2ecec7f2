// The handshake message codecs both ways (as Go's handshake_messages_test.go does): seeded random
// messages survive marshal → unmarshal unchanged, and RFC 8448 §3's messages decode to what the RFC
// says and, where this codec writes every extension they carry, marshal back to the same bytes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { hexToBytes } from '@iotsafe/protocol';
import { SeededRandom } from '../../../test/helpers/random.js';
import { HELLO_RETRY_REQUEST_RANDOM } from '../src/constants.js';
import {
  type ClientHello,
  marshalClientHello,
  marshalServerHello,
  type ServerHello,
  unmarshalClientHello,
  unmarshalServerHello,
} from '../src/hello.js';
import {
  marshalCertificate,
  marshalCertificateRequest,
  marshalCertificateVerify,
  marshalEncryptedExtensions,
  marshalFinished,
  marshalKeyUpdate,
  marshalNewSessionTicket,
  unmarshalCertificate,
  unmarshalCertificateRequest,
  unmarshalCertificateVerify,
  unmarshalEncryptedExtensions,
  unmarshalKeyUpdate,
  unmarshalNewSessionTicket,
} from '../src/messages.js';
import { HandshakeBuffer } from '../src/record/handshake-buffer.js';
import {
  marshalCertificate12,
  marshalCertificateRequest12,
  marshalClientKeyExchange,
  marshalServerKeyExchange,
  unmarshalCertificate12,
  unmarshalCertificateRequest12,
  unmarshalClientKeyExchange,
  unmarshalServerKeyExchange,
} from '../src/tls12/messages.js';
import type { KeyExchange12 } from '../src/tls12/suites.js';

const r = new SeededRandom(Number(process.env.FUZZ_SEED ?? 5246));
const bytes = (max: number, min = 0) => r.bytes(min + r.int(max - min + 1));
const list = <T>(max: number, make: () => T, min = 0) =>
  Array.from({ length: min + r.int(max - min + 1) }, make);
const u16 = () => r.int(0x10000);
const maybe = <T>(make: () => T): T | undefined => (r.int(2) === 0 ? make() : undefined);
const name = () => Buffer.from(bytes(20, 1)).toString('hex');
/** Drops the undefined keys, as unmarshal leaves them out. */
const defined = <T extends object>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
const body = (message: Uint8Array) => message.subarray(4);

function randomClientHello(): ClientHello {
  const identities = list(3, () => ({ identity: bytes(40, 1), obfuscatedTicketAge: r.next() }), 1);
  return defined({
    legacyVersion: 0x0303,
    random: r.bytes(32),
    sessionId: bytes(32),
    cipherSuites: list(8, u16, 1),
    serverName: maybe(name),
    supportedVersions: maybe(() => list(4, u16, 1)),
    supportedGroups: maybe(() => list(6, u16, 1)),
    signatureAlgorithms: maybe(() => list(10, u16, 1)),
    signatureAlgorithmsCert: maybe(() => list(10, u16, 1)),
    ecPointFormats: maybe(() => list(3, () => r.int(256), 1)),
    extendedMasterSecret: maybe(() => true),
    renegotiationInfo: maybe(() => bytes(12)),
    keyShares: maybe(() => list(3, () => ({ group: u16(), publicKey: bytes(97, 1) }))),
    alpn: maybe(() => list(3, name, 1)),
    cookie: maybe(() => bytes(64, 1)),
    pskModes: maybe(() => list(2, () => r.int(2), 1)),
    preSharedKey: maybe(() => ({ identities, binders: identities.map(() => bytes(48, 32)) })),
  });
}

function randomServerHello(): ServerHello {
  const retry = r.int(4) === 0;
  return defined({
    legacyVersion: 0x0303,
    random: retry ? new Uint8Array(HELLO_RETRY_REQUEST_RANDOM) : r.bytes(32),
    sessionId: bytes(32),
    cipherSuite: u16(),
    helloRetryRequest: retry,
    supportedVersion: maybe(u16),
    keyShare: retry ? undefined : maybe(() => ({ group: u16(), publicKey: bytes(97, 1) })),
    selectedGroup: retry ? maybe(u16) : undefined,
    cookie: maybe(() => bytes(64, 1)),
    selectedIdentity: maybe(u16),
    alpn: maybe(name),
    extendedMasterSecret: maybe(() => true),
    renegotiationInfo: maybe(() => bytes(24)),
    ecPointFormats: maybe(() => list(3, () => r.int(256), 1)),
  });
}

test('ClientHello and ServerHello: 500 random messages each marshal and unmarshal to themselves', () => {
  for (let i = 0; i < 500; i++) {
    const hello = randomClientHello();
    assert.deepEqual(unmarshalClientHello(body(marshalClientHello(hello))), hello);
    const server = randomServerHello();
    const { extensionTypes, ...decoded } = unmarshalServerHello(body(marshalServerHello(server)));
    assert.deepEqual(decoded, server);
    assert.ok(extensionTypes);
  }
});

test('the TLS 1.3 messages after the hellos: 500 random rounds', () => {
  for (let i = 0; i < 500; i++) {
    const ee = defined({
      alpn: maybe(name),
      serverNameAcknowledged: maybe(() => true),
      supportedGroups: maybe(() => list(5, u16, 1)),
    });
    const { extensionTypes, ...decoded } = unmarshalEncryptedExtensions(body(marshalEncryptedExtensions(ee)));
    assert.deepEqual(decoded, ee);
    assert.ok(extensionTypes);
    const request = defined({
      context: bytes(8),
      signatureAlgorithms: list(8, u16, 1),
      signatureAlgorithmsCert: maybe(() => list(8, u16, 1)),
      certificateAuthorities: maybe(() => list(3, () => bytes(60, 1), 1)),
    });
    assert.deepEqual(unmarshalCertificateRequest(body(marshalCertificateRequest(request))), request);
    const certificate = { context: bytes(4), chain: list(3, () => bytes(300, 1)) };
    assert.deepEqual(unmarshalCertificate(body(marshalCertificate(certificate))), certificate);
    const verify = { scheme: u16(), signature: bytes(256) };
    assert.deepEqual(unmarshalCertificateVerify(body(marshalCertificateVerify(verify))), verify);
    const ticket = { lifetimeSeconds: r.next(), ageAdd: r.next(), nonce: bytes(8), ticket: bytes(200, 1) };
    assert.deepEqual(unmarshalNewSessionTicket(body(marshalNewSessionTicket(ticket))), ticket);
    const requestUpdate = r.int(2) === 1;
    assert.deepEqual(unmarshalKeyUpdate(body(marshalKeyUpdate(requestUpdate))), { requestUpdate });
  }
});

test('the TLS 1.2 messages: 500 random rounds, per key exchange', () => {
  const exchanges: KeyExchange12[] = ['ecdhe_ecdsa', 'ecdhe_rsa', 'psk', 'ecdhe_psk'];
  for (let i = 0; i < 500; i++) {
    const kx = r.pick(exchanges);
    const ske = defined({
      pskIdentityHint: kx === 'psk' || kx === 'ecdhe_psk' ? bytes(20) : undefined,
      group: kx === 'psk' ? undefined : u16(),
      publicKey: kx === 'psk' ? undefined : bytes(133, 1),
      scheme: kx.startsWith('ecdhe_') && kx !== 'ecdhe_psk' ? u16() : undefined,
      signature: kx.startsWith('ecdhe_') && kx !== 'ecdhe_psk' ? bytes(512) : undefined,
    });
    assert.deepEqual(unmarshalServerKeyExchange(body(marshalServerKeyExchange(ske, kx)), kx), ske, kx);
    const cke = defined({
      pskIdentity: kx === 'psk' || kx === 'ecdhe_psk' ? bytes(30) : undefined,
      publicKey: kx === 'psk' ? undefined : bytes(133),
    });
    assert.deepEqual(unmarshalClientKeyExchange(body(marshalClientKeyExchange(cke, kx)), kx), cke, kx);
    const chain = list(3, () => bytes(300, 1));
    assert.deepEqual(unmarshalCertificate12(body(marshalCertificate12(chain))), chain);
    const request = {
      certificateTypes: list(3, () => r.int(256)),
      signatureAlgorithms: list(8, u16),
      certificateAuthorities: list(3, () => bytes(60, 1)),
    };
    assert.deepEqual(unmarshalCertificateRequest12(body(marshalCertificateRequest12(request))), request);
  }
});

const v: Record<string, string> = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/rfc8448-simple-1rtt.json', import.meta.url), 'utf8'),
);

test('RFC 8448 §3: the ClientHello and ServerHello decode as the RFC describes them', () => {
  const hello = unmarshalClientHello(body(hexToBytes(v.client_hello!)));
  assert.deepEqual(hello.cipherSuites, [0x1301, 0x1303, 0x1302]);
  assert.equal(hello.serverName, 'server');
  assert.deepEqual(hello.supportedVersions, [0x0304]);
  assert.deepEqual(hello.supportedGroups, [0x1d, 0x17, 0x18, 0x19, 0x100, 0x101, 0x102, 0x103, 0x104]);
  assert.deepEqual(
    hello.keyShares?.map((k) => [k.group, k.publicKey.length]),
    [[0x1d, 32]],
  );
  assert.deepEqual(hello.pskModes, [1]);
  // What this codec writes of it decodes to the same fields.
  assert.deepEqual(unmarshalClientHello(body(marshalClientHello(hello))), hello);
  const serverHello = hexToBytes(v.server_hello!);
  const { extensionTypes, ...decoded } = unmarshalServerHello(body(serverHello));
  assert.deepEqual(extensionTypes, [0x33, 0x2b]);
  assert.deepEqual(marshalServerHello(decoded), serverHello);
});

test("RFC 8448 §3: the server's Certificate, CertificateVerify and Finished marshal back to the same bytes", () => {
  const buffer = new HandshakeBuffer();
  buffer.push(hexToBytes(v.server_flight!));
  const [ee, certificate, verify, finished] = [
    buffer.next()!,
    buffer.next()!,
    buffer.next()!,
    buffer.next()!,
  ];
  assert.deepEqual(unmarshalEncryptedExtensions(ee.body).extensionTypes, [0x0a, 0x1c, 0x00]);
  assert.deepEqual(marshalCertificate(unmarshalCertificate(certificate.body)), certificate.raw);
  assert.deepEqual(marshalCertificateVerify(unmarshalCertificateVerify(verify.body)), verify.raw);
  assert.deepEqual(marshalFinished(finished.body), finished.raw);
});
