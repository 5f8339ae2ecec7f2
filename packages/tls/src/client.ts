// The TLS client connection (RFC 8446, RFC 5246), as a Duplex that behaves like tls.TLSSocket where it
// matters: 'secureConnect', getPeerCertificate(), alpnProtocol, getProtocol(), end() with close_notify,
// errors as 'error' events. Its stream and records are a ClientStream (client-stream.ts), what outlives
// the handshake (traffic secrets, tickets) is in post-handshake.ts, and each handshake is a
// ClientHandshake object: this class runs the connection's life (connect, verdict, data, alerts, end).
import type { X509Certificate } from 'node:crypto';
import { Duplex } from 'node:stream';
import { ClientStream } from './client-stream.js';
import { ALERT, CONTENT_TYPE, type NamedGroup } from './constants.js';
import { peerAlertError } from './diagnostics.js';
import { TlsError, tlsFail } from './errors.js';
import { ClientHandshake } from './handshake-client.js';
import type { Established, HandshakeConn, HandshakeDiagnostics, HandshakeEvent } from './handshake-conn.js';
import {
  type ConnectionPhase,
  closedError,
  type HandshakeStats,
  streamError,
  verdictWait,
} from './handshake-stats.js';
import { type KeyOps, SoftwareKeyOps } from './keyops.js';
import { type ConnectOptions, serverName, type TlsVersionName } from './options.js';
import { PostHandshake } from './post-handshake.js';
import type { Flight } from './record/flight.js';
import type { HalfConnection } from './record/half-conn.js';
import type { HandshakeMessage } from './record/handshake-buffer.js';
import type { RecordCipher } from './record/protection.js';

export type { HandshakeStats } from './handshake-stats.js';
export type { ConnectOptions } from './options.js';

export class TlsClientSocket extends Duplex implements HandshakeConn {
  authorized = false;
  alpnProtocol: string | false = false;
  readonly handshakeStats: HandshakeStats = { milliseconds: 0, startedAt: performance.now() };
  readonly keyOps: KeyOps;
  readonly diagnostics: HandshakeDiagnostics = {};
  /** The version the ServerHello chose; until then, none. */
  version?: TlsVersionName;

  private readonly io: ClientStream;
  private established?: Established;
  /** 'secureConnect' has been emitted: records are application data and post-handshake messages now. */
  private secure = false;
  private readonly after: PostHandshake;
  private peerClosed = false;
  private pendingWrites: { chunk: Uint8Array; callback: (error?: Error | null) => void }[] = [];
  private timer?: NodeJS.Timeout;

  constructor(readonly options: ConnectOptions) {
    super();
    this.keyOps = options.keyOps ?? new SoftwareKeyOps();
    const handshake = new ClientHandshake(this);
    // What does not depend on the server starts before the socket is even asked to connect.
    // An offer that cannot be made (options the key operations cannot serve) fails before any connect.
    if (options.pipelining ?? true) handshake.prepare().catch((error) => this.fail(error));
    this.io = new ClientStream(options, {
      onRecords: () => this.pumpApplicationData(),
      onEnd: () => this.onPeerEnd(),
      onError: (error) => this.onStreamError(error),
      closedError: () => closedError(this.phase),
    });
    // A listener's exception is its own, not the connection's: sessions are emitted on their own tick.
    this.after = new PostHandshake(this.io, serverName(options), (session) =>
      process.nextTick(() => this.emit('session', session)),
    );
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
    if (this.io.connecting) this.io.stream.once('connect', start);
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
    this.io.onArrival = true;
    this.handshakeStats.milliseconds = performance.now() - this.handshakeStats.startedAt;
    this.emit('secureConnect');
    this.flushPendingWrites();
    this.pumpApplicationData();
  }

