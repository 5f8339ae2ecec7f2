// The DTLS 1.2 client connection (RFC 6347), Node-shaped like connect(): 'secureConnect', send(),
// 'message' events, 'error', 'close', close() with close_notify. It is also a CoAP DatagramTransport
// (one record per send, maxDatagramSize, remote, idempotent close). It owns the datagram link, the
// record layer, the reassembler and the retransmission timer; flights go out through a FlightSender
// (flight-sender.ts); the handshake is DtlsClientHandshake, which hands over to the TLS 1.2 handshake.
import type { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ALERT, CONTENT_TYPE, HANDSHAKE_TYPE, type NamedGroup } from '../constants.js';
import { peerAlertError } from '../diagnostics.js';
import { TlsError } from '../errors.js';
import {
  type Established,
  type HandshakeDiagnostics,
  type HandshakeEvent,
  serverName,
} from '../handshake-conn.js';
import type { HandshakeStats } from '../handshake-stats.js';
import { type KeyOps, SoftwareKeyOps } from '../keyops.js';
import type { TlsVersionName } from '../options.js';
import type { Flight } from '../record/flight.js';
import type { HalfConnection } from '../record/half-conn.js';
import type { HandshakeMessage } from '../record/handshake-buffer.js';
import type { RecordCipher } from '../record/protection.js';
import { DtlsError } from './errors.js';
import { type DatagramCounts, FlightSender } from './flight-sender.js';
import { DtlsClientHandshake, type DtlsHandshakeConn } from './handshake.js';
import { DtlsReassembler, messageSeqOf, toDtlsHandshake } from './handshake-framing.js';
import { RecordInbox } from './inbox.js';
import {
  type DatagramLink,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_MTU,
  type DtlsConnectOptions,
} from './options.js';
import { pausingKeyOps } from './paused-keyops.js';
import { DatagramRecordLayer, DTLS12, type DtlsRecord } from './record-layer.js';
import { RetransmitTimer } from './retransmit.js';
import { keptSession } from './session.js';
import { UdpLink } from './udp.js';

/** The TLS client's timings (milliseconds: from connectDtls() to 'secureConnect'), and the datagrams'. */
export interface DtlsHandshakeStats extends HandshakeStats, DatagramCounts {
  /** Flights sent again after a timeout. */
  retransmissions: number;
  /** HelloVerifyRequests answered (RFC 6347 §4.2.1). */
  helloVerifyRequests: number;
  datagramsReceived: number;
  bytesReceived: number;
}

/** The largest AEAD expansion of the offered suites (8-byte explicit nonce + 16-byte tag). */
const WORST_AEAD_OVERHEAD = 8 + 16;

export class DtlsClient extends EventEmitter implements DtlsHandshakeConn {
  authorized = false;
  alpnProtocol: string | false = false;
  readonly keyOps: KeyOps;
  readonly diagnostics: HandshakeDiagnostics = {};
  version?: TlsVersionName;
  readonly handshakeStats: DtlsHandshakeStats = {
    milliseconds: 0,
    startedAt: performance.now(),
    retransmissions: 0,
    helloVerifyRequests: 0,
    datagramsSent: 0,
    bytesSent: 0,
    datagramsReceived: 0,
    bytesReceived: 0,
  };
  /** The record layer, with its counts of dropped records (discarded). */
  readonly records: DatagramRecordLayer;
  /** The handshake reassembler, with its counts of dropped fragments (discarded). */
  readonly reassembler = new DtlsReassembler();
  private readonly retransmit: RetransmitTimer;
  private readonly mtu: number;
  private link?: DatagramLink;
  private ownsLink = false;
  private readonly inbox = new RecordInbox();
  private readonly flights: FlightSender;
  private nextMessageSeq = 0;
  private changeCipherSpecSeen = false;
  private established?: Established;
  private state: 'handshake' | 'secure' | 'closed' = 'handshake';
  private readonly deadline: NodeJS.Timeout;
  private closing?: Promise<void>;
  private readonly readiness: Promise<void>;
  private settleReadiness!: { resolve: () => void; reject: (error: Error) => void };

