// The TLS 1.2 client handshake (RFC 5246 §7.3), after a ServerHello that chose TLS 1.2: server
// Certificate and ServerKeyExchange (signature checked on the host), CertificateRequest, then the
// client flight with the extended master secret (RFC 7627). Key operations go through KeyOps: the
// client signature, the ECDHE key, and for PSK suites the whole master secret (the PSK stays put).
import type { X509Certificate } from 'node:crypto';
import {
  bytesToHex,
  concatBytes,
  constantTimeEqual,
  type HashAlgorithm,
  tls12Prf,
  utf8,
} from '@iotsafe/protocol';
import type { RecordProtector } from './aead.js';
import { verifyCertificateVerify } from './certificates.js';
import { CONTENT_TYPE, GROUP_CODE, HANDSHAKE_TYPE, type NamedGroup, SIGNATURE_SCHEME } from './constants.js';
import { tlsFail } from './errors.js';
import type { Transcript } from './key-schedule.js';
import type { KeyOps, KeyShare } from './keyops.js';
import { marshalCertificateVerify, marshalFinished, type ServerHello, tls12Extensions } from './messages.js';
import {
  HANDSHAKE_12,
  marshalCertificate12,
  marshalClientKeyExchange,
  unmarshalCertificate12,
  unmarshalCertificateRequest12,
  unmarshalServerKeyExchange,
} from './tls12/messages.js';
import { Tls12Protection } from './tls12/protection.js';
import type { Suite12 } from './tls12/suites.js';

export interface HandshakeMessage {
  type: number;
  body: Uint8Array;
  raw: Uint8Array;
}

/** What the TLS 1.2 steps need from the connection. */
export interface Tls12Context {
  readonly keyOps: KeyOps;
  readonly transcript: Transcript;
  readonly clientRandom: Uint8Array;
  readonly alpnOffered: readonly string[] | undefined;
  /** The key share sent in the ClientHello (when TLS 1.3 was offered): reused when the curve matches. */
  readonly offeredKeyShare: KeyShare | undefined;
  nextHandshake(): Promise<HandshakeMessage>;
  writeRecord(type: number, content: Uint8Array): void;
  /** Records that the server's CertificateRequest allows none of the client key's schemes. */
  noteClientAuthMismatch(ourSchemes: readonly number[], serverSchemes: readonly number[]): void;
  /** Holds a flight's records until releaseFlight(), to send them together. */
  holdFlight(): void;
  releaseFlight(): void;
  installWriteProtection(p: RecordProtector): void;
  /** Waits for the server's ChangeCipherSpec and switches reading to `p`. */
  expectChangeCipherSpec(p: RecordProtector): Promise<void>;
  /** Checks the server chain (trust, validity, host) and returns it parsed. */
  authenticateServer(chain: Uint8Array[]): X509Certificate[];
  keylog(line: string): void;
}

/**
 * KeyOps name schemes as TLS 1.3 does; TLS 1.2 has no curve-specific ECDSA codes, so a brainpool key
 * signs as (sha256, ecdsa) = 0x0403 there (RFC 5246 §7.4.1.4.1, RFC 7027).
 */
const tls12Scheme = (scheme: number) =>
  scheme === SIGNATURE_SCHEME.ecdsa_brainpoolP256r1tls13_sha256
    ? SIGNATURE_SCHEME.ecdsa_secp256r1_sha256
    : scheme;

const prf = (hash: HashAlgorithm, secret: Uint8Array, label: string, seed: Uint8Array, length: number) =>
  tls12Prf(secret, concatBytes(utf8(label), seed), length, hash);

