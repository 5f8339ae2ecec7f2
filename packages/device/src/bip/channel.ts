// One BIP channel on the terminal's side (TS 102 223 §6.4.27–6.4.31, UICC in TCP client mode): a TCP
// socket, the Rx buffer the card drains with RECEIVE DATA (the socket pauses when it is full), the Tx
// buffer SEND DATA fills, and the link state the channel status reports.
import type { Socket } from 'node:net';
import { CHANNEL_STATUS_INFO, type ChannelStatus, concatBytes } from '@iotsafe/protocol';

export interface ChannelEvents {
  /** Data arrived in an empty Rx buffer, or the card left some after a RECEIVE DATA. */
  dataAvailable(channel: TerminalChannel): void;
  /** The peer closed or the link failed, and the card has read everything: link dropped. */
  linkDropped(channel: TerminalChannel): void;
  /** A background link came up. */
  linkEstablished(channel: TerminalChannel): void;
}

export class TerminalChannel {
  private rx: Uint8Array = new Uint8Array(0);
  private tx: Uint8Array = new Uint8Array(0);
  private socket?: Socket;
  private connecting?: Promise<void>;
  established = false;
  /** The peer ended or the link failed; reported as link dropped once the card has read everything. */
  private peerGone = false;
  private droppedReported = false;
  readonly counters = { toNetwork: 0, fromNetwork: 0 };

  constructor(
    readonly id: number,
    readonly bufferSize: number,
    private readonly target: { host: string; port: number },
    private readonly connect: (host: string, port: number) => Socket,
    private readonly events: ChannelEvents,
  ) {}

  get available(): number {
    return this.rx.length;
  }

  /** Free room in the Tx buffer (SEND DATA's answer). */
  get free(): number {
    return Math.max(0, this.bufferSize - this.tx.length);
  }

  get status(): ChannelStatus {
    if (this.peerGone && this.rx.length === 0)
      return { channel: this.id, established: false, info: CHANNEL_STATUS_INFO.LINK_DROPPED };
    return { channel: this.id, established: this.established, info: CHANNEL_STATUS_INFO.NONE };
  }

  /** Connects (once); resolves when the link is up, rejects when it cannot be. */
  establish(): Promise<void> {
    this.connecting ??= new Promise<void>((resolve, reject) => {
      const socket = this.connect(this.target.host, this.target.port);
      this.socket = socket;
      socket.setNoDelay(true);
      socket.once('connect', () => {
        this.established = true;
        resolve();
      });
      socket.on('data', (chunk: Buffer) => this.received(new Uint8Array(chunk)));
      socket.on('end', () => this.gone());
      socket.on('close', () => this.gone());
      socket.on('error', (error) => {
        if (!this.established) reject(error);
        this.gone();
      });
    });
    return this.connecting;
  }

  private received(chunk: Uint8Array): void {
    const wasEmpty = this.rx.length === 0;
    this.rx = concatBytes(this.rx, chunk);
    this.counters.fromNetwork += chunk.length;
    if (this.rx.length >= this.bufferSize) this.socket?.pause();
    if (wasEmpty) this.events.dataAvailable(this);
  }

  private gone(): void {
    if (this.peerGone) return;
    this.peerGone = true;
    this.established = false;
    this.reportDropIfDrained();
  }

  private reportDropIfDrained(): void {
    if (this.peerGone && this.rx.length === 0 && !this.droppedReported) {
      this.droppedReported = true;
      this.events.linkDropped(this);
    }
  }

  /** RECEIVE DATA: up to `length` bytes from the Rx buffer, and what is left. */
  take(length: number): { data: Uint8Array; remaining: number } {
    const data = this.rx.slice(0, length);
    this.rx = this.rx.slice(data.length);
    if (this.rx.length < this.bufferSize) this.socket?.resume();
    if (this.rx.length > 0) queueMicrotask(() => this.events.dataAvailable(this));
    else this.reportDropIfDrained();
    return { data, remaining: this.rx.length };
  }

  /** SEND DATA: into the Tx buffer, out to the network when `now` (or when the buffer is full). */
  async send(data: Uint8Array, now: boolean): Promise<void> {
    if (this.peerGone) throw new Error('the link dropped');
    if (this.tx.length + data.length > this.bufferSize) throw new RangeError('the Tx buffer is full');
    this.tx = concatBytes(this.tx, data);
    if (!now && this.tx.length < this.bufferSize) return;
    if (!this.established) await this.establish();
    const out = this.tx;
    this.tx = new Uint8Array(0);
    this.counters.toNetwork += out.length;
    this.socket!.write(out);
  }

  /** The link could not be set up (a background link that timed out): reported as dropped. */
  abort(): void {
    this.socket?.destroy();
    this.gone();
  }

  close(): void {
    this.peerGone = true;
    this.droppedReported = true; // closed by the card: nothing to report
    this.socket?.destroy();
  }
}
