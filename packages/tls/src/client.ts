// The TLS 1.3 client (RFC 8446), as a Duplex that behaves like tls.TLSSocket where it matters:
// 'secureConnect', getPeerCertificate(), alpnProtocol, getProtocol(), end() with close_notify, errors
// as 'error' events. The handshake reads like §2/§4: one method per step, in protocol order; every
// private-key and secret operation goes through KeyOps.

import type { X509Certificate } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { connect as netConnect, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { type HashAlgorithm, hkdfExtract } from '@iotsafe/protocol';
import type { RecordProtector } from './aead.js';
import { CIPHER_SUITES, type CipherSuiteInfo, RecordProtection, suiteByCode } from './aead.js';
import {
  parseCertificate,
  SERVER_SIGNATURE_SCHEMES,
  trustAnchors,
  verifyServerChain,
} from './certificates.js';
import {
  ALERT,
  CONTENT_TYPE,
  DOWNGRADE_TLS11,
  DOWNGRADE_TLS12,
  GROUP_CODE,
  HANDSHAKE_TYPE,
  HELLO_RETRY_REQUEST_RANDOM,
  type NamedGroup,
  TLS12_ONLY_GROUPS,
  TLS13,
} from './constants.js';
import { TlsError, tlsFail } from './errors.js';
import { type HandshakeMessage, runTls12, type Tls12Context } from './handshake-tls12.js';
import { runTls13, type Tls13Context } from './handshake-tls13.js';
import {
  deriveSecret,
  emptyHash,
  expandLabel,
  finishedVerifyData,
  HASH_LENGTH,
  Transcript,
  trafficKeys,
} from './key-schedule.js';
import { type KeyOps, type KeyShare, SoftwareKeyOps } from './keyops.js';
import { marshalClientHello, marshalKeyUpdate, type ServerHello, unmarshalServerHello } from './messages.js';
import { HandshakeBuffer, RecordLayer } from './record-layer.js';
import {
  copySession,
  type NewSessionTicket,
  obfuscatedTicketAge,
  resumptionPsk,
  sessionUsable,
  type TlsSession,
  unmarshalNewSessionTicket,
} from './session.js';
import { SUITES_12, type Suite12, suite12ByCode } from './tls12/suites.js';

export interface ConnectOptions {
  host?: string;
  port?: number;
  /** An already connected stream to run TLS over (then host/port are not used). */
  socket?: Duplex;
  /** SNI and the name the server certificate must carry; defaults to host unless it is an IP. */
  servername?: string;
  /** Trust anchors: PEM text, or a list of PEM/DER certificates (a CA read from a SIM file, say). */
  ca?: string | readonly (string | Uint8Array)[];
  /** Default true: a server that does not authenticate is refused. */
  rejectUnauthorized?: boolean;
  keyOps?: KeyOps;
  alpnProtocols?: readonly string[];
  cipherSuites?: readonly number[];
  groups?: readonly NamedGroup[];
  /** Receives NSS key log lines (SSLKEYLOGFILE format) for Wireshark/tshark; off by default. */
  keylog?: (line: string) => void;
  /** Handshake deadline in ms (default 30 s). */
  handshakeTimeout?: number;
  /** Lowest and highest versions to offer (default TLS 1.2 to TLS 1.3, negotiated in one ClientHello). */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** With a PSK in KeyOps: psk_dhe_ke (PSK + ECDHE, default) or psk_ke (PSK only), RFC 8446 §4.2.9. */
  pskMode?: 'psk_dhe_ke' | 'psk_ke';
  /**
   * A TLS 1.3 session from an earlier connection's 'session' event, offered for resumption: no
   * certificate, no signature (§2.2). Ignored when expired or for another server name.
   */
  session?: TlsSession;
}

/** The PSK a ClientHello offers: a resumption ticket, or the external PSK of KeyOps (§4.2.11). */
interface OfferedPsk {
  identity: Uint8Array;
  obfuscatedAge: number;
  hash: HashAlgorithm;
  binderLabel: 'res binder' | 'ext binder';
  earlySecret: Uint8Array;
  /** Set for a resumption. */
  session?: TlsSession;
}

const ZERO_CONTEXT = new Uint8Array(0);

export class TlsClientSocket extends Duplex implements Tls12Context, Tls13Context {
  authorized = false;
  alpnProtocol: string | false = false;
  /** Handshake statistics: time and the KeyOps calls it took. */
  readonly handshakeStats = { milliseconds: 0 };

  private readonly stream: Duplex;
  private readonly records = new RecordLayer();
  private readonly handshake = new HandshakeBuffer();
  readonly transcript = new Transcript();
  readonly keyOps: KeyOps;
  readonly clientRandom = new Uint8Array(randomBytes(32));
  private suite!: CipherSuiteInfo;
  private peerChain: X509Certificate[] = [];
  private connected = false;
  private peerClosed = false;
  private waiter?: { resolve: () => void; reject: (error: Error) => void };
  private pendingWrites: { chunk: Uint8Array; callback: (error?: Error | null) => void }[] = [];
  private clientTrafficSecret?: Uint8Array;
  /** The offered PSK (with its Early Secret), and whether the server took it. */
  private offeredPsk?: OfferedPsk;
  private pskAccepted = false;
  /** resumption_master_secret, once the handshake is done (§7.1): what tickets turn into PSKs. */
  private resumptionMaster?: Uint8Array;
  /** Set when the server chose TLS 1.2. */
  private suite12?: Suite12;
  offeredKeyShare: KeyShare | undefined;
  private serverTrafficSecret?: Uint8Array;
  private timer?: NodeJS.Timeout;

  constructor(private readonly options: ConnectOptions) {
    super();
    this.keyOps = options.keyOps ?? new SoftwareKeyOps();
    this.stream =
      options.socket ?? netConnect({ host: options.host ?? '127.0.0.1', port: options.port ?? 443 });
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    this.stream.on('end', () => this.onPeerEnd());
    this.stream.on('error', (error) => this.fail(error));
    this.timer = setTimeout(
      () => this.fail(new TlsError('user_canceled', 'the TLS handshake timed out')),
      options.handshakeTimeout ?? 30_000,
    );
    const start = () => {
      const started = performance.now();
      this.runHandshake()
        .then(() => {
          clearTimeout(this.timer);
          this.handshakeStats.milliseconds = performance.now() - started;
          this.connected = true;
          this.emit('secureConnect');
          this.flushPendingWrites();
          this.pumpApplicationData();
        })
        .catch((error) => this.fail(error));
    };
    if (this.stream instanceof Socket && this.stream.connecting) this.stream.once('connect', start);
    else queueMicrotask(start);
  }

  // --- the handshake, in protocol order (RFC 8446 §2) ---

  private async runHandshake(): Promise<void> {
    const offer13 = (this.options.maxVersion ?? 'TLSv1.3') === 'TLSv1.3';
    const offer12 = (this.options.minVersion ?? 'TLSv1.2') === 'TLSv1.2';
    if (!offer13 && !offer12) tlsFail('internal_error', 'minVersion is above maxVersion');
    const groups = (this.options.groups ?? this.keyOps.groups).filter((g) => this.keyOps.groups.includes(g));
    if (groups.length === 0)
      tlsFail('internal_error', 'no key exchange group in common with the key operations');
    const psk = this.keyOps.psk;
    if (offer13) this.offeredPsk = await this.choosePsk();
    const offeredHash = this.offeredPsk?.hash;
    const allowed = (code: number) => !this.options.cipherSuites || this.options.cipherSuites.includes(code);
    // A PSK is bound to one hash: only the suites that use it can be offered (RFC 8446 §4.2.11).
    const suites13 = offer13
      ? CIPHER_SUITES.map((c) => c.code).filter(
          (c) => allowed(c) && (!offeredHash || suiteByCode(c)?.hash === offeredHash),
        )
      : [];
    const certificates = !psk || this.options.ca !== undefined;
    const suites12 = offer12
      ? SUITES_12.filter(
          (x) => allowed(x.code) && (x.keyExchange === 'ecdhe_ecdsa' ? certificates : psk?.hash === x.hash),
        ).map((x) => x.code)
      : [];
    const suites = [...suites13, ...suites12];
    if (suites.length === 0) tlsFail('internal_error', 'no cipher suite to offer');
    if (offeredHash) this.transcript.hash = offeredHash;
    const groups13 = groups.filter((g) => !TLS12_ONLY_GROUPS.includes(g));
    if (offer13 && groups13.length === 0) tlsFail('internal_error', 'no TLS 1.3 key exchange group to offer');
    let share = offer13 ? await this.keyOps.generateKeyShare(groups13[0]!) : undefined;
    this.offeredKeyShare = share;
    const sessionId = new Uint8Array(randomBytes(32));
    const versions = [...(offer13 ? [TLS13] : []), ...(offer12 ? [0x0303] : [])];
    this.sendClientHello(sessionId, suites, versions, groups, share);
    let hello = await this.readServerHello(sessionId, suites, offer13, offer12);
    if (this.suite12) {
      const result = await runTls12(this, hello.message, this.suite12);
      if (result.alpn !== undefined) this.alpnProtocol = result.alpn;
      return;
    }
    if (hello.helloRetry) {
      const group = this.acceptHelloRetry(hello.message, groups13, share!);
      share = await this.keyOps.generateKeyShare(group);
      this.sendClientHello(sessionId, suites, versions, groups, share, hello.message.cookie);
      hello = await this.readServerHello(sessionId, suites, offer13, false);
      if (hello.helloRetry) tlsFail('unexpected_message', 'a second HelloRetryRequest');
    }
    const offered = this.pskAccepted ? this.offeredPsk : undefined;
    const result = await runTls13(this, {
      hello: hello.message,
      suite: this.suite,
      share: share!,
      ...(offered
        ? {
            psk: {
              earlySecret: offered.earlySecret,
              pskOnly: this.options.pskMode === 'psk_ke' && !offered.session,
              ...(offered.session ? { sessionPeerChain: offered.session.peerChain } : {}),
            },
          }
        : {}),
    });
    if (result.alpn !== undefined) this.alpnProtocol = result.alpn;
    if (result.authenticatedByPsk) this.authorized = true;
    this.clientTrafficSecret = result.clientTrafficSecret;
    this.serverTrafficSecret = result.serverTrafficSecret;
    this.resumptionMaster = result.resumptionMaster;
    this.installApplicationKeys();
  }

  private sendClientHello(
    sessionId: Uint8Array,
    suites: readonly number[],
    versions: readonly number[],
    groups: readonly NamedGroup[],
    share: KeyShare | undefined,
    cookie?: Uint8Array,
  ): void {
    const servername = this.servername;
    const psk = versions.includes(TLS13) ? this.offeredPsk : undefined;
    const binderLength = psk ? HASH_LENGTH[psk.hash as 'sha256'] : 0;
    const hello = marshalClientHello({
      random: this.clientRandom,
      sessionId,
      cipherSuites: suites,
      groups: groups.map((g) => GROUP_CODE[g]),
      versions,
      keyShares: share ? [{ group: GROUP_CODE[share.group], publicKey: share.publicKey }] : [],
      signatureSchemes: SERVER_SIGNATURE_SCHEMES,
      ...(servername ? { serverName: servername } : {}),
      ...(this.options.alpnProtocols ? { alpn: this.options.alpnProtocols } : {}),
      ...(cookie ? { cookie } : {}),
      ...(psk
        ? {
            psk: {
              identity: psk.identity,
              obfuscatedAge: psk.obfuscatedAge,
              modes: this.options.pskMode === 'psk_ke' && !psk.session ? [0] : [1],
              binderLength,
            },
          }
        : {}),
    });
    if (psk) {
      // The binder: HMAC over the ClientHello up to the binders list (§4.2.11.2).
      const partial = hello.subarray(0, hello.length - (3 + binderLength));
      const binderKey = deriveSecret(psk.hash, psk.earlySecret, psk.binderLabel, emptyHash(psk.hash));
      hello.set(
        finishedVerifyData(psk.hash, binderKey, this.transcript.digestWith(partial)),
        hello.length - binderLength,
      );
    }
    this.transcript.add(hello);
    this.writeRecord(CONTENT_TYPE.HANDSHAKE, hello);
  }

  /** ServerHello (§4.1.3): version, downgrade sentinel, session ID echo, suite, key share. */
  private async readServerHello(
    sessionId: Uint8Array,
    suites: readonly number[],
    offer13: boolean,
    offer12: boolean,
  ): Promise<{ message: ServerHello; helloRetry: boolean }> {
    const m = await this.expect(HANDSHAKE_TYPE.SERVER_HELLO);
    const random = m.body.subarray(2, 34);
    const helloRetry = offer13 && Buffer.from(random).equals(HELLO_RETRY_REQUEST_RANDOM);
    const hello = unmarshalServerHello(m.body, helloRetry);
    if (hello.version === undefined) {
      // The server chose TLS 1.2 or below (§4.1.3, §D.1).
      const tail = Buffer.from(hello.random.subarray(24));
      if (offer13 && (tail.equals(DOWNGRADE_TLS12) || tail.equals(DOWNGRADE_TLS11)))
        tlsFail('illegal_parameter', 'downgrade detected: the server could do TLS 1.3');
      if (!offer12 || hello.legacyVersion !== 0x0303)
        tlsFail('protocol_version', 'the server does not speak a version offered');
      const suite12 = suite12ByCode(hello.cipherSuite);
      if (!suite12 || !suites.includes(hello.cipherSuite))
        tlsFail('illegal_parameter', 'the server chose a cipher suite that was not offered');
      this.suite12 = suite12;
      this.transcript.hash = suite12!.hash;
      this.transcript.add(m.raw);
      return { message: hello, helloRetry: false };
    }
    if (hello.version !== TLS13 || !offer13)
      tlsFail('protocol_version', 'the server chose a version that was not offered');
    if (!Buffer.from(hello.sessionId).equals(Buffer.from(sessionId)))
      tlsFail('illegal_parameter', 'the server did not echo the session ID');
    if (!suites.includes(hello.cipherSuite))
      tlsFail('illegal_parameter', 'the server chose a cipher suite that was not offered');
    const suite = suiteByCode(hello.cipherSuite) ?? tlsFail('illegal_parameter', 'unknown cipher suite');
    if (helloRetry) {
      this.transcript.hash = suite.hash;
      this.transcript.replaceWithMessageHash();
    } else if (this.suite && this.suite.code !== suite.code)
      tlsFail('illegal_parameter', 'the cipher suite changed after HelloRetryRequest');
    this.suite = suite;
    this.transcript.hash = suite.hash;
    this.transcript.add(m.raw);
    if (hello.selectedIdentity !== undefined) {
      const offered = this.offeredPsk;
      if (!offered || hello.selectedIdentity !== 0)
        tlsFail('illegal_parameter', 'the server selected a PSK that was not offered');
      if (offered?.hash !== suite.hash)
        tlsFail('illegal_parameter', 'the server took the PSK with a suite of another hash');
      this.pskAccepted = true;
    }
    return { message: hello, helloRetry };
  }

  private acceptHelloRetry(hrr: ServerHello, groups: readonly NamedGroup[], share: KeyShare): NamedGroup {
    const group = groups.find((g) => GROUP_CODE[g] === hrr.selectedGroup);
    if (!group || group === share.group)
      tlsFail('illegal_parameter', 'HelloRetryRequest asks for a group that was not offered or already sent');
    return group!;
  }

  private installApplicationKeys(): void {
    const { hash, keyLength } = this.suite;
    const read = trafficKeys(hash, this.serverTrafficSecret!, keyLength);
    const write = trafficKeys(hash, this.clientTrafficSecret!, keyLength);
    this.records.setReadProtection(new RecordProtection(this.suite, read.key, read.iv));
    this.records.setWriteProtection(new RecordProtection(this.suite, write.key, write.iv));
  }

  // --- what the handshake modules use (Tls12Context, Tls13Context) ---

  get handshakeDrained(): boolean {
    return this.handshake.empty;
  }

  installReadProtection(p: RecordProtector): void {
    this.records.setReadProtection(p);
  }

  restorePeerChain(chain: readonly Uint8Array[]): void {
    this.peerChain = chain.map((der) => parseCertificate(der));
  }

  get alpnOffered(): readonly string[] | undefined {
    return this.options.alpnProtocols;
  }

  installWriteProtection(p: RecordProtector): void {
    this.records.setWriteProtection(p);
  }

  /** Pulls records until the server's ChangeCipherSpec, then reads with `p` (RFC 5246 §7.1). */
  async expectChangeCipherSpec(p: RecordProtector): Promise<void> {
    for (;;) {
      if (!this.handshake.empty) tlsFail('unexpected_message', 'handshake data before ChangeCipherSpec');
      const record = this.records.next();
      if (!record) {
        await this.waitForData();
        continue;
      }
      if (record.type === CONTENT_TYPE.CHANGE_CIPHER_SPEC) {
        this.records.setReadProtection(p);
        return;
      }
      if (record.type === CONTENT_TYPE.ALERT) this.handleAlert(record.content);
      else tlsFail('unexpected_message', 'expected ChangeCipherSpec');
    }
  }

  /** Parses the server chain and, unless told not to, checks it against the trust anchors and the host. */
  authenticateServer(chain: Uint8Array[]): X509Certificate[] {
    this.peerChain = chain.map(parseCertificate);
    if (this.options.rejectUnauthorized ?? true) {
      if (!this.options.ca)
        tlsFail('internal_error', 'no trust anchors: pass ca, or rejectUnauthorized: false');
      verifyServerChain(
        this.peerChain,
        trustAnchors(this.options.ca!),
        this.options.servername ?? this.options.host,
      );
      this.authorized = true;
    }
    return this.peerChain;
  }

  keylog(line: string): void {
    this.options.keylog?.(line);
  }

  // --- records in, handshake messages out ---

  private onData(chunk: Buffer): void {
    try {
      this.records.push(chunk);
    } catch (error) {
      this.fail(error);
      return;
    }
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter.resolve();
    else if (this.connected) this.pumpApplicationData();
  }

  private onPeerEnd(): void {
    const error = new TlsError(
      'handshake_failure',
      this.connected
        ? 'the server closed the connection without close_notify'
        : 'the server closed the connection during the handshake',
    );
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter.reject(error);
    else if (this.connected) {
      this.peerClosed = true;
      this.push(null);
    }
  }

  private waitForData(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** The next handshake message, pulling and handling records as needed. */
  async nextHandshake(): Promise<HandshakeMessage> {
    for (;;) {
      const message = this.handshake.next();
      if (message) return message;
      const record = this.records.next();
      if (!record) {
        await this.waitForData();
        continue;
      }
      if (record.type === CONTENT_TYPE.HANDSHAKE) this.handshake.push(record.content);
      else if (record.type === CONTENT_TYPE.ALERT) this.handleAlert(record.content);
      else if (record.type !== CONTENT_TYPE.CHANGE_CIPHER_SPEC)
        tlsFail('unexpected_message', 'application data during the handshake');
      // TLS 1.3 ignores ChangeCipherSpec (middlebox compatibility); TLS 1.2 expects it only where asked.
      else if (this.suite12) tlsFail('unexpected_message', 'unexpected ChangeCipherSpec');
    }
  }

  private async expect(type: number): Promise<HandshakeMessage> {
    const m = await this.nextHandshake();
    if (m.type !== type)
      tlsFail('unexpected_message', `handshake message ${m.type} where ${type} was expected`);
    return m;
  }

  private handleAlert(content: Uint8Array): void {
    if (content.length !== 2) tlsFail('decode_error', 'malformed alert');
    const description = content[1]!;
    if (description === ALERT.close_notify) {
      if (!this.connected)
        throw new TlsError('close_notify', 'the server closed the connection during the handshake', true);
      this.peerClosed = true;
      this.push(null);
      return;
    }
    const name = (Object.entries(ALERT).find(([, v]) => v === description)?.[0] ??
      'internal_error') as keyof typeof ALERT;
    const authRefused = ['certificate_required', 'handshake_failure', 'bad_certificate'].includes(name);
    throw new TlsError(name, (authRefused && this.clientAuthMismatch) || '', true);
  }

  /** After the handshake: application data, NewSessionTicket (ignored), KeyUpdate (§4.6). */
  private pumpApplicationData(): void {
    try {
      for (;;) {
        const message = this.handshake.next();
        if (message) {
          this.onPostHandshake(message);
          continue;
        }
        const record = this.records.next();
        if (!record) return;
        if (record.type === CONTENT_TYPE.APPLICATION_DATA) this.push(Buffer.from(record.content));
        else if (record.type === CONTENT_TYPE.HANDSHAKE) this.handshake.push(record.content);
        else if (record.type === CONTENT_TYPE.ALERT) {
          this.handleAlert(record.content);
          if (this.peerClosed) return;
        } else tlsFail('unexpected_message', 'ChangeCipherSpec after the handshake');
      }
    } catch (error) {
      this.fail(error);
    }
  }

  private onPostHandshake(message: HandshakeMessage): void {
    if (this.suite12) {
      // No renegotiation (RFC 5746 §4.2): a HelloRequest gets a no_renegotiation warning.
      if (message.type !== 0 || message.body.length !== 0)
        tlsFail('unexpected_message', `post-handshake message ${message.type}`);
      this.writeRecord(CONTENT_TYPE.ALERT, Uint8Array.of(1, ALERT.no_renegotiation));
      return;
    }
    if (message.type === HANDSHAKE_TYPE.NEW_SESSION_TICKET) {
      this.acceptTicket(unmarshalNewSessionTicket(message.body));
      return;
    }
    if (message.type !== HANDSHAKE_TYPE.KEY_UPDATE)
      tlsFail('unexpected_message', `post-handshake message ${message.type}`);
    if (message.body.length !== 1 || message.body[0]! > 1) tlsFail('decode_error', 'bad KeyUpdate');
    this.serverTrafficSecret = this.nextSecret(this.serverTrafficSecret!);
    const read = trafficKeys(this.suite.hash, this.serverTrafficSecret, this.suite.keyLength);
    this.records.setReadProtection(new RecordProtection(this.suite, read.key, read.iv));
    if (message.body[0] === 1) this.keyUpdate(false);
  }

  /** A NewSessionTicket becomes a 'session' event: what a later connect({ session }) resumes. */
  private acceptTicket(ticket: NewSessionTicket): void {
    if (!this.resumptionMaster || ticket.lifetimeSeconds === 0) return;
    const session: TlsSession = {
      cipherSuite: this.suite.code,
      hash: this.suite.hash,
      ticket: ticket.ticket,
      psk: resumptionPsk(this.suite.hash, this.resumptionMaster, ticket.nonce),
      ageAdd: ticket.ageAdd,
      lifetimeSeconds: ticket.lifetimeSeconds,
      receivedAt: Date.now(),
      ...(this.servername ? { servername: this.servername } : {}),
      peerChain: this.peerChain.map((c) => new Uint8Array(c.raw)),
    };
    // Emitted apart from record processing: a listener's exception is its own, not the connection's.
    process.nextTick(() => this.emit('session', session));
  }

  /** True when the server took the offered session (no certificate exchanged this time). */
  isSessionReused(): boolean {
    return this.pskAccepted && this.offeredPsk?.session !== undefined;
  }

  /** The resumption ticket to offer if it is still good for this server, else the external PSK of KeyOps. */
  private async choosePsk(): Promise<OfferedPsk | undefined> {
    const now = Date.now();
    const session = this.options.session;
    if (session && sessionUsable(session, this.servername, now)) {
      const zeros = new Uint8Array(HASH_LENGTH[session.hash as 'sha256']);
      return {
        identity: session.ticket,
        obfuscatedAge: obfuscatedTicketAge(session, now),
        hash: session.hash,
        binderLabel: 'res binder',
        // A resumption PSK is a host secret already: its extract runs here, not in KeyOps.
        earlySecret: hkdfExtract(session.hash, zeros, session.psk),
        session: copySession(session),
      };
    }
    const psk = this.keyOps.psk;
    if (!psk) return undefined;
    return {
      identity: psk.identity,
      obfuscatedAge: 0,
      hash: psk.hash,
      binderLabel: 'ext binder',
      earlySecret: await psk.earlySecret(),
    };
  }

  /** SNI, and the name the server certificate must carry: the servername option, else a host name. */
  private get servername(): string | undefined {
    const host = this.options.host;
    return this.options.servername ?? (host && !/^[\d.:]+$/.test(host) ? host : undefined);
  }

  private nextSecret(secret: Uint8Array): Uint8Array {
    return expandLabel(this.suite.hash, secret, 'traffic upd', ZERO_CONTEXT, secret.length);
  }

  /** Sends KeyUpdate and moves to the next client traffic secret; `requestPeer` asks the server to do the same. */
  keyUpdate(requestPeer = false): void {
    if (!this.connected) throw new Error('the handshake is not finished');
    if (this.suite12) throw new Error('KeyUpdate is TLS 1.3 only');
    this.writeRecord(CONTENT_TYPE.HANDSHAKE, marshalKeyUpdate(requestPeer));
    this.clientTrafficSecret = this.nextSecret(this.clientTrafficSecret!);
    const write = trafficKeys(this.suite.hash, this.clientTrafficSecret, this.suite.keyLength);
    this.records.setWriteProtection(new RecordProtection(this.suite, write.key, write.iv));
  }

  /** Why no certificate went to a server that asked for one: said again if the server then refuses. */
  private clientAuthMismatch?: string;

  noteClientAuthMismatch(ourSchemes: readonly number[], serverSchemes: readonly number[]): void {
    if (this.keyOps.certificateChain.length === 0) return;
    const hex = (list: readonly number[]) => list.map((s) => s.toString(16).padStart(4, '0')).join(', ');
    this.clientAuthMismatch = `no client certificate sent: our key signs with ${hex(ourSchemes)}, the server accepts ${hex(serverSchemes)}`;
  }

  // --- output ---

  /**
   * Holds the records of one flight until it is complete, so they leave together: one TCP segment on a
   * cellular link instead of four, and no Nagle stall while the SIM signs. fail() lets go of it too.
   */
  holdFlight(): void {
    this.stream.cork();
  }

  releaseFlight(): void {
    while (this.stream.writableCorked) this.stream.uncork();
  }

  /** Writes records chunk by chunk (corked), so no record is copied into a bigger buffer. */
  writeRecord(type: number, content: Uint8Array, done?: (error?: Error | null) => void): void {
    const chunks = this.records.encode(type, content);
    if (this.stream.destroyed) {
      done?.(new Error('the connection is closed'));
      return;
    }
    this.stream.cork();
    chunks.forEach((chunk, i) => {
      if (i === chunks.length - 1 && done) this.stream.write(chunk, done);
      else this.stream.write(chunk);
    });
    this.stream.uncork();
  }

  /** Sends the alert a local failure calls for, then tears the connection down with the error. */
  private fail(error: unknown): void {
    if (this.destroyed) return;
    clearTimeout(this.timer);
    const tls =
      error instanceof TlsError
        ? error
        : new TlsError('internal_error', error instanceof Error ? error.message : String(error));
    if (!tls.fromPeer && tls.alert !== 'close_notify') {
      try {
        this.writeRecord(CONTENT_TYPE.ALERT, Uint8Array.of(2, tls.alertCode));
      } catch {
        // the alert is best effort
      }
    }
    this.releaseFlight();
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(tls);
    this.stream.destroy();
    this.destroy(tls);
  }

  // --- Duplex ---

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.connected) {
      this.pendingWrites.push({ chunk: new Uint8Array(chunk), callback });
      return;
    }
    try {
      // The callback follows the socket's, so backpressure reaches the writer.
      this.writeRecord(CONTENT_TYPE.APPLICATION_DATA, chunk, callback);
    } catch (error) {
      callback(error as Error);
    }
  }

  private flushPendingWrites(): void {
    const pending = this.pendingWrites;
    this.pendingWrites = [];
    for (const { chunk, callback } of pending) this._write(Buffer.from(chunk), 'binary', callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.connected) this.writeRecord(CONTENT_TYPE.ALERT, Uint8Array.of(1, ALERT.close_notify));
    this.stream.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    this.stream.destroy();
    callback(error);
  }

  getProtocol(): string | null {
    if (!this.connected) return null;
    return this.suite12 ? 'TLSv1.2' : 'TLSv1.3';
  }

  getCipher(): { name: string; standardName: string; version: string } | undefined {
    if (this.suite12) return { name: this.suite12.name, standardName: this.suite12.name, version: 'TLSv1.2' };
    return this.suite
      ? { name: this.suite.name, standardName: this.suite.name, version: 'TLSv1.3' }
      : undefined;
  }

  /** The server certificate as tls.TLSSocket gives it (legacy object), or {} before it is known. */
  getPeerCertificate(): ReturnType<X509Certificate['toLegacyObject']> | Record<string, never> {
    return this.peerChain[0]?.toLegacyObject() ?? {};
  }

  /** The server chain as X509Certificate objects, leaf first. */
  getPeerX509Chain(): readonly X509Certificate[] {
    return this.peerChain;
  }
}

export function connect(options: ConnectOptions, onSecureConnect?: () => void): TlsClientSocket {
  const socket = new TlsClientSocket(options);
  if (onSecureConnect) socket.once('secureConnect', onSecureConnect);
  return socket;
}
