// The TLS 1.3 client handshake after the ServerHello (RFC 8446 §2, §4), one method per step in protocol
// order: the handshake secret (its Extract through KeyOps, so a SIM can run it), EncryptedExtensions,
// the server's CertificateRequest, Certificate and CertificateVerify (or the PSK in their place), its
// Finished, the application secrets, and the client flight. Go's clientHandshakeStateTLS13 is the model.
import { timingSafeEqual, type X509Certificate } from 'node:crypto';
import { bytesToHex, type HashAlgorithm } from '@iotsafe/protocol';
import { parseCertificate, verifyHandshakeSignature } from './certificates.js';
import { CONTENT_TYPE, GROUP_CODE, HANDSHAKE_TYPE } from './constants.js';
import { tlsFail } from './errors.js';
import {
  authenticateServer,
  describeClientCertificate,
  type Established,
  expectMessage,
  type HandshakeConn,
  noteClientAuthMismatch,
  releaseKeyOps,
} from './handshake-conn.js';
import type { ServerHello } from './hello.js';
import {
  deriveSecret,
  emptyHash,
  expandLabel,
  finishedVerifyData,
  HASH_LENGTH,
  type Transcript,
  trafficKeys,
} from './key-schedule.js';
import { checkKeyShare, checkSharedSecret, type KeyShare } from './keyops.js';
import {
  type CertificateRequest,
  certificateVerifyContent,
  marshalCertificate,
  marshalCertificateVerify,
  marshalFinished,
  unmarshalCertificate,
  unmarshalCertificateRequest,
  unmarshalCertificateVerify,
  unmarshalEncryptedExtensions,
} from './messages.js';
import { Flight } from './record/flight.js';
import { Tls13RecordCipher } from './record/protection.js';
import type { TlsSession } from './session.js';
import type { CipherSuiteInfo } from './suites.js';

/** The PSK a ClientHello offers: a resumption ticket, or the external PSK of KeyOps (§4.2.11). */
export interface OfferedPsk {
  identity: Uint8Array;
  obfuscatedAge: number;
  hash: HashAlgorithm;
  binderLabel: 'res binder' | 'ext binder';
  earlySecret: Uint8Array;
  /** Set for a resumption. */
  session?: TlsSession;
}

export interface Tls13Start {
  transcript: Transcript;
  clientRandom: Uint8Array;
  hello: ServerHello;
  suite: CipherSuiteInfo;
  /** The key share the server answered. */
  share: KeyShare;
  /** The PSK the server accepted, if it did. */
  psk?: OfferedPsk;
}

const ZERO_CONTEXT = new Uint8Array(0);

export const cipherFor = (suite: CipherSuiteInfo, secret: Uint8Array) => {
  const keys = trafficKeys(suite.hash, secret, suite.keyLength);
  return new Tls13RecordCipher(suite, keys.key, keys.iv);
};

/** The next application traffic secret (§7.2). */
export const nextTrafficSecret = (suite: CipherSuiteInfo, secret: Uint8Array) =>
  expandLabel(suite.hash, secret, 'traffic upd', ZERO_CONTEXT, secret.length);

export class Tls13ClientHandshake {
  private readonly transcript: Transcript;
  private readonly suite: CipherSuiteInfo;
  private handshakeSecret: Uint8Array = new Uint8Array(0);
  private clientHandshakeSecret: Uint8Array = new Uint8Array(0);
  private serverHandshakeSecret: Uint8Array = new Uint8Array(0);
  private request?: CertificateRequest;
  private clientScheme?: number;
  private peerChain: X509Certificate[] = [];
  private authorized = false;
  private alpn?: string;

  constructor(
    private readonly conn: HandshakeConn,
    private readonly start: Tls13Start,
  ) {
    this.transcript = start.transcript;
    this.suite = start.suite;
  }