  constructor(readonly options: DtlsConnectOptions) {
    super();
    this.mtu = options.mtu ?? DEFAULT_MTU;
    this.records = new DatagramRecordLayer(DTLS12, {
      ...(options.replayWindow !== undefined ? { replayWindow: options.replayWindow } : {}),
    });
    this.retransmit = new RetransmitTimer(
      options.retransmit ?? {},
      (attempt, timeout) => this.resendFlight(attempt, timeout),
      (error) => this.fail(error),
    );
    this.flights = new FlightSender(this.records, this.mtu, this.handshakeStats, () => this.link);
    this.keyOps = pausingKeyOps(options.keyOps ?? new SoftwareKeyOps(), this.retransmit);
    this.readiness = new Promise<void>((resolve, reject) => {
      this.settleReadiness = { resolve, reject };
    });
    this.readiness.catch(() => {});
    const timeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    this.deadline = setTimeout(
      () =>
        this.fail(new DtlsError('handshake_timeout', `the DTLS handshake did not finish in ${timeout} ms`)),
      timeout,
    );
    this.start().catch((error) => this.fail(error));
  }

  /** Resolves once 'secureConnect' has been emitted; rejects with the handshake's error. */
  ready(): Promise<this> {
    return this.readiness.then(() => this);
  }

  private async start(): Promise<void> {
    const { options } = this;
    if (options.transport) this.link = options.transport;
    else {
      this.link = await UdpLink.connect(options.host ?? '127.0.0.1', options.port ?? 5684);
      this.ownsLink = true;
    }
    if (this.state === 'closed') {
      if (this.ownsLink) await this.link.close();
      return;
    }
    this.link.on('message', this.onDatagram);
    this.link.on('error', this.onLinkError);
    this.mark('connected');
    const established = await new DtlsClientHandshake(this).run();
    this.retransmit.stop();
    // In an abbreviated handshake our flight is the last: it goes again only when the server repeats
    // its own, which says ours was lost (RFC 6347 §4.2.4).
    this.flights.handshakeDone(established.sessionReused);
    await established.keyOpsReleased;
    if (this.state !== 'handshake') return;
    clearTimeout(this.deadline);
    this.established = established;
    this.authorized = established.authorized;
    if (established.alpn !== undefined) this.alpnProtocol = established.alpn;
    this.state = 'secure';
    this.handshakeStats.milliseconds = performance.now() - this.handshakeStats.startedAt;
    this.handshakeStats.retransmissions = this.retransmit.total;
    this.settleReadiness.resolve();
    this.emit('secureConnect');
    const session = keptSession(established, serverName(this.options));
    if (session) process.nextTick(() => this.emit('session', session));
    this.pump();
  }

  /** True when the server took the offered session (an abbreviated handshake). */
  isSessionReused(): boolean {
    return this.established?.sessionReused ?? false;
  }

  mark(event: HandshakeEvent): void {
    this.handshakeStats[`${event}At`] = performance.now();
  }

  // --- what the handshake asks of the connection (HandshakeConn) ---

  get handshakeDrained(): boolean {
    return this.reassembler.empty;
  }

  get writeProtection(): HalfConnection {
    return this.records.write;
  }

  changeReadCipher(cipher: RecordCipher): void {
    this.inbox.addFirst(this.records.changeReadCipher(cipher));
  }

  changeWriteCipher(cipher: RecordCipher): HalfConnection {
    return this.records.changeWriteCipher(cipher);
  }

  /** The connection IDs in use (RFC 9146), once the ServerHello agreed on them. */
  connectionIds?: { ours: Uint8Array; theirs: Uint8Array };

  useConnectionIds(ours: Uint8Array, theirs: Uint8Array): void {
    this.connectionIds = { ours, theirs };
    this.records.useConnectionIds(ours, theirs);
  }

  noteHelloVerifyRequest(): void {
    this.handshakeStats.helloVerifyRequests++;
  }

  keylog(line: string): void {
    this.options.keylog?.(line);
  }

  /** RFC 6347 §4.2.2: our messages are numbered from 0; a ClientHello is answered with its own number. */
  frameHandshake(message: Uint8Array): Uint8Array {
    const framed = toDtlsHandshake(message, this.nextMessageSeq++);
    if (message[0] === HANDSHAKE_TYPE.CLIENT_HELLO) this.reassembler.expect(messageSeqOf(framed));
    return framed;
  }

  /** Sends a flight and keeps it for retransmission until the server's next flight answers it. */
  sendFlight(flight: Flight): void {
    this.flights.send(flight);
    this.retransmit.start();
  }

