// What a client connection keeps of its byte stream, whatever the handshake (Go's Conn without the
// handshake state): the stream (ours, or one given), the record layer over it, the handshake bytes not
// parsed yet, the wait for more bytes, and the writer that seals records out. During the handshake
// records are pulled (received bytes are copied and kept until asked for); once the connection is up
// they are opened as they arrive, in place, from memory our own socket reads into again and again.
import { connect as netConnect, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLS12 } from './constants.js';
import type { ConnectOptions } from './options.js';
import { HandshakeBuffer } from './record/handshake-buffer.js';
import { ReadArena } from './record/read-arena.js';
import { RecordWriter } from './record/record-writer.js';
import { StreamRecordLayer } from './record/stream-layer.js';

/** The read memory of a socket the client opens itself: what one read takes at most. */
const READ_BUFFER = 64 * 1024;

/** What the connection above is told of its stream. */
export interface StreamEvents {
  /** Bytes came while nothing waited for them and records are opened on arrival: records to handle. */
  onRecords(): void;
  /** The stream ended (FIN) while nothing waited for bytes. */
  onEnd(): void;
  onError(error: Error): void;
  /** What a wait for bytes fails with once the stream has ended. */
  closedError(): Error;
}

export class ClientStream {
  readonly stream: Duplex;
  // The record-layer version field of TLS 1.2 and 1.3 alike (RFC 8446 §5.1).
  readonly records = new StreamRecordLayer(TLS12);
  readonly handshake = new HandshakeBuffer();
  readonly writer: RecordWriter;
  /** Records are handled as they arrive (the connection is up), not pulled by a handshake. */
  onArrival = false;
  private readonly arena?: ReadArena;
  /** The stream has ended (FIN): no more bytes will come. */
  private ended = false;
  private waiter?: { resolve: () => void; reject: (error: Error) => void };

  constructor(
    options: ConnectOptions,
    private readonly events: StreamEvents,
  ) {
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
    this.stream.on('end', () => this.onEnd());
    this.stream.on('error', (error) => events.onError(error));
  }

  /** The stream is still connecting (TCP's handshake): the TLS one starts on 'connect'. */
  get connecting(): boolean {
    return this.stream instanceof Socket && this.stream.connecting;
  }

  /** Resolves when more bytes arrive; rejects at once when the stream has ended. */
  waitForData(): Promise<void> {
    if (this.ended) return Promise.reject(this.events.closedError());
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Forgets the wait for bytes (its caller stopped waiting), or fails it with `error`. */
  endWait(error?: Error): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (error) waiter?.reject(error);
  }

  /** Seals one message (an alert, a KeyUpdate) with the current write keys and writes it. */
  send(type: number, content: Uint8Array): void {
    this.writer.writeSealed(this.records.seal(type, content));
  }

  /**
   * Bytes read into our socket's reused memory. Once records are handled on arrival they are framed and
   * opened in place at once, and a partial record left over moves to the front for the next read to
   * complete; while a handshake pulls records later, they are copied whole.
   */
  private onRead(bytes: Uint8Array): boolean {
    if (!this.onArrival) {
      this.onData(Buffer.from(bytes));
      return true;
    }
    this.records.pushBorrowed(bytes);
    try {
      this.events.onRecords();
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
    else if (this.onArrival) this.events.onRecords();
  }

  private onEnd(): void {
    this.ended = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter.reject(this.events.closedError());
    else this.events.onEnd();
  }
}