  async run(): Promise<Established> {
    await this.deriveHandshakeSecret();
    await this.readEncryptedExtensions();
    if (this.start.psk) this.resumeAuthentication();
    else await this.readServerAuthentication();
    await this.readServerFinished();
    const master = await this.deriveMasterSecret();
    const { client, server } = this.applicationSecrets(master);
    this.conn.changeReadCipher(cipherFor(this.suite, server), server);
    await this.sendClientFlight();
    const keyOpsReleased = releaseKeyOps(this.conn);
    this.conn.changeWriteCipher(cipherFor(this.suite, client), client);
    // resumption_master_secret = Derive-Secret(master, "res master", CH..client Finished) (§7.1)
    const resumptionMaster = deriveSecret(this.suite.hash, master, 'res master', this.transcript.digest());
    return {
      version: 'TLSv1.3',
      cipher: { code: this.suite.code, name: this.suite.name },
      ...(this.alpn !== undefined ? { alpn: this.alpn } : {}),
      peerChain: this.peerChain,
      authorized: this.authorized,
      sessionReused: this.start.psk?.session !== undefined,
      resumption: { suite: this.suite, resumptionMaster },
      ...(this.start.hello.keyShare ? { group: this.start.share.group } : {}),
      ...(this.clientScheme !== undefined ? { clientScheme: this.clientScheme } : {}),
      verdictPending: this.request !== undefined,
      ...(keyOpsReleased ? { keyOpsReleased } : {}),
    };
  }

  private logKey(label: string, secret: Uint8Array): void {
    const random = bytesToHex(this.start.clientRandom).toLowerCase();
    this.conn.keylog(`${label} ${random} ${bytesToHex(secret).toLowerCase()}\n`);
  }

  /** (EC)DHE and the handshake secret (§7.1); the Extract with the shared secret runs in KeyOps. */
  private async deriveHandshakeSecret(): Promise<void> {
    const { hello, share, psk } = this.start;
    const { hash } = this.suite;
    const zeros = new Uint8Array(HASH_LENGTH[hash as 'sha256']);
    let shared: Uint8Array;
    if (hello.keyShare) {
      if (hello.keyShare.group !== GROUP_CODE[share.group])
        tlsFail('illegal_parameter', 'the server answered on another group');
      checkKeyShare(share.group, hello.keyShare.publicKey);
      shared = await share.computeSecret(hello.keyShare.publicKey);
      checkSharedSecret(share.group, shared);
    } else if (psk && this.conn.options.pskMode === 'psk_ke' && !psk.session) shared = new Uint8Array(zeros);
    else return tlsFail('missing_extension', 'ServerHello without key_share');
    const early = psk ? psk.earlySecret : await this.conn.keyOps.hkdfExtract(hash, zeros, zeros);
    this.handshakeSecret = await this.conn.keyOps.hkdfExtract(
      hash,
      deriveSecret(hash, early, 'derived', emptyHash(hash)),
      shared,
    );
    shared.fill(0);
    const transcriptHash = this.transcript.digest();
    this.clientHandshakeSecret = deriveSecret(hash, this.handshakeSecret, 'c hs traffic', transcriptHash);
    this.serverHandshakeSecret = deriveSecret(hash, this.handshakeSecret, 's hs traffic', transcriptHash);
    this.logKey('CLIENT_HANDSHAKE_TRAFFIC_SECRET', this.clientHandshakeSecret);
    this.logKey('SERVER_HANDSHAKE_TRAFFIC_SECRET', this.serverHandshakeSecret);
    this.conn.changeReadCipher(cipherFor(this.suite, this.serverHandshakeSecret));
  }

  /** EncryptedExtensions (§4.3.1): an ALPN protocol the client offered, or none. */
  private async readEncryptedExtensions(): Promise<void> {
    const m = await expectMessage(this.conn, HANDSHAKE_TYPE.ENCRYPTED_EXTENSIONS, 'EncryptedExtensions');
    const { alpn } = unmarshalEncryptedExtensions(m.body);
    if (alpn !== undefined && !this.conn.options.alpnProtocols?.includes(alpn))
      tlsFail('illegal_parameter', `the server chose ALPN "${alpn}", which was not offered`);
    if (alpn !== undefined) this.alpn = alpn;
    this.transcript.add(m.raw);
  }

  /** A PSK authenticates the server: no Certificate (§2.2); a resumption keeps the first chain. */
  private resumeAuthentication(): void {
    const session = this.start.psk!.session;
    if (session) this.peerChain = session.peerChain.map((der) => parseCertificate(der));
    this.authorized = true;
  }