  /** Waits until the server sends something after our Finished, or the verdict window closes. */
  private async awaitVerdict(): Promise<void> {
    const wait = verdictWait(this.handshakeStats, this.options);
    if (wait <= 0 || this.io.records.buffered > 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.io.waitForData(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, wait);
      }),
    ]).finally(() => {
      clearTimeout(timer);
      this.io.endWait();
    });
  }

  /** Where the connection stands: what an end or a reset of its stream means. */
  private get phase(): ConnectionPhase {
    if (this.secure) return 'secure';
    return this.established?.verdictPending ? 'verdict' : 'handshake';
  }

  mark(event: HandshakeEvent): void {
    this.handshakeStats[`${event}At`] = performance.now();
  }

  // --- what a handshake asks of the connection (HandshakeConn) ---

  get handshakeDrained(): boolean {
    return this.io.handshake.empty;
  }

  get writeProtection(): HalfConnection {
    return this.io.records.write;
  }

  changeReadCipher(cipher: RecordCipher, trafficSecret?: Uint8Array): void {
    this.io.records.changeReadCipher(cipher);
    this.after.readSecret.set(trafficSecret);
  }

  changeWriteCipher(cipher: RecordCipher, trafficSecret?: Uint8Array): HalfConnection {
    this.after.writeSecret.set(trafficSecret);
    return this.io.records.changeWriteCipher(cipher);
  }

  setRecordVersion(version: number): void {
    this.io.records.version = version;
  }

  limitFragments(length: number): void {
    this.io.records.limitFragments(length);
  }

  /** Seals every record of the flight and writes them together: one TCP segment where they fit. */
  sendFlight(flight: Flight): void {
    const records = flight.records.map((r) => this.io.records.seal(r.type, r.content, r.protection));
    this.io.writer.writeSealed(records.length === 1 ? records[0]! : Buffer.concat(records));
  }

  keylog(line: string): void {
    this.options.keylog?.(line);
  }

  /** Pulls records until the server's ChangeCipherSpec, then reads with `cipher` (RFC 5246 §7.1). */
  async expectChangeCipherSpec(cipher: RecordCipher): Promise<void> {
    for (;;) {
      if (!this.io.handshake.empty) tlsFail('unexpected_message', 'handshake data before ChangeCipherSpec');
      const record = this.io.records.next();
      if (!record) {
        await this.io.waitForData();
        continue;
      }
      if (record.type === CONTENT_TYPE.CHANGE_CIPHER_SPEC) {
        this.io.records.changeReadCipher(cipher);
        return;
      }
      if (record.type === CONTENT_TYPE.ALERT) this.handleAlert(record.content);
      else tlsFail('unexpected_message', 'expected ChangeCipherSpec');
    }
  }

  /** The next handshake message, pulling and handling records as needed. */
  async nextHandshake(): Promise<HandshakeMessage> {
    for (;;) {
      const message = this.io.handshake.next();
      if (message) return message;
      const record = this.io.records.next();
      if (!record) {
        await this.io.waitForData();
        continue;
      }
      if (record.type === CONTENT_TYPE.HANDSHAKE) this.io.handshake.push(record.content);
      else if (record.type === CONTENT_TYPE.ALERT) this.handleAlert(record.content);
      else if (record.type !== CONTENT_TYPE.CHANGE_CIPHER_SPEC)
        tlsFail('unexpected_message', 'application data during the handshake');
      // TLS 1.3 drops ChangeCipherSpec (middlebox compatibility, §5); TLS 1.2 expects it only where asked.
      else if (this.version !== undefined && this.version !== 'TLSv1.3')
        tlsFail('unexpected_message', 'unexpected ChangeCipherSpec');
    }
  }

  // --- records in ---

  /** The stream ended while nothing waited for bytes: after the handshake, the readable side ends. */
  private onPeerEnd(): void {
    if (!this.established) return;
    this.peerClosed = true;
    this.push(null);
  }

  /**
   * A broken stream (a reset, most often) fails the connection — unless an alert arrived before it: a
   * Python ssl server resets right after its alert, and the alert says why.
   */
  private onStreamError(error: Error): void {
    try {
      for (let record = this.io.records.next(); record; record = this.io.records.next())
        if (record.type === CONTENT_TYPE.ALERT) this.handleAlert(record.content);
    } catch (alert) {
      if (alert instanceof TlsError && alert.fromPeer) {
        this.fail(alert);
        return;
      }
    }
    this.fail(streamError(error, this.phase));
  }

  private handleAlert(content: Uint8Array): void {
    if (content.length !== 2) tlsFail('decode_error', 'malformed alert');
    const description = content[1]!;
    if (description === ALERT.close_notify) {
      if (!this.established) throw new TlsError('close_notify', closedError(this.phase).message, true);
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
        const message = this.io.handshake.next();
        if (message) {
          this.after.handle(message, this.established!);
          continue;
        }
        const record = this.io.records.next();
        if (!record) return;
        if (record.type === CONTENT_TYPE.APPLICATION_DATA) {
          if (record.content.length > 0) this.push(record.content);
        } else if (record.type === CONTENT_TYPE.HANDSHAKE) this.io.handshake.push(record.content);
        else if (record.type === CONTENT_TYPE.ALERT) {
          this.handleAlert(record.content);
          if (this.peerClosed) return;
        } else tlsFail('unexpected_message', 'ChangeCipherSpec after the handshake');
      }
    } catch (error) {
      this.fail(error);
    }
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
    this.after.keyUpdate(established, requestPeer);
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
        this.io.send(CONTENT_TYPE.ALERT, Uint8Array.of(2, tls.alertCode));
      } catch {
        // the alert is best effort
      }
    }
    this.io.endWait(tls);
    this.io.stream.destroy();
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
      this.io.writer.writeData(CONTENT_TYPE.APPLICATION_DATA, chunk, callback);
    } catch (error) {
      callback(error as Error);
    }
  }

  /** Writes buffered while the socket was busy (or corked) go out together, in as few records as fit. */
  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (error?: Error | null) => void,
  ): void {
    if (!this.secure) {
      this._write(Buffer.concat(chunks.map((c) => c.chunk)), 'binary', callback);
      return;
    }
    try {
      this.io.writer.writeBatch(
        CONTENT_TYPE.APPLICATION_DATA,
        chunks.map((c) => c.chunk),
        callback,
      );
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
    if (this.secure) this.io.send(CONTENT_TYPE.ALERT, Uint8Array.of(1, ALERT.close_notify));
    this.io.stream.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    this.io.stream.destroy();
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
