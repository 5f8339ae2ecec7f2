// The TLS 1.3 key schedule against RFC 8448 §3 (test/fixtures/rfc8448-simple-1rtt.json).
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, diffieHellman, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { bytesToHex, FormatError, hexToBytes, hkdfExtract } from '@iotsafe/protocol';
import {
  deriveSecret,
  emptyHash,
  expandLabel,
  finishedVerifyData,
  SIGNATURE_SCHEME,
  sessionFromJson,
  sessionToJson,
  TlsError,
  Transcript,
  trafficKeys,
} from '@iotsafe/tls';
import { parseCertificate, verifyHandshakeSignature } from '../src/certificates.js';
import { unmarshalServerHello } from '../src/hello.js';
import {
  certificateVerifyContent,
  unmarshalCertificate,
  unmarshalCertificateVerify,
  unmarshalEncryptedExtensions,
  unmarshalNewSessionTicket,
} from '../src/messages.js';
import { HandshakeBuffer } from '../src/record/handshake-buffer.js';
import { obfuscatedTicketAge, resumptionPsk } from '../src/session.js';

const v: Record<string, string> = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/rfc8448-simple-1rtt.json', import.meta.url), 'utf8'),
);
const h = (name: string) => hexToBytes(v[name]!);
const hex = (b: Uint8Array) => bytesToHex(b).toLowerCase();
const zeros = new Uint8Array(32);

test('early, handshake and master secrets', () => {
  const early = hkdfExtract('sha256', zeros, zeros);
  assert.equal(hex(early), v.early_secret);
  const derived = deriveSecret('sha256', early, 'derived', emptyHash('sha256'));
  assert.equal(hex(derived), v.derived_for_handshake);
  const handshake = hkdfExtract('sha256', derived, h('ecdhe_shared_secret'));
  assert.equal(hex(handshake), v.handshake_secret);
  const derived2 = deriveSecret('sha256', handshake, 'derived', emptyHash('sha256'));
  assert.equal(hex(derived2), v.derived_for_master);
  assert.equal(hex(hkdfExtract('sha256', derived2, zeros)), v.master_secret);
});

test('handshake traffic secrets, keys, IVs and finished keys', () => {
  const hs = h('handshake_secret');
  const client = deriveSecret('sha256', hs, 'c hs traffic', h('transcript_hash_ch_sh'));
  const server = deriveSecret('sha256', hs, 's hs traffic', h('transcript_hash_ch_sh'));
  assert.equal(hex(client), v.client_handshake_traffic_secret);
  assert.equal(hex(server), v.server_handshake_traffic_secret);
  const ck = trafficKeys('sha256', client, 16);
  const sk = trafficKeys('sha256', server, 16);
  assert.deepEqual(
    [hex(ck.key), hex(ck.iv), hex(sk.key), hex(sk.iv)],
    [v.client_handshake_key, v.client_handshake_iv, v.server_handshake_key, v.server_handshake_iv],
  );
  assert.equal(hex(expandLabel('sha256', client, 'finished', new Uint8Array(0), 32)), v.client_finished_key);
  assert.equal(hex(expandLabel('sha256', server, 'finished', new Uint8Array(0), 32)), v.server_finished_key);
});

test('application traffic secrets, keys and IVs', () => {
  const master = h('master_secret');
  const client = deriveSecret('sha256', master, 'c ap traffic', h('transcript_hash_ch_server_finished'));
  const server = deriveSecret('sha256', master, 's ap traffic', h('transcript_hash_ch_server_finished'));
  assert.equal(hex(client), v.client_application_traffic_secret);
  assert.equal(hex(server), v.server_application_traffic_secret);
  const ck = trafficKeys('sha256', client, 16);
  const sk = trafficKeys('sha256', server, 16);
  assert.deepEqual(
    [hex(ck.key), hex(ck.iv), hex(sk.key), hex(sk.iv)],
    [v.client_application_key, v.client_application_iv, v.server_application_key, v.server_application_iv],
  );
});

test('client Finished verify_data (RFC 8448 §3), and any other transcript gives another value', () => {
  const client = h('client_handshake_traffic_secret');
  const transcript = h('transcript_hash_ch_server_finished');
  assert.equal(hex(finishedVerifyData('sha256', client, transcript)), v.client_finished_verify_data);
  const altered = transcript.slice();
  altered[0]! ^= 1;
  assert.notEqual(hex(finishedVerifyData('sha256', client, altered)), v.client_finished_verify_data);
});

/** RFC 8448 §3's server flight (EncryptedExtensions, Certificate, CertificateVerify, Finished), cut up by the client's own framing. */
function serverFlight() {
  const buffer = new HandshakeBuffer();
  buffer.push(h('server_flight'));
  const messages = [];
  for (let m = buffer.next(); m; m = buffer.next()) messages.push(m);
  assert.ok(buffer.empty);
  return messages;
}

