// The TLS client connection (RFC 8446, RFC 5246), as a Duplex that behaves like tls.TLSSocket where it
// matters: 'secureConnect', getPeerCertificate(), alpnProtocol, getProtocol(), end() with close_notify,
// errors as 'error' events. It owns the stream, the record layer and what outlives the handshake
// (application keys, tickets, KeyUpdate, alerts); each handshake is a ClientHandshake object.
import type { X509Certificate } from 'node:crypto';
import { connect as netConnect, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { ALERT, CONTENT_TYPE, HANDSHAKE_TYPE, TLS12 } from './constants.js';
import { TlsError, tlsFail } from './errors.js';
import { ClientHandshake } from './handshake-client.js';
import type { Established, HandshakeConn, HandshakeDiagnostics } from './handshake-conn.js';
import { cipherFor, nextTrafficSecret } from './handshake-tls13.js';
import { type KeyOps, SoftwareKeyOps } from './keyops.js';
import { marshalKeyUpdate, unmarshalKeyUpdate, unmarshalNewSessionTicket } from './messages.js';
import { type ConnectOptions, serverName, type TlsVersionName } from './options.js';
import type { Flight } from './record/flight.js';
import type { HalfConnection } from './record/half-conn.js';
import { HandshakeBuffer, type HandshakeMessage } from './record/handshake-buffer.js';
import type { RecordCipher } from './record/protection.js';
import { StreamRecordLayer } from './record/stream-layer.js';
import { resumptionPsk, type TlsSession } from './session.js';
import { unmarshalEmpty } from './tls12/messages.js';

export type { ConnectOptions } from './options.js';

export class TlsClientSocket extends Duplex implements HandshakeConn {
  authorized = false;
  alpnProtocol: string | false = false;
  /** Handshake statistics: how long it took. */
  readonly handshakeStats = { milliseconds: 0 };
  readonly keyOps: KeyOps;
  readonly diagnostics: HandshakeDiagnostics = {};

  private readonly stream: Duplex;
  // The record-layer version field of TLS 1.2 and 1.3 alike (RFC 8446 §5.1).
  private readonly records = new StreamRecordLayer(TLS12);
  private readonly handshake = new HandshakeBuffer();
  private established?: Established;
  /** TLS 1.3 traffic secrets of the application keys, for KeyUpdate (§7.2). */
  private readSecret?: Uint8Array;
  private writeSecret?: Uint8Array;
  private peerClosed = false;
  private waiter?: { resolve: () => void; reject: (error: Error) => void };
  private pendingWrites: { chunk: Uint8Array; callback: (error?: Error | null) => void }[] = [];
  private timer?: NodeJS.Timeout;

  constructor(readonly options: ConnectOptions) {
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
      new ClientHandshake(this)
        .run()
        .then((established) => {
          clearTimeout(this.timer);
          this.handshakeStats.milliseconds = performance.now() - started;
          this.onEstablished(established);
        })
        .catch((error) => this.fail(error));
    };
    if (this.stream instanceof Socket && this.stream.connecting) this.stream.once('connect', start);
    else queueMicrotask(start);
  }

  private onEstablished(established: Established): void {
    this.established = established;
    this.authorized = established.authorized;
    if (established.alpn !== undefined) this.alpnProtocol = established.alpn;
    this.emit('secureConnect');
    this.flushPendingWrites();
    this.pumpApplicationData();
  }

  private get connected(): boolean {
    return this.established !== undefined;
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

  /** Seals every record of the flight and writes them together: one TCP segment where they fit. */
  sendFlight(flight: Flight): void {
    const chunks: Uint8Array[] = [];
    for (const r of flight.records) chunks.push(...this.records.seal(r.type, r.content, r.protection));
    this.writeChunks(chunks);
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
      else if (this.version === 'TLSv1.2') tlsFail('unexpected_message', 'unexpected ChangeCipherSpec');
    }
  }

  /** The version the ServerHello chose; until then, none. */
  version?: TlsVersionName;

  // --- records in ---

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
    const entry = Object.entries(ALERT).find(([, v]) => v === description);
    const name = (entry?.[0] ?? 'internal_error') as keyof typeof ALERT;
    const authRefused = ['certificate_required', 'handshake_failure', 'bad_certificate'].includes(name);
    throw new TlsError(
      name,
      (authRefused && this.diagnostics.clientAuth) || '',
      true,
      entry ? undefined : description,
    );
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
    if (established.version === 'TLSv1.2') {
      // No renegotiation (RFC 5746 §4.2): a HelloRequest gets a no_renegotiation warning.
      if (message.type !== HANDSHAKE_TYPE.HELLO_REQUEST)
        tlsFail('unexpected_message', `post-handshake message ${message.type}`);
      unmarshalEmpty(message.body, 'HelloRequest');
      this.writeChunks(this.records.seal(CONTENT_TYPE.ALERT, Uint8Array.of(1, ALERT.no_renegotiation)));
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
    if (established.version === 'TLSv1.2') throw new Error('KeyUpdate is TLS 1.3 only');
    this.writeChunks(this.records.seal(CONTENT_TYPE.HANDSHAKE, marshalKeyUpdate(requestPeer)));
    const suite = established.resumption!.suite;
    const secret = nextTrafficSecret(suite, this.writeSecret!);
    this.changeWriteCipher(cipherFor(suite, secret), secret);
  }

  // --- records out ---

  /** Writes record chunks corked, so they leave together and no record is copied into a bigger buffer. */
  private writeChunks(chunks: readonly Uint8Array[], done?: (error?: Error | null) => void): void {
    if (this.stream.destroyed) {
      done?.(new Error('the connection is closed'));
      return;
    }
    this.stream.cork();
    let room = true;
    for (const chunk of chunks) room = this.stream.write(chunk);
    this.stream.uncork();
    if (!done) return;
    // Backpressure: the writer hears back at once while the socket has room, else once it drains.
    if (room) {
      done();
      return;
    }
    const settle = (error?: Error | null) => {
      this.stream.off('drain', settle);
      this.stream.off('close', closed);
      done(error);
    };
    const closed = () => settle(new Error('the connection closed before the data was sent'));
    this.stream.once('drain', settle);
    this.stream.once('close', closed);
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
        this.writeChunks(this.records.seal(CONTENT_TYPE.ALERT, Uint8Array.of(2, tls.alertCode)));
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
    if (!this.connected) {
      this.pendingWrites.push({ chunk: new Uint8Array(chunk), callback });
      return;
    }
    try {
      // The callback follows the socket's, so backpressure reaches the writer.
      this.writeChunks(this.records.seal(CONTENT_TYPE.APPLICATION_DATA, chunk), callback);
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
    if (this.connected)
      this.writeChunks(this.records.seal(CONTENT_TYPE.ALERT, Uint8Array.of(1, ALERT.close_notify)));
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