  private resendFlight(attempt: number, timeout: number): void {
    if (!this.flights.pending) return;
    this.emit('retransmit', { attempt, timeout });
    this.flights.resend();
  }

  private sendDatagram(datagram: Uint8Array): Promise<void> {
    return this.flights.datagram(datagram);
  }

  /** The next handshake message; records are pulled as they come, alerts become errors. */
  async nextHandshake(): Promise<HandshakeMessage> {
    for (;;) {
      const message = this.reassembler.next();
      if (message) return message;
      const record = this.inbox.take();
      if (record) this.takeHandshakeRecord(record);
      else await this.inbox.wait();
    }
  }

  /** Waits for the server's ChangeCipherSpec, then reads the next epoch with `cipher` (RFC 6347 §4.1). */
  async expectChangeCipherSpec(cipher: RecordCipher): Promise<void> {
    while (!this.changeCipherSpecSeen) {
      const record = this.inbox.take();
      if (record) this.takeHandshakeRecord(record);
      else await this.inbox.wait();
    }
    this.changeCipherSpecSeen = false;
    this.changeReadCipher(cipher);
  }

  private takeHandshakeRecord(record: DtlsRecord): void {
    if (record.type === CONTENT_TYPE.HANDSHAKE) this.reassembler.push(record.content);
    else if (record.type === CONTENT_TYPE.ALERT) this.handleAlert(record.content);
    else if (record.type === CONTENT_TYPE.CHANGE_CIPHER_SPEC) {
      if (record.content.length === 1 && record.content[0] === 1) this.changeCipherSpecSeen = true;
    }
    // Application data cannot come before the keys: the record layer has dropped it already.
  }

  // --- datagrams in ---

  private readonly onDatagram = (datagram: Uint8Array): void => {
    if (this.state === 'closed') return;
    this.handshakeStats.datagramsReceived++;
    this.handshakeStats.bytesReceived += datagram.length;
    const records = this.records.open(datagram);
    if (records.length === 0) return;
    this.inbox.add(records);
    if (this.state === 'secure') this.pump();
  };

  /** An ICMP port unreachable (ECONNREFUSED) is no reason to give up on a datagram peer. */
  private readonly onLinkError = (error: Error): void => {
    if ((error as NodeJS.ErrnoException).code === 'ECONNREFUSED') return;
    this.fail(error);
  };

  /** After the handshake: application data, alerts, and the server's retransmissions or HelloRequest. */
  private pump(): void {
    try {
      for (let record = this.inbox.take(); record; record = this.inbox.take()) {
        if (this.state !== 'secure') return;
        if (record.type === CONTENT_TYPE.APPLICATION_DATA) {
          if (record.content.length > 0) this.emit('message', record.content);
        } else if (record.type === CONTENT_TYPE.ALERT) this.handleAlert(record.content);
        else if (record.type === CONTENT_TYPE.HANDSHAKE) {
          this.reassembler.push(record.content);
          if (this.reassembler.peerRetransmitted) this.flights.resendFinal();
          this.reassembler.peerRetransmitted = false;
          for (let m = this.reassembler.next(); m; m = this.reassembler.next()) this.onPostHandshake(m);
        }
      }
    } catch (error) {
      this.fail(error);
    }
  }

  /** No renegotiation (RFC 5746 §4.2): a HelloRequest gets a no_renegotiation warning; the rest is ignored. */
  private onPostHandshake(message: HandshakeMessage): void {
    if (message.type !== HANDSHAKE_TYPE.HELLO_REQUEST) return;
    this.sendDatagram(this.records.seal(CONTENT_TYPE.ALERT, Uint8Array.of(1, ALERT.no_renegotiation))).catch(
      () => {},
    );
  }

  private handleAlert(content: Uint8Array): void {
    // A malformed alert is an invalid record: dropped (RFC 6347 §4.1.2.7).
    if (content.length !== 2) return;
    const [level, description] = [content[0]!, content[1]!];
    if (description === ALERT.close_notify) {
      if (this.state === 'secure') {
        this.teardown();
        return;
      }
      throw new TlsError('close_notify', 'the server closed the association during the handshake', true);
    }
    if (level !== 2) return;
    throw peerAlertError(description, this.diagnostics);
  }

  // --- the application's side ---

