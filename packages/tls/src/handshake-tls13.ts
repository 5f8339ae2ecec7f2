// The TLS 1.3 client handshake after the ServerHello (RFC 8446 §2): the handshake secret (its Extract
// through KeyOps, so a SIM can run it), EncryptedExtensions, the server's Certificate, CertificateVerify
// and Finished (or the PSK in their place), the application secrets, and the client flight. The socket
// negotiates the version before and keeps the records and the post-handshake messages after.
import { timingSafeEqual, type X509Certificate } from 'node:crypto';
import { bytesToHex } from '@iotsafe/protocol';
import { type CipherSuiteInfo, RecordProtection, type RecordProtector } from './aead.js';
import { verifyCertificateVerify } from './certificates.js';
import { CONTENT_TYPE, GROUP_CODE, HANDSHAKE_TYPE } from './constants.js';
import { tlsFail } from './errors.js';
import type { HandshakeMessage } from './handshake-tls12.js';
import {
  deriveSecret,
  emptyHash,
  finishedVerifyData,
  HASH_LENGTH,
  type Transcript,
  trafficKeys,
} from './key-schedule.js';
import type { KeyOps, KeyShare } from './keyops.js';
import {
  type CertificateRequest,
  certificateVerifyContent,
  marshalCertificate,
  marshalCertificateVerify,
  marshalFinished,
  type ServerHello,
  unmarshalCertificate,
  unmarshalCertificateRequest,
  unmarshalCertificateVerify,
  unmarshalEncryptedExtensions,
} from './messages.js';

/** What the TLS 1.3 steps need from the connection. */
export interface Tls13Context {
  readonly keyOps: KeyOps;
  readonly transcript: Transcript;
  readonly clientRandom: Uint8Array;
  readonly alpnOffered: readonly string[] | undefined;
  nextHandshake(): Promise<HandshakeMessage>;
  /** No handshake bytes are waiting beyond the messages read so far. */
  readonly handshakeDrained: boolean;
  writeRecord(type: number, content: Uint8Array): void;
  holdFlight(): void;
  releaseFlight(): void;
  installReadProtection(p: RecordProtector): void;
  installWriteProtection(p: RecordProtector): void;
  /** Checks the server chain (trust, validity, host) and returns it parsed. */
  authenticateServer(chain: Uint8Array[]): X509Certificate[];
  /** A resumed session's server: the chain its first handshake authenticated. */
  restorePeerChain(chain: readonly Uint8Array[]): void;
  noteClientAuthMismatch(ourSchemes: readonly number[], serverSchemes: readonly number[]): void;
  keylog(line: string): void;
}

export interface Tls13Start {
  hello: ServerHello;
  suite: CipherSuiteInfo;
  /** The key share the server answered. */
  share: KeyShare;
  /** The PSK the server accepted, if it did: its Early Secret, and the session when resuming. */
  psk?: { earlySecret: Uint8Array; pskOnly: boolean; sessionPeerChain?: readonly Uint8Array[] };
}

export interface Tls13Result {
  alpn?: string;
  /** The server proved the PSK (§2.2): it is authenticated without a certificate. */
  authenticatedByPsk: boolean;
  clientTrafficSecret: Uint8Array;
  serverTrafficSecret: Uint8Array;
  /** resumption_master_secret, for the tickets that may follow (§4.6.1). */
  resumptionMaster: Uint8Array;
}