  /** CertificateRequest?, Certificate, CertificateVerify (§4.3.2, §4.4.2, §4.4.3). */
  private async readServerAuthentication(): Promise<void> {
    let m = await this.conn.nextHandshake();
    if (m.type === HANDSHAKE_TYPE.CERTIFICATE_REQUEST) {
      this.request = unmarshalCertificateRequest(m.body);
      this.conn.diagnostics.certificateRequested = true;
      this.transcript.add(m.raw);
      m = await this.conn.nextHandshake();
    }
    if (m.type !== HANDSHAKE_TYPE.CERTIFICATE)
      tlsFail('unexpected_message', 'expected the server Certificate');
    const { chain } = unmarshalCertificate(m.body);
    const server = authenticateServer(this.conn.options, chain);
    this.peerChain = server.peerChain;
    this.authorized = server.authorized;
    this.transcript.add(m.raw);
    const cv = await expectMessage(this.conn, HANDSHAKE_TYPE.CERTIFICATE_VERIFY, 'CertificateVerify');
    const { scheme, signature } = unmarshalCertificateVerify(cv.body);
    const leaf = this.peerChain[0] ?? tlsFail('certificate_required', 'the server sent an empty Certificate');
    verifyHandshakeSignature(
      leaf,
      scheme,
      certificateVerifyContent('server', this.transcript.digest()),
      signature,
    );
    this.transcript.add(cv.raw);
  }

  private async readServerFinished(): Promise<void> {
    const finished = await expectMessage(this.conn, HANDSHAKE_TYPE.FINISHED, 'Finished');
    const expected = finishedVerifyData(
      this.suite.hash,
      this.serverHandshakeSecret,
      this.transcript.digest(),
    );
    if (finished.body.length !== expected.length || !timingSafeEqual(finished.body, expected))
      tlsFail('decrypt_error', 'the server Finished does not verify');
    this.transcript.add(finished.raw);
    // Keys change after the Finished: nothing may ride in the same record (§5.1).
    if (!this.conn.handshakeDrained)
      tlsFail('unexpected_message', 'handshake data after the server Finished');
  }

  /** Master Secret = HKDF-Extract(Derive-Secret(handshake, "derived", ""), 0) (§7.1). */
  private deriveMasterSecret(): Promise<Uint8Array> {
    const { hash } = this.suite;
    const zeros = new Uint8Array(HASH_LENGTH[hash as 'sha256']);
    return this.conn.keyOps.hkdfExtract(
      hash,
      deriveSecret(hash, this.handshakeSecret, 'derived', emptyHash(hash)),
      zeros,
    );
  }

  private applicationSecrets(master: Uint8Array): { client: Uint8Array; server: Uint8Array } {
    const transcriptHash = this.transcript.digest();
    const client = deriveSecret(this.suite.hash, master, 'c ap traffic', transcriptHash);
    const server = deriveSecret(this.suite.hash, master, 's ap traffic', transcriptHash);
    this.logKey('CLIENT_TRAFFIC_SECRET_0', client);
    this.logKey('SERVER_TRAFFIC_SECRET_0', server);
    return { client, server };
  }

  /** [Certificate, CertificateVerify,] Finished under the client handshake keys (§4.4), as one flight. */
  private async sendClientFlight(): Promise<void> {
    const flight = new Flight();
    const queue = (message: Uint8Array) => {
      this.transcript.add(message);
      flight.add(CONTENT_TYPE.HANDSHAKE, message, this.conn.writeProtection);
    };
    flight.add(CONTENT_TYPE.CHANGE_CIPHER_SPEC, Uint8Array.of(1), this.conn.writeProtection); // §D.4
    this.conn.changeWriteCipher(cipherFor(this.suite, this.clientHandshakeSecret));
    const request = this.request;
    if (request) {
      const { keyOps } = this.conn;
      const scheme = keyOps.signatureSchemes.find((s) => request.signatureAlgorithms.includes(s));
      const chain = scheme !== undefined ? keyOps.certificateChain : [];
      if (scheme === undefined)
        noteClientAuthMismatch(this.conn, keyOps.signatureSchemes, request.signatureAlgorithms);
      queue(marshalCertificate({ context: request.context, chain }));
      const ours = describeClientCertificate(chain);
      if (ours) this.conn.diagnostics.clientCertificate = ours;
      if (scheme !== undefined && chain.length > 0) {
        this.clientScheme = scheme;
        const content = certificateVerifyContent('client', this.transcript.digest());
        queue(marshalCertificateVerify({ scheme, signature: await keyOps.sign(scheme, content) }));
      }
    }
    queue(
      marshalFinished(
        finishedVerifyData(this.suite.hash, this.clientHandshakeSecret, this.transcript.digest()),
      ),
    );
    this.conn.sendFlight(flight);
  }
}