test('the transcription of the RFC 8448 messages: lengths, transcript hashes and the x25519 secret', () => {
  assert.deepEqual(
    [h('client_hello').length, h('server_hello').length, h('server_flight').length],
    [196, 90, 657],
  );
  const transcript = new Transcript('sha256');
  transcript.add(h('client_hello'));
  transcript.add(h('server_hello'));
  assert.equal(hex(transcript.digest()), v.transcript_hash_ch_sh);
  for (const m of serverFlight()) transcript.add(m.raw);
  assert.equal(hex(transcript.digest()), v.transcript_hash_ch_server_finished);
  const hello = unmarshalServerHello(h('server_hello').subarray(4));
  assert.deepEqual(
    [hello.cipherSuite, hello.supportedVersion, hello.keyShare?.group],
    [0x1301, 0x0304, 0x001d],
  );
  const privateKey = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), h('client_private_key')]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), hello.keyShare!.publicKey]),
    format: 'der',
    type: 'spki',
  });
  assert.equal(hex(diffieHellman({ privateKey, publicKey })), v.ecdhe_shared_secret);
});

test("the server's flight of RFC 8448 §3 through the client's checks: parsers, CertificateVerify, Finished", () => {
  const [encryptedExtensions, certificate, certificateVerify, finished] = serverFlight();
  assert.deepEqual(
    [encryptedExtensions?.type, certificate?.type, certificateVerify?.type, finished?.type],
    [8, 11, 15, 20],
  );
  assert.deepEqual(unmarshalEncryptedExtensions(encryptedExtensions!.body).alpn, undefined);
  const { chain } = unmarshalCertificate(certificate!.body);
  assert.equal(chain.length, 1);
  const leaf = parseCertificate(chain[0]!);
  assert.match(leaf.subject, /CN=rsa/);

  const transcript = new Transcript('sha256');
  for (const m of [h('client_hello'), h('server_hello'), encryptedExtensions!.raw, certificate!.raw])
    transcript.add(m);
  const { scheme, signature } = unmarshalCertificateVerify(certificateVerify!.body);
  assert.equal(scheme, SIGNATURE_SCHEME.rsa_pss_rsae_sha256);
  const content = certificateVerifyContent('server', transcript.digest());
  verifyHandshakeSignature(leaf, scheme, content, signature);
  const forged = signature.slice();
  forged[10]! ^= 1;
  assert.throws(
    () => verifyHandshakeSignature(leaf, scheme, content, forged),
    /CertificateVerify signature is wrong/,
  );

  transcript.add(certificateVerify!.raw);
  const expected = finishedVerifyData('sha256', h('server_handshake_traffic_secret'), transcript.digest());
  assert.equal(hex(expected), v.server_finished_verify_data);
  assert.ok(timingSafeEqual(expected, finished!.body));
});

test('NewSessionTicket (§4.6.1): the fields, the resumption PSK, and the obfuscated ticket age mod 2^32', () => {
  const body = hexToBytes('00093A80' + 'FFFFFFF0' + '02' + 'AB01' + '0003' + '010203' + '0000');
  const ticket = unmarshalNewSessionTicket(body);
  assert.deepEqual(
    [ticket.lifetimeSeconds, ticket.ageAdd, hex(ticket.nonce), hex(ticket.ticket)],
    [604800, 0xfffffff0, 'ab01', '010203'],
  );
  assert.throws(() => unmarshalNewSessionTicket(body.subarray(0, 12)), TlsError);
  const master = h('master_secret');
  assert.equal(
    hex(resumptionPsk('sha256', master, ticket.nonce)),
    hex(expandLabel('sha256', master, 'resumption', ticket.nonce, 32)),
  );
  const session = { receivedAt: 1000, ageAdd: 0xfffffff0 } as Parameters<typeof obfuscatedTicketAge>[0];
  assert.equal(obfuscatedTicketAge(session, 1020), 4); // 20 ms + (2^32 - 16), wrapped
});

test('a session survives JSON both ways; anything else is a FormatError', () => {
  const session = {
    cipherSuite: 0x1301,
    hash: 'sha256' as const,
    ticket: hexToBytes('0102'),
    psk: h('master_secret'),
    ageAdd: 7,
    lifetimeSeconds: 7200,
    receivedAt: 1_700_000_000_000,
    servername: 'localhost',
    peerChain: [hexToBytes('3003020100')],
  };
  assert.deepEqual(sessionFromJson(sessionToJson(session)), session);
  for (const bad of [
    '',
    '{}',
    '[1]',
    sessionToJson(session).replace('"sha256"', '"md5"'),
    sessionToJson({ ...session, ticket: new Uint8Array(0) }),
  ])
    assert.throws(() => sessionFromJson(bad), FormatError);
});