export async function runTls13(ctx: Tls13Context, start: Tls13Start): Promise<Tls13Result> {
  const { suite } = start;
  const logKey = (label: string, secret: Uint8Array) =>
    ctx.keylog(
      `${label} ${bytesToHex(ctx.clientRandom).toLowerCase()} ${bytesToHex(secret).toLowerCase()}\n`,
    );
  const expect = async (type: number) => {
    const m = await ctx.nextHandshake();
    if (m.type !== type)
      tlsFail('unexpected_message', `handshake message ${m.type} where ${type} was expected`);
    return m;
  };

  const handshake = await deriveHandshakeSecret(ctx, start, logKey);
  const alpn = await readEncryptedExtensions(ctx, expect);
  let request: CertificateRequest | undefined;
  if (start.psk) {
    // The PSK authenticates the server: no Certificate, straight to Finished (§2.2).
    if (start.psk.sessionPeerChain) ctx.restorePeerChain(start.psk.sessionPeerChain);
  } else request = await readServerAuthentication(ctx, expect);
  await readServerFinished(ctx, expect, suite, handshake.server);

  // Master Secret = HKDF-Extract(Derive-Secret(handshake, "derived", ""), 0) (§7.1)
  const zeros = new Uint8Array(HASH_LENGTH[suite.hash as 'sha256']);
  const master = await ctx.keyOps.hkdfExtract(
    suite.hash,
    deriveSecret(suite.hash, handshake.secret, 'derived', emptyHash(suite.hash)),
    zeros,
  );
  const applicationHash = ctx.transcript.digest();
  const clientTrafficSecret = deriveSecret(suite.hash, master, 'c ap traffic', applicationHash);
  const serverTrafficSecret = deriveSecret(suite.hash, master, 's ap traffic', applicationHash);
  logKey('CLIENT_TRAFFIC_SECRET_0', clientTrafficSecret);
  logKey('SERVER_TRAFFIC_SECRET_0', serverTrafficSecret);

  await sendClientFlight(ctx, suite, request, handshake.client);
  // resumption_master_secret = Derive-Secret(master, "res master", CH..client Finished) (§7.1)
  const resumptionMaster = deriveSecret(suite.hash, master, 'res master', ctx.transcript.digest());
  return {
    ...(alpn !== undefined ? { alpn } : {}),
    authenticatedByPsk: start.psk !== undefined,
    clientTrafficSecret,
    serverTrafficSecret,
    resumptionMaster,
  };
}

/** (EC)DHE and the handshake secret (§7.1); the Extract runs in KeyOps. */
async function deriveHandshakeSecret(
  ctx: Tls13Context,
  { hello, suite, share, psk }: Tls13Start,
  logKey: (label: string, secret: Uint8Array) => void,
) {
  const { hash } = suite;
  const zeros = new Uint8Array(HASH_LENGTH[hash as 'sha256']);
  let shared: Uint8Array;
  if (hello.keyShare) {
    if (hello.keyShare.group !== GROUP_CODE[share.group])
      tlsFail('illegal_parameter', 'the server answered on another group');
    shared = await share.computeSecret(hello.keyShare.publicKey);
  } else if (psk?.pskOnly) shared = new Uint8Array(zeros);
  else return tlsFail('missing_extension', 'ServerHello without key_share');
  const early = psk ? psk.earlySecret : await ctx.keyOps.hkdfExtract(hash, zeros, zeros);
  const secret = await ctx.keyOps.hkdfExtract(
    hash,
    deriveSecret(hash, early, 'derived', emptyHash(hash)),
    shared,
  );
  shared.fill(0);
  const transcriptHash = ctx.transcript.digest();
  const client = deriveSecret(hash, secret, 'c hs traffic', transcriptHash);
  const server = deriveSecret(hash, secret, 's hs traffic', transcriptHash);
  logKey('CLIENT_HANDSHAKE_TRAFFIC_SECRET', client);
  logKey('SERVER_HANDSHAKE_TRAFFIC_SECRET', server);
  const keys = trafficKeys(hash, server, suite.keyLength);
  ctx.installReadProtection(new RecordProtection(suite, keys.key, keys.iv));
  return { secret, client, server };
}

type Expect = (type: number) => Promise<HandshakeMessage>;

async function readEncryptedExtensions(ctx: Tls13Context, expect: Expect): Promise<string | undefined> {
  const m = await expect(HANDSHAKE_TYPE.ENCRYPTED_EXTENSIONS);
  const { alpn } = unmarshalEncryptedExtensions(m.body);
  if (alpn !== undefined && !ctx.alpnOffered?.includes(alpn))
    tlsFail('illegal_parameter', `the server chose ALPN "${alpn}", which was not offered`);
  ctx.transcript.add(m.raw);
  return alpn;
}

