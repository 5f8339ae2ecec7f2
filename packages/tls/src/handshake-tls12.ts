// The TLS 1.2 client handshake after a ServerHello that chose TLS 1.2 (RFC 5246 §7.3), one method per
// message in protocol order: the server's Certificate, ServerKeyExchange (signature checked on the
// host), CertificateRequest and ServerHelloDone; the client flight — Certificate, ClientKeyExchange,
// CertificateVerify, ChangeCipherSpec, Finished — with the extended master secret (RFC 7627); the
// server's ChangeCipherSpec and Finished. Key operations go through KeyOps: the client signature, the
// ECDHE key, and for PSK suites the whole master secret (the PSK stays where it is).
import type { X509Certificate } from 'node:crypto';
import {
  bytesToHex,
  concatBytes,
  constantTimeEqual,
  type HashAlgorithm,
  tls12Prf,
  utf8,
} from '@iotsafe/protocol';
import { parseCertificate, verifyHandshakeSignature } from './certificates.js';
import {
  CLIENT_CERTIFICATE_TYPE,
  CONTENT_TYPE,
  groupByCode,
  HANDSHAKE_TYPE,
  type NamedGroup,
} from './constants.js';
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
import type { Transcript } from './key-schedule.js';
import { checkKeyShare, checkSharedSecret, type KeyShare } from './keyops.js';
import { marshalCertificateVerify, marshalFinished } from './messages.js';
import { Flight } from './record/flight.js';
import type { HandshakeMessage } from './record/handshake-buffer.js';
import {
  type CertificateRequest12,
  isSignedKeyExchange,
  marshalCertificate12,
  marshalClientKeyExchange,
  type ServerKeyExchange,
  serverEcdhParams,
  unmarshalCertificate12,
  unmarshalCertificateRequest12,
  unmarshalEmpty,
  unmarshalServerKeyExchange,
} from './tls12/messages.js';
import { Tls12RecordCipher } from './tls12/protection.js';
import type { Suite12 } from './tls12/suites.js';

export interface Tls12Start {
  transcript: Transcript;
  clientRandom: Uint8Array;
  hello: ServerHello;
  suite: Suite12;
  /** The key share of a ClientHello that offered TLS 1.3 too: reused when the server's curve is its group. */
  offeredShare?: KeyShare;
  /** supported_groups of the ClientHello: the curves the server may choose (RFC 8422 §5.4). */
  offeredGroups: readonly NamedGroup[];
  /** Hand the master secret back when the server gave a session ID (DTLS session resumption). */
  keepSession?: boolean;
}

const CERTIFICATE_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(CLIENT_CERTIFICATE_TYPE).map(([name, code]) => [code, name]),
);

/** The key type of our certificate (for the TLS 1.2 certificate_types check), parsed once per certificate. */
const keyTypes = new WeakMap<Uint8Array, string | undefined>();
function certificateKeyType(der: Uint8Array): string | undefined {
  if (!keyTypes.has(der)) keyTypes.set(der, parseCertificate(der).publicKey.asymmetricKeyType);
  return keyTypes.get(der);
}

export const prf = (
  hash: HashAlgorithm,
  secret: Uint8Array,
  label: string,
  seed: Uint8Array,
  length: number,
) => tls12Prf(secret, concatBytes(utf8(label), seed), length, hash);

/** key_block = PRF(master, "key expansion", server_random ‖ client_random) (RFC 5246 §6.3). */
export function tls12KeyBlock(
  suite: Suite12,
  master: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
): { client: Tls12RecordCipher; server: Tls12RecordCipher } {
  const { keyLength, fixedIvLength } = suite;
  const block = prf(
    suite.hash,
    master,
    'key expansion',
    concatBytes(serverRandom, clientRandom),
    2 * (keyLength + fixedIvLength),
  );
  const clientKey = block.subarray(0, keyLength);
  const serverKey = block.subarray(keyLength, 2 * keyLength);
  const clientIv = block.subarray(2 * keyLength, 2 * keyLength + fixedIvLength);
  const serverIv = block.subarray(2 * keyLength + fixedIvLength);
  return {
    client: new Tls12RecordCipher(suite, clientKey, clientIv),
    server: new Tls12RecordCipher(suite, serverKey, serverIv),
  };
}