  /** The largest payload send() takes: the MTU less the record header and the AEAD's expansion. */
  get maxDatagramSize(): number {
    const half = this.records.write;
    return this.mtu - (half.cipher ? this.records.overhead(half) : 13 + WORST_AEAD_OVERHEAD);
  }

  get remote(): { address: string; port: number } {
    return (
      this.link?.remote ?? { address: this.options.host ?? '127.0.0.1', port: this.options.port ?? 5684 }
    );
  }

  /** Sends one datagram of application data as one record (waits for the handshake first). */
  async send(data: Uint8Array): Promise<void> {
    if (this.state === 'handshake') await this.readiness;
    if (this.state !== 'secure') throw new DtlsError('closed', 'the DTLS connection is closed');
    if (data.length > this.maxDatagramSize)
      throw new DtlsError(
        'datagram_too_large',
        `${data.length} bytes do not fit one datagram (at most ${this.maxDatagramSize})`,
      );
    await this.sendDatagram(this.records.seal(CONTENT_TYPE.APPLICATION_DATA, data));
  }

  /** Sends close_notify (once the association is up) and releases the socket. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.state === 'secure') {
        try {
          await this.sendDatagram(
            this.records.seal(CONTENT_TYPE.ALERT, Uint8Array.of(1, ALERT.close_notify)),
          );
        } catch {
          // best effort: the peer may be gone
        }
      }
      await this.teardown();
    })();
    return this.closing;
  }

  private async teardown(error?: Error): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.deadline);
    this.retransmit.stop();
    const closed = error ?? new DtlsError('closed', 'the DTLS connection was closed');
    this.settleReadiness.reject(closed);
    this.inbox.close(closed);
    const link = this.link;
    link?.off('message', this.onDatagram);
    link?.off('error', this.onLinkError);
    if (link && this.ownsLink) await Promise.resolve(link.close()).catch(() => {});
    this.link = undefined;
    this.emit('close');
  }

  /** Sends the alert a local failure calls for, emits 'error', and closes. */
  private fail(error: unknown): void {
    if (this.state === 'closed') return;
    const tls =
      error instanceof TlsError
        ? error
        : new TlsError('internal_error', error instanceof Error ? error.message : String(error));
    const spoken = this.handshakeStats.clientHelloSentAt !== undefined;
    if (spoken && !tls.fromPeer && tls.alert !== 'close_notify' && !(tls instanceof DtlsError)) {
      try {
        this.sendDatagram(this.records.seal(CONTENT_TYPE.ALERT, Uint8Array.of(2, tls.alertCode))).catch(
          () => {},
        );
      } catch {
        // the alert is best effort
      }
    }
    this.settleReadiness.reject(tls);
    if (this.listenerCount('error') > 0) this.emit('error', tls);
    void this.teardown(tls);
  }

  getProtocol(): string | null {
    return this.established ? 'DTLSv1.2' : null;
  }

  getCipher(): { name: string; standardName: string; version: string } | undefined {
    const e = this.established;
    return e ? { name: e.cipher.name, standardName: e.cipher.name, version: 'DTLSv1.2' } : undefined;
  }

  getPeerX509Chain(): readonly X509Certificate[] {
    return this.established?.peerChain ?? [];
  }

  getClientSignatureScheme(): number | undefined {
    return this.established?.clientScheme;
  }

  /** The ECDHE group of the handshake; none for plain PSK and for a resumed session (no key exchange). */
  getNegotiatedGroup(): NamedGroup | undefined {
    return this.established?.group;
  }
}

/** Starts a DTLS 1.2 handshake; the object emits 'secureConnect' (or 'error') and carries the datagrams. */
export function connectDtls(options: DtlsConnectOptions, onSecureConnect?: () => void): DtlsClient {
  const client = new DtlsClient(options);
  if (onSecureConnect) client.once('secureConnect', onSecureConnect);
  return client;
}

/**
 * A `secureTransport` for @iotsafe/coap: for each coaps:// peer, a DTLS association with `options`
 * (host and port from the URI), resolved once it is up.
 */
export function dtlsTransport(
  options: Omit<DtlsConnectOptions, 'host' | 'port'>,
): (peer: { host: string; port: number }) => Promise<DtlsClient> {
  return (peer) => new DtlsClient({ ...options, host: peer.host, port: peer.port }).ready();
}
