// The message layer of one CoAP endpoint talking to one peer (RFC 7252 §4): message IDs, the
// retransmission of Confirmable messages until an ACK or RST, duplicate detection of what the peer
// sends, and the ACK or RST for each Confirmable message received. It knows nothing of requests.
import { DuplicateCache } from './duplicates.js';
import { CoapAbortError, CoapFormatError, CoapTimeoutError } from './errors.js';
import { type CoapMessage, decodeMessage, emptyMessage, encodeMessage, MessageType } from './message.js';
import type { TraceEvent } from './trace.js';
import {
  derivedTimes,
  type Retransmission,
  retransmit,
  type TransmissionParameters,
} from './transmission.js';
import type { DatagramTransport } from './transport.js';

/** What the layer above decides for a new Confirmable or Non-confirmable message from the peer. */
export type Verdict = 'accept' | 'reject';

export interface MessageLayerOptions {
  transmission: Readonly<TransmissionParameters>;
  /** A new (not duplicate) CON or NON message; 'reject' answers a Reset (RFC 7252 §4.2, §4.3). */
  onMessage: (message: CoapMessage) => Verdict;
  trace?: (event: TraceEvent) => void;
  /** In [0, 1): the retransmission jitter and the first message ID. */
  random?: () => number;
}

interface Outstanding {
  /** A NON can only be matched by a RST (RFC 7252 §4.3). */
  confirmable: boolean;
  resolve: (reply: CoapMessage) => void;
  reject: (error: Error) => void;
  retransmission?: Retransmission;
}

export interface Confirmable {
  messageId: number;
  /** The ACK (Empty or piggybacked) or the RST that matched; CoapTimeoutError when none came. */
  reply: Promise<CoapMessage>;
  /** Stops retransmitting without settling `reply` (a separate response already answered). */
  stop(): void;
}

export class MessageLayer {
  private readonly times;
  private readonly random: () => number;
  private nextId: number;
  /** Our Confirmable messages waiting for an ACK or RST, and our NON messages a RST could match. */
  private readonly outstanding = new Map<number, Outstanding>();
  private readonly seen = new DuplicateCache<number>();
  private closed = false;
  private readonly listener = (datagram: Uint8Array) => this.receive(datagram);
  /** ICMP unreachable and the like: the datagram is lost, which retransmission already handles. */
  private readonly errorListener = (error: Error) =>
    this.options.trace?.({ kind: 'error', datagram: new Uint8Array(0), reason: error.message });

  constructor(
    private readonly transport: DatagramTransport,
    private readonly options: MessageLayerOptions,
  ) {
    this.times = derivedTimes(options.transmission);
    this.random = options.random ?? Math.random;
    this.nextId = Math.floor(this.random() * 0x10000);
    transport.on('message', this.listener);
    transport.on('error', this.errorListener);
  }

