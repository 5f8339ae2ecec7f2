// The TLS client connection (RFC 8446, RFC 5246), as a Duplex that behaves like tls.TLSSocket where it
// matters: 'secureConnect', getPeerCertificate(), alpnProtocol, getProtocol(), end() with close_notify,
// errors as 'error' events. It owns the stream, the record layer and what outlives the handshake
// (application keys, tickets, KeyUpdate, alerts); each handshake is a ClientHandshake object.
import type { X509Certificate } from 'node:crypto';
import { connect as netConnect, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { ALERT, CONTENT_TYPE, HANDSHAKE_TYPE, type NamedGroup, TLS12 } from './constants.js';
import { peerAlertError } from './diagnostics.js';
import { TlsError, tlsFail } from './errors.js';
import { ClientHandshake } from './handshake-client.js';
import type { Established, HandshakeConn, HandshakeDiagnostics, HandshakeEvent } from './handshake-conn.js';
import { cipherFor, nextTrafficSecret } from './handshake-tls13.js';
import { type KeyOps, SoftwareKeyOps } from './keyops.js';
import { marshalKeyUpdate, unmarshalKeyUpdate, unmarshalNewSessionTicket } from './messages.js';
import { type ConnectOptions, serverName, type TlsVersionName } from './options.js';
import type { Flight } from './record/flight.js';
import type { HalfConnection } from './record/half-conn.js';
import { HandshakeBuffer, type HandshakeMessage } from './record/handshake-buffer.js';
import type { RecordCipher } from './record/protection.js';
import { ReadArena } from './record/read-arena.js';
import { RecordWriter } from './record/record-writer.js';
import { StreamRecordLayer } from './record/stream-layer.js';
import { resumptionPsk, type TlsSession } from './session.js';
import { unmarshalEmpty } from './tls12/messages.js';

export type { ConnectOptions } from './options.js';

/** When the steps of the handshake happened (performance.now() ms), and how long it took in all. */
export interface HandshakeStats {
  /** From connect() to 'secureConnect' (TCP connect, SIM operations and the server's verdict included). */
  milliseconds: number;
  startedAt: number;
  /** The stream was connected (TCP's handshake done). */
  connectedAt?: number;
  clientHelloSentAt?: number;
  serverHelloReadAt?: number;
  finishedSentAt?: number;
}

/** The read buffer of a socket the client opens itself: what one read takes at most. */
const READ_BUFFER = 64 * 1024;
const MIN_VERDICT_WAIT = 250;
const MAX_VERDICT_WAIT = 5000;

export class TlsClientSocket extends Duplex implements HandshakeConn {
  authorized = false;
  alpnProtocol: string | false = false;
  readonly handshakeStats: HandshakeStats = { milliseconds: 0, startedAt: performance.now() };
  readonly keyOps: KeyOps;
  readonly diagnostics: HandshakeDiagnostics = {};
  /** The version the ServerHello chose; until then, none. */
  version?: TlsVersionName;

  private readonly stream: Duplex;
  // The record-layer version field of TLS 1.2 and 1.3 alike (RFC 8446 §5.1).
  private readonly records = new StreamRecordLayer(TLS12);
  private readonly handshake = new HandshakeBuffer();
  private established?: Established;
  /** 'secureConnect' has been emitted: records are application data and post-handshake messages now. */
  private secure = false;
  /** TLS 1.3 traffic secrets of the application keys, for KeyUpdate (§7.2). */
  private readSecret?: Uint8Array;
  private writeSecret?: Uint8Array;
  private peerClosed = false;
  /** The stream has ended (FIN): no more bytes will come. */
  private ended = false;
  private waiter?: { resolve: () => void; reject: (error: Error) => void };
  private pendingWrites: { chunk: Uint8Array; callback: (error?: Error | null) => void }[] = [];
  private timer?: NodeJS.Timeout;
  private readonly writer: RecordWriter;
  private arena?: ReadArena;

  constructor(readonly options: ConnectOptions) {
    super();
    this.keyOps = options.keyOps ?? new SoftwareKeyOps();
    const handshake = new ClientHandshake(this);
    // What does not depend on the server starts before the socket is even asked to connect.
    // An offer that cannot be made (options the key operations cannot serve) fails before any connect.
    if (options.pipelining ?? true) handshake.prepare().catch((error) => this.fail(error));
    if (options.socket) {
      this.stream = options.socket;
      this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    } else {
      // Our own socket reads into memory of its own, again and again (no allocation per read).
      const arena = new ReadArena(READ_BUFFER);
      this.arena = arena;
      this.stream = netConnect({
        host: options.host ?? '127.0.0.1',
        port: options.port ?? 443,
        onread: {
          buffer: () => arena.next(),
          callback: (length: number, buffer: Uint8Array) => this.onRead(buffer.subarray(0, length)),
        },
      });
    }
    this.writer = new RecordWriter(this.stream, this.records);
    this.stream.on('end', () => this.onPeerEnd());
    this.stream.on('error', (error) => this.onStreamError(error));
    this.timer = setTimeout(
      () => this.fail(new TlsError('user_canceled', 'the TLS handshake timed out')),
      options.handshakeTimeout ?? 30_000,
    );
    const start = () => {
      this.mark('connected');
      handshake
        .run()
        .then((established) => this.onEstablished(established))
        .catch((error) => this.fail(error));
    };
    if (this.stream instanceof Socket && this.stream.connecting) this.stream.once('connect', start);
    else queueMicrotask(start);
  }

  /**
   * The handshake is done on our side. A TLS 1.3 server that asked for our certificate answers it after
   * our Finished: its verdict is awaited (bounded) so that a refusal fails the connection instead of
   * 'secureConnect'; what it sent is processed before the connection is declared up.
   */
  private async onEstablished(established: Established): Promise<void> {
    this.established = established;
    this.authorized = established.authorized;
    if (established.alpn !== undefined) this.alpnProtocol = established.alpn;
    try {
      if (established.verdictPending) await this.awaitVerdict();
      this.pumpApplicationData();
      await established.keyOpsReleased;
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.destroyed) return;
    clearTimeout(this.timer);
    this.secure = true;
    this.handshakeStats.milliseconds = performance.now() - this.handshakeStats.startedAt;
    this.emit('secureConnect');
    this.flushPendingWrites();
    this.pumpApplicationData();
  }

  /** Waits until the server sends something after our Finished, or the verdict window closes. */
  private async awaitVerdict(): Promise<void> {
    const { clientHelloSentAt, serverHelloReadAt } = this.handshakeStats;
    const roundTrip = (serverHelloReadAt ?? 0) - (clientHelloSentAt ?? 0);
    const wait =
      this.options.clientAuthTimeout ?? Math.min(MAX_VERDICT_WAIT, Math.max(MIN_VERDICT_WAIT, 2 * roundTrip));
    // The verdict is part of the handshake: the wait ends a little before the handshake's deadline.
    const elapsed = performance.now() - this.handshakeStats.startedAt;
    const left = (this.options.handshakeTimeout ?? 30_000) - elapsed - 50;
    if (wait <= 0 || left <= 0 || this.records.buffered > 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.waitForData(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.min(wait, left));
      }),
    ]).finally(() => {
      clearTimeout(timer);
      this.waiter = undefined;
    });
  }

  mark(event: HandshakeEvent): void {
    this.handshakeStats[`${event}At`] = performance.now();
  }

  // --- what a handshake asks of the connection (HandshakeConn) ---

  get handshakeDrained(): boolean {
    return this.handshake.empty;
  }

  get writeProtection(): HalfConnection {
    return this.records.write;
  }

  changeReadCipher(cipher: RecordCipher, trafficSecret?: Uint8Array): void {
    this.records.changeReadCipher(cipher);
    this.readSecret = trafficSecret;
  }

  changeWriteCipher(cipher: RecordCipher, trafficSecret?: Uint8Array): HalfConnection {
    this.writeSecret = trafficSecret;
    return this.records.changeWriteCipher(cipher);
  }

  setRecordVersion(version: number): void {
    this.records.version = version;
  }

  limitFragments(length: number): void {
    this.records.limitFragments(length);
  }

  /** Seals every record of the flight and writes them together: one TCP segment where they fit. */
  sendFlight(flight: Flight): void {
    const records = flight.records.map((r) => this.records.seal(r.type, r.content, r.protection));
    this.writeRecords(records.length === 1 ? records[0]! : Buffer.concat(records));
  }

  keylog(line: string): void {
    this.options.keylog?.(line);
  }

  /** Pulls records until the server's ChangeCipherSpec, then reads with `cipher` (RFC 5246 §7.1). */
  async expectChangeCipherSpec(cipher: RecordCipher): Promise<void> {
    for (;;) {
      if (!this.handshake.empty) tlsFail('unexpected_message', 'handshake data before ChangeCipherSpec');
      const record = this.records.next();
      if (!record) {
        await this.waitForData();
        continue;
      }
      if (record.type === CONTENT_TYPE.CHANGE_CIPHER_SPEC) {
        this.records.changeReadCipher(cipher);
        return;
      }
      if (record.type === CONTENT_TYPE.ALERT) this.handleAlert(record.content);
      else tlsFail('unexpected_message', 'expected ChangeCipherSpec');
    }
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
      // TLS 1.3 drops ChangeCipherSpec (middlebox compatibility, §5); TLS 1.2 expects it only where asked.
      else if (this.version !== undefined && this.version !== 'TLSv1.3')
        tlsFail('unexpected_message', 'unexpected ChangeCipherSpec');
    }
  }

  // --- records in ---

  /**
   * Bytes read into the socket's reused memory. Once the connection is up they are framed and opened
   * in place at once, and a partial record left over moves to the front for the next read to complete;
   * during the handshake, which pulls records later, they are copied whole.
   */
  private onRead(bytes: Uint8Array): boolean {
    if (!this.secure) {
      this.onData(Buffer.from(bytes));
      return true;
    }
    this.records.pushBorrowed(bytes);
    try {
      this.pumpApplicationData();
    } finally {
      this.records.keepBorrowed((rest) => this.arena?.keep(rest));
    }
    return true;
  }

  private onData(chunk: Buffer): void {
    this.records.push(chunk);
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter.resolve();
    else if (this.secure) this.pumpApplicationData();
  }

  private onPeerEnd(): void {
    this.ended = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter.reject(this.closedError());
    else if (this.established) {
      this.peerClosed = true;
      this.push(null);
    }
  }

  private closedError(): TlsError {
    if (this.secure)
      return new TlsError('handshake_failure', 'the server closed the connection without close_notify');
    if (this.established?.verdictPending)
      return new TlsError(
        'handshake_failure',
        'the server closed the connection after our Finished (it probably refused our certificate)',
      );
    return new TlsError('handshake_failure', 'the server closed the connection during the handshake');
  }

  /** Resolves when more bytes arrive; rejects at once when the stream has ended. */
  private waitForData(): Promise<void> {
    if (this.ended) return Promise.reject(this.closedError());
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /**
   * A broken stream (a reset, most often) fails the connection — unless an alert arrived before it: a
   * Python ssl server resets right after its alert, and the alert says why.
   */
  private onStreamError(error: Error): void {
    try {
      for (let record = this.records.next(); record; record = this.records.next())
        if (record.type === CONTENT_TYPE.ALERT) this.handleAlert(record.content);
    } catch (alert) {
      if (alert instanceof TlsError && alert.fromPeer) {
        this.fail(alert);
        return;
      }
    }
    const code = (error as NodeJS.ErrnoException).code;
    const reset = code === 'ECONNRESET' || code === 'EPIPE';
    const refused = reset && !this.secure && this.established?.verdictPending;
    this.fail(
      reset
        ? new TlsError(
            'internal_error',
            `the server reset the connection (${error.message})${refused ? '; it probably refused our certificate' : ''}`,
          )
        : error,
    );
  }

  private handleAlert(content: Uint8Array): void {
    if (content.length !== 2) tlsFail('decode_error', 'malformed alert');
    const description = content[1]!;
    if (description === ALERT.close_notify) {
      if (!this.established) throw new TlsError('close_notify', this.closedError().message, true);
      this.peerClosed = true;
      this.push(null);
      return;
    }
    throw peerAlertError(description, this.diagnostics);
  }

  /** After the handshake: application data, NewSessionTicket, KeyUpdate (§4.6), HelloRequest. */
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
        if (record.type === CONTENT_TYPE.APPLICATION_DATA) {
          if (record.content.length > 0) this.push(record.content);
        } else if (record.type === CONTENT_TYPE.HANDSHAKE) this.handshake.push(record.content);
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
    const established = this.established!;
    if (established.version !== 'TLSv1.3') {
      // No renegotiation (RFC 5746 §4.2): a HelloRequest gets a no_renegotiation warning.
      if (message.type !== HANDSHAKE_TYPE.HELLO_REQUEST)
        tlsFail('unexpected_message', `post-handshake message ${message.type}`);
      unmarshalEmpty(message.body, 'HelloRequest');
      this.writeRecords(this.records.seal(CONTENT_TYPE.ALERT, Uint8Array.of(1, ALERT.no_renegotiation)));
      return;
    }
    if (message.type === HANDSHAKE_TYPE.NEW_SESSION_TICKET) {
      this.acceptTicket(message.body);
      return;
    }
    if (message.type !== HANDSHAKE_TYPE.KEY_UPDATE)
      tlsFail('unexpected_message', `post-handshake message ${message.type}`);
    const { requestUpdate } = unmarshalKeyUpdate(message.body);
    const suite = established.resumption!.suite;
    const secret = nextTrafficSecret(suite, this.readSecret!);
    this.changeReadCipher(cipherFor(suite, secret), secret);
    if (requestUpdate) this.keyUpdate(false);
  }

  /** A NewSessionTicket becomes a 'session' event: what a later connect({ session }) resumes. */
  private acceptTicket(body: Uint8Array): void {
    const ticket = unmarshalNewSessionTicket(body);
    const resumption = this.established!.resumption;
    if (!resumption || ticket.lifetimeSeconds === 0) return;
    const { suite, resumptionMaster } = resumption;
    const name = serverName(this.options);
    const session: TlsSession = {
      cipherSuite: suite.code,
      hash: suite.hash,
      ticket: ticket.ticket,
      psk: resumptionPsk(suite.hash, resumptionMaster, ticket.nonce),
      ageAdd: ticket.ageAdd,
      lifetimeSeconds: ticket.lifetimeSeconds,
      receivedAt: Date.now(),
      ...(name ? { servername: name } : {}),
      peerChain: this.established!.peerChain.map((c) => new Uint8Array(c.raw)),
    };
    // Emitted apart from record processing: a listener's exception is its own, not the connection's.
    process.nextTick(() => this.emit('session', session));
  }

  /** True when the server took the offered session (no certificate exchanged this time). */
  isSessionReused(): boolean {
    return this.established?.sessionReused ?? false;
  }

  /** Sends KeyUpdate and moves to the next client traffic secret; `requestPeer` asks the server to do the same. */
  keyUpdate(requestPeer = false): void {
    const established = this.established;
    if (!established) throw new Error('the handshake is not finished');
    if (established.version !== 'TLSv1.3') throw new Error('KeyUpdate is TLS 1.3 only');
    this.writeRecords(this.records.seal(CONTENT_TYPE.HANDSHAKE, marshalKeyUpdate(requestPeer)));
    const suite = established.resumption!.suite;
    const secret = nextTrafficSecret(suite, this.writeSecret!);
    this.changeWriteCipher(cipherFor(suite, secret), secret);
  }

  // --- records out ---

  /** Writes sealed records; `done` follows the socket's backpressure. */
  private writeRecords(records: Buffer, done?: (error?: Error | null) => void): void {
    this.writer.writeSealed(records, done);
  }

  /** Sends the alert a local failure calls for, then tears the connection down with the error. */
  private fail(error: unknown): void {
    if (this.destroyed) return;
    clearTimeout(this.timer);
    const tls =
      error instanceof TlsError
        ? error
        : new TlsError('internal_error', error instanceof Error ? error.message : String(error));
    // An alert answers what the server sent; before our ClientHello there is no one to tell.
    const spoken = this.handshakeStats.clientHelloSentAt !== undefined;
    if (spoken && !tls.fromPeer && tls.alert !== 'close_notify') {
      try {
        this.writeRecords(this.records.seal(CONTENT_TYPE.ALERT, Uint8Array.of(2, tls.alertCode)));
      } catch {
        // the alert is best effort
      }
    }
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(tls);
    this.stream.destroy();
    this.destroy(tls);
  }

  // --- Duplex ---

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.secure) {
      this.pendingWrites.push({ chunk: new Uint8Array(chunk), callback });
      return;
    }
    try {
      // The callback follows the socket's, so backpressure reaches the writer.
      this.writer.writeData(CONTENT_TYPE.APPLICATION_DATA, chunk, callback);
    } catch (error) {
      callback(error as Error);
    }
  }

  /** Writes buffered while the socket was busy (or corked) go out together, in as few records as fit. */
  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (error?: Error | null) => void,
  ): void {
    const data = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk));
    this._write(data, 'binary', callback);
  }

  private flushPendingWrites(): void {
    const pending = this.pendingWrites;
    this.pendingWrites = [];
    for (const { chunk, callback } of pending) this._write(Buffer.from(chunk), 'binary', callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.secure)
      this.writeRecords(this.records.seal(CONTENT_TYPE.ALERT, Uint8Array.of(1, ALERT.close_notify)));
    this.stream.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    this.stream.destroy();
    callback(error);
  }

  getProtocol(): string | null {
    return this.established?.version ?? null;
  }

  getCipher(): { name: string; standardName: string; version: string } | undefined {
    const e = this.established;
    return e ? { name: e.cipher.name, standardName: e.cipher.name, version: e.version } : undefined;
  }

  /** The server certificate as tls.TLSSocket gives it (legacy object), or {} before it is known. */
  getPeerCertificate(): ReturnType<X509Certificate['toLegacyObject']> | Record<string, never> {
    return this.established?.peerChain[0]?.toLegacyObject() ?? {};
  }

  /** The key exchange group of the handshake (none for PSK-only handshakes). */
  getNegotiatedGroup(): NamedGroup | undefined {
    return this.established?.group;
  }

  /** The scheme our CertificateVerify was signed with, when the server asked for a certificate. */
  getClientSignatureScheme(): number | undefined {
    return this.established?.clientScheme;
  }

  /** The server chain as X509Certificate objects, leaf first. */
  getPeerX509Chain(): readonly X509Certificate[] {
    return this.established?.peerChain ?? [];
  }
}

export function connect(options: ConnectOptions, onSecureConnect?: () => void): TlsClientSocket {
  const socket = new TlsClientSocket(options);
  if (onSecureConnect) socket.once('secureConnect', onSecureConnect);
  return socket;
}