export class Tls12ClientHandshake {
  private readonly transcript: Transcript;
  private readonly suite: Suite12;
  private readonly randoms: Uint8Array;
  private lookahead?: HandshakeMessage;
  private peerChain: X509Certificate[] = [];
  private authorized = false;
  private serverKeyExchange?: ServerKeyExchange;
  private request?: CertificateRequest12;
  private clientScheme?: number;
  private certificateSent = false;
  private group?: NamedGroup;
  private master: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly conn: HandshakeConn,
    private readonly start: Tls12Start,
  ) {
    this.transcript = start.transcript;
    this.suite = start.suite;
    this.randoms = concatBytes(start.clientRandom, start.hello.random);
  }

  async run(): Promise<Established> {
    const alpn = this.checkServerHelloExtensions();
    if (this.certificateSuite) await this.readServerCertificate();
    await this.readServerKeyExchange();
    await this.readCertificateRequest();
    await this.readServerHelloDone();
    const flight = new Flight();
    this.queueClientCertificate(flight);
    await this.queueClientKeyExchange(flight);
    await this.queueCertificateVerify(flight);
    const keys = this.keyBlock();
    this.queueChangeCipherSpecAndFinished(flight, keys.client);
    this.conn.sendFlight(flight);
    const keyOpsReleased = releaseKeyOps(this.conn);
    await this.readServerChangeCipherSpecAndFinished(keys.server);
    const sessionId = this.start.hello.sessionId;
    const session =
      this.start.keepSession && sessionId.length > 0
        ? { sessionId, masterSecret: Uint8Array.from(this.master) }
        : undefined;
    this.master.fill(0);
    return {
      version: 'TLSv1.2',
      cipher: { code: this.suite.code, name: this.suite.name },
      ...(alpn !== undefined ? { alpn } : {}),
      peerChain: this.peerChain,
      // A PSK suite's Finished proves the server holds the PSK.
      authorized: this.certificateSuite ? this.authorized : true,
      sessionReused: false,
      ...(this.group ? { group: this.group } : {}),
      ...(this.clientScheme !== undefined && this.certificateSent ? { clientScheme: this.clientScheme } : {}),
      verdictPending: false,
      ...(keyOpsReleased ? { keyOpsReleased } : {}),
      ...(session ? { tls12Session: session } : {}),
    };
  }

  private get certificateSuite(): boolean {
    return isSignedKeyExchange(this.suite.keyExchange);
  }

  /** The next message, or the one a step looked at and left (optional messages, §7.3). */
  private async peek(): Promise<HandshakeMessage> {
    this.lookahead ??= await this.conn.nextHandshake();
    return this.lookahead;
  }

  private async take(type: number, name: string): Promise<HandshakeMessage> {
    const m = this.lookahead ?? (await expectMessage(this.conn, type, name));
    this.lookahead = undefined;
    if (m.type !== type)
      tlsFail('unexpected_message', `handshake message ${m.type} where ${name} (${type}) was expected`);
    this.transcript.add(m.raw);
    return m;
  }

  /** Extended master secret and secure renegotiation are required; ALPN must be one offered. */
  private checkServerHelloExtensions(): string | undefined {
    const { hello } = this.start;
    if (!hello.extendedMasterSecret)
      tlsFail('handshake_failure', 'the server does not do the extended master secret (RFC 7627)');
    if (!hello.renegotiationInfo)
      tlsFail('handshake_failure', 'the server does not signal secure renegotiation (RFC 5746)');
    if (hello.renegotiationInfo!.length !== 0) tlsFail('handshake_failure', 'bad renegotiation_info');
    if (hello.alpn !== undefined && !this.conn.options.alpnProtocols?.includes(hello.alpn))
      tlsFail('illegal_parameter', 'the server chose an ALPN protocol that was not offered');
    return hello.alpn;
  }

  /** Certificate (§7.4.2): the chain, checked against the trust anchors and the server name. */
  private async readServerCertificate(): Promise<void> {
    const m = await this.take(HANDSHAKE_TYPE.CERTIFICATE, 'Certificate');
    const server = authenticateServer(this.conn.options, unmarshalCertificate12(m.body));
    this.peerChain = server.peerChain;
    this.authorized = server.authorized;
    const leaf = this.peerChain[0] ?? tlsFail('certificate_required', 'the server sent an empty Certificate');
    // ECDHE_ECDSA needs an ECDSA-capable key, ECDHE_RSA an RSA key (RFC 8422 §5.3, RFC 5246 §7.4.2).
    const wanted = this.suite.keyExchange === 'ecdhe_rsa' ? 'rsa' : 'ec';
    const keyType = leaf.publicKey.asymmetricKeyType;
    if (keyType !== wanted && !(wanted === 'ec' && keyType === 'ed25519'))
      tlsFail('unsupported_certificate', `${this.suite.name} with a ${keyType} server key`);
  }

  /** ServerKeyExchange (§7.4.3, RFC 8422 §5.4, RFC 4279 §2): optional only for plain PSK. */
  private async readServerKeyExchange(): Promise<void> {
    const kx = this.suite.keyExchange;
    if ((await this.peek()).type !== HANDSHAKE_TYPE.SERVER_KEY_EXCHANGE) {
      if (kx !== 'psk') tlsFail('unexpected_message', 'expected ServerKeyExchange');
      return;
    }
    const m = await this.take(HANDSHAKE_TYPE.SERVER_KEY_EXCHANGE, 'ServerKeyExchange');
    const ske = unmarshalServerKeyExchange(m.body, kx);
    if (isSignedKeyExchange(kx)) {
      // The signature covers client_random ‖ server_random ‖ ServerECDHParams (RFC 8422 §5.4).
      const content = concatBytes(this.randoms, serverEcdhParams(ske.group!, ske.publicKey!));
      verifyHandshakeSignature(
        this.peerChain[0]!,
        ske.scheme!,
        content,
        ske.signature!,
        '1.2',
        'ServerKeyExchange',
      );
    }
    this.serverKeyExchange = ske;
  }

  /** CertificateRequest (§7.4.4): certificate suites only. */
  private async readCertificateRequest(): Promise<void> {
    if ((await this.peek()).type !== HANDSHAKE_TYPE.CERTIFICATE_REQUEST) return;
    if (!this.certificateSuite) tlsFail('unexpected_message', 'CertificateRequest in a PSK handshake');
    const m = await this.take(HANDSHAKE_TYPE.CERTIFICATE_REQUEST, 'CertificateRequest');
    this.request = unmarshalCertificateRequest12(m.body);
    this.conn.diagnostics.certificateRequested = true;
  }

  private async readServerHelloDone(): Promise<void> {
    if ((await this.peek()).type !== HANDSHAKE_TYPE.SERVER_HELLO_DONE)
      tlsFail('unexpected_message', 'expected ServerHelloDone');
    const m = await this.take(HANDSHAKE_TYPE.SERVER_HELLO_DONE, 'ServerHelloDone');
    unmarshalEmpty(m.body, 'ServerHelloDone');
  }

  private queueHandshake(flight: Flight, message: Uint8Array): void {
    const framed = this.conn.frameHandshake?.(message) ?? message;
    this.transcript.add(framed);
    flight.add(CONTENT_TYPE.HANDSHAKE, framed, this.conn.writeProtection);
  }

  /**
   * Certificate (§7.4.6): the client chain when the request takes our key's type (§7.4.4: ecdsa_sign,
   * rsa_sign) and one of its (hash, signature) pairs, else an empty one.
   */
  private queueClientCertificate(flight: Flight): void {
    const request = this.request;
    if (!request) return;
    const { keyOps } = this.conn;
    const ours = keyOps.signatureSchemes12 ?? keyOps.signatureSchemes;
    const leaf = keyOps.certificateChain[0];
    const keyType = leaf ? certificateKeyType(leaf) : undefined;
    const certificateType =
      keyType === 'rsa' ? CLIENT_CERTIFICATE_TYPE.rsa_sign : CLIENT_CERTIFICATE_TYPE.ecdsa_sign;
    if (leaf && !request.certificateTypes.includes(certificateType)) {
      const types = request.certificateTypes.map((t) => CERTIFICATE_TYPE_NAMES[t] ?? String(t)).join(', ');
      noteClientAuthMismatch(this.conn, ours, request.signatureAlgorithms, `certificate types ${types}`);
    } else {
      this.clientScheme = ours.find((s) => request.signatureAlgorithms.includes(s));
      if (this.clientScheme === undefined)
        noteClientAuthMismatch(this.conn, ours, request.signatureAlgorithms);
    }
    const chain = this.clientScheme !== undefined ? keyOps.certificateChain : [];
    this.queueHandshake(flight, marshalCertificate12(chain));
    const sent = describeClientCertificate(chain);
    if (sent) this.conn.diagnostics.clientCertificate = sent;
    this.certificateSent = sent !== undefined;
  }

  /** ClientKeyExchange (§7.4.7) and the master secret with the extended master secret (RFC 7627 §4). */
  private async queueClientKeyExchange(flight: Flight): Promise<void> {
    const kx = this.suite.keyExchange;
    const { keyOps } = this.conn;
    let ecdheSecret: Uint8Array | undefined;
    let publicKey: Uint8Array | undefined;
    if (kx !== 'psk') {
      const ske = this.serverKeyExchange!;
      const group =
        this.start.offeredGroups.find((g) => g === groupByCode(ske.group!)) ??
        this.unofferedCurve(ske.group!);
      this.group = group;
      checkKeyShare(group, ske.publicKey!);
      const offered = this.start.offeredShare;
      const share = offered && offered.group === group ? offered : await keyOps.generateKeyShare(group);
      publicKey = share.publicKey;
      ecdheSecret = await share.computeSecret(ske.publicKey!);
      checkSharedSecret(group, ecdheSecret);
    }
    const psk = keyOps.psk;
    if (!this.certificateSuite && !psk) tlsFail('internal_error', 'a PSK suite without a PSK');
    this.queueHandshake(
      flight,
      marshalClientKeyExchange(
        { ...(psk ? { pskIdentity: psk.identity } : {}), ...(publicKey ? { publicKey } : {}) },
        kx,
      ),
    );
    // master_secret = PRF(premaster, "extended master secret", session_hash) (RFC 7627 §4)
    const labelAndSeed = concatBytes(utf8('extended master secret'), this.transcript.digest());
    this.master = this.certificateSuite
      ? tls12Prf(ecdheSecret!, labelAndSeed, 48, this.suite.hash)
      : await psk!.tls12MasterSecret(labelAndSeed, kx === 'ecdhe_psk' ? ecdheSecret : undefined);
    ecdheSecret?.fill(0);
    const random = bytesToHex(this.start.clientRandom).toLowerCase();
    this.conn.keylog(`CLIENT_RANDOM ${random} ${bytesToHex(this.master).toLowerCase()}\n`);
  }

  /** A curve the ClientHello did not list (RFC 8422 §5.4 forbids it): illegal_parameter, with why we did not. */
  private unofferedCurve(code: number): never {
    const name = groupByCode(code) ?? `0x${code.toString(16).padStart(4, '0')}`;
    const why = this.conn.keyOps.groupsLimitedBy;
    return tlsFail(
      'illegal_parameter',
      `the server chose the curve ${name}, which was not offered${why ? ` (${why})` : ''}`,
    );
  }

  /** CertificateVerify (§7.4.8): a signature over the handshake messages so far. */
  private async queueCertificateVerify(flight: Flight): Promise<void> {
    const { keyOps } = this.conn;
    if (!this.request || this.clientScheme === undefined || keyOps.certificateChain.length === 0) return;
    const signature = await keyOps.sign(this.clientScheme, this.transcript.concatenated());
    this.queueHandshake(flight, marshalCertificateVerify({ scheme: this.clientScheme, signature }));
  }

  private keyBlock(): { client: Tls12RecordCipher; server: Tls12RecordCipher } {
    return tls12KeyBlock(this.suite, this.master, this.start.clientRandom, this.start.hello.random);
  }

  /** ChangeCipherSpec (§7.1), then Finished (§7.4.9) under the new keys. */
  private queueChangeCipherSpecAndFinished(flight: Flight, cipher: Tls12RecordCipher): void {
    flight.add(CONTENT_TYPE.CHANGE_CIPHER_SPEC, Uint8Array.of(1), this.conn.writeProtection);
    this.conn.changeWriteCipher(cipher);
    const verifyData = prf(this.suite.hash, this.master, 'client finished', this.transcript.digest(), 12);
    this.queueHandshake(flight, marshalFinished(verifyData));
  }

  private async readServerChangeCipherSpecAndFinished(cipher: Tls12RecordCipher): Promise<void> {
    await this.conn.expectChangeCipherSpec(cipher);
    const finished = await expectMessage(this.conn, HANDSHAKE_TYPE.FINISHED, 'Finished');
    const expected = prf(this.suite.hash, this.master, 'server finished', this.transcript.digest(), 12);
    if (finished.body.length !== 12 || !constantTimeEqual(finished.body, expected))
      tlsFail('decrypt_error', 'the server Finished does not verify');
    this.transcript.add(finished.raw);
  }
}