  /** RFC 7252 §4.4: a fresh message ID, skipping any still outstanding. */
  private allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = (this.nextId + 1) & 0xffff;
      if (!this.outstanding.has(id)) return id;
    }
  }

  /** Sends a Confirmable message and retransmits it until an ACK or RST with its message ID comes. */
  confirmable(message: Omit<CoapMessage, 'type' | 'messageId'>): Confirmable {
    const full: CoapMessage = { ...message, type: MessageType.CON, messageId: this.allocateId() };
    const datagram = encodeMessage(full);
    let entry!: Outstanding;
    const reply = new Promise<CoapMessage>((resolve, reject) => {
      entry = { confirmable: true, resolve, reject };
    });
    if (this.closed) {
      entry.reject(new CoapAbortError('the CoAP client is closed'));
      return { messageId: full.messageId, reply, stop: () => {} };
    }
    this.outstanding.set(full.messageId, entry);
    entry.retransmission = retransmit(
      this.options.transmission,
      (attempt) => this.transmit(datagram, full, attempt),
      () => {
        this.outstanding.delete(full.messageId);
        this.options.trace?.({
          kind: 'timeout',
          message: full,
          datagram,
          attempt: this.options.transmission.maxRetransmit,
        });
        entry.reject(
          new CoapTimeoutError(
            `no ACK for message 0x${full.messageId.toString(16)} after ${this.options.transmission.maxRetransmit} retransmissions`,
          ),
        );
      },
      this.random,
    );
    const stop = () => {
      entry.retransmission?.stop();
      this.outstanding.delete(full.messageId);
    };
    return { messageId: full.messageId, reply, stop };
  }

  /**
   * Sends a Non-confirmable message once. `onReset` runs if the peer rejects it with a RST, until
   * the returned forget() is called.
   */
  nonConfirmable(message: Omit<CoapMessage, 'type' | 'messageId'>, onReset: () => void): { forget(): void } {
    const full: CoapMessage = { ...message, type: MessageType.NON, messageId: this.allocateId() };
    const id = full.messageId;
    if (this.closed) return { forget: () => {} };
    this.outstanding.set(id, { confirmable: false, resolve: () => onReset(), reject: () => {} });
    this.transmit(encodeMessage(full), full, 0);
    return { forget: () => this.outstanding.delete(id) };
  }

  private transmit(datagram: Uint8Array, message: CoapMessage, attempt: number): void {
    this.options.trace?.(
      attempt === 0
        ? { kind: 'send', message, datagram }
        : { kind: 'retransmit', message, datagram, attempt },
    );
    // A send that fails (no route, socket closed) is a lost datagram: retransmission handles it.
    this.transport.send(datagram).catch(() => {});
  }

  private reply(message: CoapMessage): Uint8Array {
    const datagram = encodeMessage(message);
    this.transmit(datagram, message, 0);
    return datagram;
  }

  private receive(datagram: Uint8Array): void {
    let message: CoapMessage;
    try {
      message = decodeMessage(datagram);
    } catch (error) {
      const reason = error instanceof CoapFormatError ? error.message : String(error);
      this.options.trace?.({ kind: 'discard', datagram, reason });
      // RFC 7252 §4.2: a Confirmable message with a format error is rejected with a RST.
      if (error instanceof CoapFormatError && error.header?.type === MessageType.CON && !this.closed)
        this.reply(emptyMessage(MessageType.RST, error.header.messageId));
      return;
    }
    if (this.closed) return;
    if (message.type === MessageType.ACK || message.type === MessageType.RST) {
      const entry = this.outstanding.get(message.messageId);
      if (!entry || (!entry.confirmable && message.type === MessageType.ACK)) {
        this.options.trace?.({
          kind: 'discard',
          message,
          datagram,
          reason: 'matches no outstanding message',
        });
        return;
      }
      this.options.trace?.({ kind: 'receive', message, datagram });
      entry.retransmission?.stop();
      this.outstanding.delete(message.messageId);
      entry.resolve(message);
      return;
    }
    const previous = this.seen.lookup(message.messageId);
    if (previous) {
      this.options.trace?.({ kind: 'duplicate', message, datagram });
      if (previous.reply) this.transmit(previous.reply, decodeMessage(previous.reply), 0);
      return;
    }
    this.options.trace?.({ kind: 'receive', message, datagram });
    const confirmable = message.type === MessageType.CON;
    const lifetime = confirmable ? this.times.exchangeLifetime : this.times.nonLifetime;
    // Empty CON is a "ping": answered with a RST (RFC 7252 §4.3).
    const verdict = message.code === 0 ? 'reject' : this.decide(message, datagram);
    if (verdict === 'reject' || confirmable) {
      const type = verdict === 'reject' ? MessageType.RST : MessageType.ACK;
      this.seen.remember(message.messageId, lifetime, this.reply(emptyMessage(type, message.messageId)));
    } else this.seen.remember(message.messageId, lifetime);
  }

  /** The layer above's verdict; a message it cannot make sense of (a bad option value) is rejected. */
  private decide(message: CoapMessage, datagram: Uint8Array): Verdict {
    try {
      return this.options.onMessage(message);
    } catch (error) {
      this.options.trace?.({ kind: 'discard', message, datagram, reason: String(error) });
      return 'reject';
    }
  }

  /** A CoAP ping (RFC 7252 §4.3): an Empty CON, answered by a RST (or an ACK). */
  ping(): Promise<CoapMessage> {
    return this.confirmable({ code: 0, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) })
      .reply;
  }

  /** Stops every retransmission and rejects what is outstanding; the transport stays open. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.transport.off('message', this.listener);
    // The error listener stays: a late ICMP error must not become an unhandled 'error' event.
    for (const entry of this.outstanding.values()) {
      entry.retransmission?.stop();
      entry.reject(new CoapAbortError('the CoAP client is closed'));
    }
    this.outstanding.clear();
  }
}