/** CertificateRequest?, Certificate, CertificateVerify (§4.3.2, §4.4.2, §4.4.3). */
async function readServerAuthentication(
  ctx: Tls13Context,
  expect: Expect,
): Promise<CertificateRequest | undefined> {
  let m = await ctx.nextHandshake();
  let request: CertificateRequest | undefined;
  if (m.type === HANDSHAKE_TYPE.CERTIFICATE_REQUEST) {
    request = unmarshalCertificateRequest(m.body);
    ctx.transcript.add(m.raw);
    m = await ctx.nextHandshake();
  }
  if (m.type !== HANDSHAKE_TYPE.CERTIFICATE) tlsFail('unexpected_message', 'expected the server Certificate');
  const { chain } = unmarshalCertificate(m.body);
  const peerChain = ctx.authenticateServer(chain);
  ctx.transcript.add(m.raw);
  const cv = await expect(HANDSHAKE_TYPE.CERTIFICATE_VERIFY);
  const { scheme, signature } = unmarshalCertificateVerify(cv.body);
  const leaf = peerChain[0] ?? tlsFail('certificate_required', 'the server sent an empty Certificate');
  verifyCertificateVerify(
    leaf,
    scheme,
    certificateVerifyContent('server', ctx.transcript.digest()),
    signature,
  );
  ctx.transcript.add(cv.raw);
  return request;
}

async function readServerFinished(
  ctx: Tls13Context,
  expect: Expect,
  suite: CipherSuiteInfo,
  serverSecret: Uint8Array,
): Promise<void> {
  const finished = await expect(HANDSHAKE_TYPE.FINISHED);
  const expected = finishedVerifyData(suite.hash, serverSecret, ctx.transcript.digest());
  if (finished.body.length !== expected.length || !timingSafeEqual(finished.body, expected))
    tlsFail('decrypt_error', 'the server Finished does not verify');
  ctx.transcript.add(finished.raw);
  // Keys change after the Finished: nothing may ride in the same record (§5.1).
  if (!ctx.handshakeDrained) tlsFail('unexpected_message', 'handshake data after the server Finished');
}

/** [Certificate, CertificateVerify,] Finished under the client handshake keys (§4.4), as one write. */
async function sendClientFlight(
  ctx: Tls13Context,
  suite: CipherSuiteInfo,
  request: CertificateRequest | undefined,
  clientSecret: Uint8Array,
): Promise<void> {
  ctx.holdFlight();
  ctx.writeRecord(CONTENT_TYPE.CHANGE_CIPHER_SPEC, Uint8Array.of(1)); // middlebox compatibility (§D.4)
  const keys = trafficKeys(suite.hash, clientSecret, suite.keyLength);
  ctx.installWriteProtection(new RecordProtection(suite, keys.key, keys.iv));
  if (request) {
    const { keyOps } = ctx;
    const scheme = keyOps.signatureSchemes.find((s) => request.signatureSchemes.includes(s));
    const chain = scheme !== undefined ? keyOps.certificateChain : [];
    if (scheme === undefined) ctx.noteClientAuthMismatch(keyOps.signatureSchemes, request.signatureSchemes);
    const certificate = marshalCertificate(request.context, chain);
    ctx.transcript.add(certificate);
    ctx.writeRecord(CONTENT_TYPE.HANDSHAKE, certificate);
    if (scheme !== undefined && chain.length > 0) {
      const content = certificateVerifyContent('client', ctx.transcript.digest());
      const verify = marshalCertificateVerify(scheme, await keyOps.sign(scheme, content));
      ctx.transcript.add(verify);
      ctx.writeRecord(CONTENT_TYPE.HANDSHAKE, verify);
    }
  }
  const finished = marshalFinished(finishedVerifyData(suite.hash, clientSecret, ctx.transcript.digest()));
  ctx.transcript.add(finished);
  ctx.writeRecord(CONTENT_TYPE.HANDSHAKE, finished);
  ctx.releaseFlight();
}