export async function runTls12(
  ctx: Tls12Context,
  hello: ServerHello,
  suite: Suite12,
): Promise<{ alpn?: string }> {
  const extensions = tls12Extensions(hello.extensions);
  if (!extensions.extendedMasterSecret)
    tlsFail('handshake_failure', 'the server does not do the extended master secret (RFC 7627)');
  if (!extensions.secureRenegotiation)
    tlsFail('handshake_failure', 'the server does not signal secure renegotiation (RFC 5746)');
  if (extensions.alpn !== undefined && !ctx.alpnOffered?.includes(extensions.alpn))
    tlsFail('illegal_parameter', 'the server chose an ALPN protocol that was not offered');
  const kx = suite.keyExchange;
  const randoms = concatBytes(ctx.clientRandom, hello.random);

  // Server flight: [Certificate] [ServerKeyExchange] [CertificateRequest] ServerHelloDone.
  let m = await ctx.nextHandshake();
  let leaf: X509Certificate | undefined;
  if (kx === 'ecdhe_ecdsa') {
    if (m.type !== HANDSHAKE_TYPE.CERTIFICATE)
      tlsFail('unexpected_message', 'expected the server Certificate');
    leaf = ctx.authenticateServer(unmarshalCertificate12(m.body))[0];
    ctx.transcript.add(m.raw);
    m = await ctx.nextHandshake();
  }
  let serverKey: ReturnType<typeof unmarshalServerKeyExchange> | undefined;
  if (m.type === HANDSHAKE_12.SERVER_KEY_EXCHANGE) {
    serverKey = unmarshalServerKeyExchange(m.body, kx);
    if (kx === 'ecdhe_ecdsa') {
      // The signature covers client_random ‖ server_random ‖ ServerECDHParams (RFC 8422 §5.4).
      verifyCertificateVerify(
        leaf!,
        serverKey.scheme!,
        concatBytes(randoms, serverKey.params!),
        serverKey.signature!,
        '1.2',
      );
    }
    ctx.transcript.add(m.raw);
    m = await ctx.nextHandshake();
  } else if (kx !== 'psk') tlsFail('unexpected_message', 'expected ServerKeyExchange');
  let request: ReturnType<typeof unmarshalCertificateRequest12> | undefined;
  if (m.type === HANDSHAKE_TYPE.CERTIFICATE_REQUEST) {
    if (kx !== 'ecdhe_ecdsa') tlsFail('unexpected_message', 'CertificateRequest in a PSK handshake');
    request = unmarshalCertificateRequest12(m.body);
    ctx.transcript.add(m.raw);
    m = await ctx.nextHandshake();
  }
  if (m.type !== HANDSHAKE_12.SERVER_HELLO_DONE || m.body.length !== 0)
    tlsFail('unexpected_message', 'expected ServerHelloDone');
  ctx.transcript.add(m.raw);

  // Client flight: [Certificate] ClientKeyExchange [CertificateVerify] ChangeCipherSpec Finished.
  ctx.holdFlight();
  const scheme = request
    ? ctx.keyOps.signatureSchemes.find((s) => request!.signatureSchemes.includes(tls12Scheme(s)))
    : undefined;
  if (request && scheme === undefined)
    ctx.noteClientAuthMismatch(ctx.keyOps.signatureSchemes.map(tls12Scheme), request.signatureSchemes);
  if (request) {
    const certificate = marshalCertificate12(scheme !== undefined ? ctx.keyOps.certificateChain : []);
    ctx.transcript.add(certificate);
    ctx.writeRecord(CONTENT_TYPE.HANDSHAKE, certificate);
  }
  let ecdheSecret: Uint8Array | undefined;
  let publicKey: Uint8Array | undefined;
  if (kx !== 'psk') {
    const group =
      (Object.keys(GROUP_CODE) as NamedGroup[]).find(
        (g) => GROUP_CODE[g] === serverKey!.group && ctx.keyOps.groups.includes(g),
      ) ??
      tlsFail(
        'handshake_failure',
        `the server chose a curve the key operations cannot do (${serverKey!.group})`,
      );
    const offered = ctx.offeredKeyShare;
    const share = offered?.group === group ? offered : await ctx.keyOps.generateKeyShare(group);
    publicKey = share.publicKey;
    ecdheSecret = await share.computeSecret(serverKey!.publicKey!);
  }
  const psk = ctx.keyOps.psk;
  if (kx !== 'ecdhe_ecdsa' && !psk) tlsFail('internal_error', 'a PSK suite without a PSK');
  const keyExchange = marshalClientKeyExchange(kx, publicKey, psk?.identity);
  ctx.transcript.add(keyExchange);
  ctx.writeRecord(CONTENT_TYPE.HANDSHAKE, keyExchange);

  // Extended master secret: PRF(premaster, "extended master secret", session_hash) (RFC 7627 §4).
  const labelAndSeed = concatBytes(utf8('extended master secret'), ctx.transcript.digest());
  const master =
    kx === 'ecdhe_ecdsa'
      ? tls12Prf(ecdheSecret!, labelAndSeed, 48, suite.hash)
      : await psk!.tls12MasterSecret(labelAndSeed, kx === 'ecdhe_psk' ? ecdheSecret : undefined);
  ecdheSecret?.fill(0);
  ctx.keylog(
    `CLIENT_RANDOM ${bytesToHex(ctx.clientRandom).toLowerCase()} ${bytesToHex(master).toLowerCase()}\n`,
  );

  if (request && scheme !== undefined && ctx.keyOps.certificateChain.length > 0) {
    // TLS 1.2 CertificateVerify signs the handshake messages so far (RFC 5246 §7.4.8).
    const signature = await ctx.keyOps.sign(scheme, ctx.transcript.concatenated());
    const verify = marshalCertificateVerify(tls12Scheme(scheme), signature);
    ctx.transcript.add(verify);
    ctx.writeRecord(CONTENT_TYPE.HANDSHAKE, verify);
  }

  // key_block = PRF(master, "key expansion", server_random ‖ client_random) (§6.3).
  const { keyLength, fixedIvLength } = suite;
  const block = prf(
    suite.hash,
    master,
    'key expansion',
    concatBytes(hello.random, ctx.clientRandom),
    2 * (keyLength + fixedIvLength),
  );
  const clientKey = block.subarray(0, keyLength);
  const serverKeyBytes = block.subarray(keyLength, 2 * keyLength);
  const clientIv = block.subarray(2 * keyLength, 2 * keyLength + fixedIvLength);
  const serverIv = block.subarray(2 * keyLength + fixedIvLength);
  ctx.writeRecord(CONTENT_TYPE.CHANGE_CIPHER_SPEC, Uint8Array.of(1));
  ctx.installWriteProtection(new Tls12Protection(suite, clientKey, clientIv));
  const clientFinished = marshalFinished(
    prf(suite.hash, master, 'client finished', ctx.transcript.digest(), 12),
  );
  ctx.transcript.add(clientFinished);
  ctx.writeRecord(CONTENT_TYPE.HANDSHAKE, clientFinished);
  ctx.releaseFlight();

  await ctx.expectChangeCipherSpec(new Tls12Protection(suite, serverKeyBytes, serverIv));
  const finished = await ctx.nextHandshake();
  if (finished.type !== HANDSHAKE_TYPE.FINISHED)
    tlsFail('unexpected_message', 'expected the server Finished');
  const expected = prf(suite.hash, master, 'server finished', ctx.transcript.digest(), 12);
  if (finished.body.length !== 12 || !constantTimeEqual(finished.body, expected))
    tlsFail('decrypt_error', 'the server Finished does not verify');
  ctx.transcript.add(finished.raw);
  master.fill(0);
  return extensions.alpn !== undefined ? { alpn: extensions.alpn } : {};
}
