// The card's end of a BIP channel (TS 102 223 §6.4.27–6.4.31) as a Duplex the TLS client runs over:
// writes become SEND DATA, data available events lead to RECEIVE DATA until the terminal's buffer is
// empty, link dropped ends the stream once the buffered data is read, and CLOSE CHANNEL closes it.
import { Duplex } from 'node:stream';
import {
  backgroundMode,
  CHANNEL_STATUS_INFO,
  type ChannelStatus,
  encodeCloseChannel,
  encodeOpenChannel,
  encodeReceiveData,
  encodeSendData,
  MAX_RECEIVE_CHUNK,
  MAX_SEND_CHUNK,
  type OpenChannelRequest,
  parseOpenChannelResponse,
  parseReceiveDataResponse,
  resultPerformed,
  type TerminalResponse,
} from '@iotsafe/protocol';
import type { Toolkit } from '../card/toolkit.js';

/** A BIP command the terminal did not perform (its general result and additional information). */
export class BipChannelError extends Error {
  override name = 'BipChannelError';
  constructor(
    message: string,
    readonly result?: number,
    readonly additional?: number,
  ) {
    super(message);
  }
}

export interface CardChannelTimeouts {
  /** From queueing a command to its TERMINAL RESPONSE. */
  terminalResponseMs: number;
  /** For a background OPEN CHANNEL, from its TERMINAL RESPONSE to the link being established. */
  linkMs: number;
}

const resultText = (r: TerminalResponse) =>
  `${r.result.general.toString(16).padStart(2, '0')}${r.result.additional?.length ? ` ${r.result.additional[0]!.toString(16).padStart(2, '0')}` : ''}`;

function requirePerformed(what: string, response: TerminalResponse): void {
  if (!resultPerformed(response.result.general))
    throw new BipChannelError(
      `${what} not performed (result ${resultText(response)})`,
      response.result.general,
      response.result.additional?.[0],
    );
}

export class CardBipChannel extends Duplex {
  /** Bytes the terminal holds for us, as its last answer or event said (255 may mean more). */
  private available = 0;
  private receiving = false;
  private dropped = false;
  private channelClosed = false;
  private linkWaiter?: { resolve: () => void; reject: (error: Error) => void; timer: NodeJS.Timeout };
  /** Channel data sent and received (tests, traces). */
  readonly counters = { sent: 0, received: 0, sendCommands: 0, receiveCommands: 0 };

  private constructor(
    private readonly toolkit: Toolkit,
    readonly channel: number,
    readonly bufferSize: number,
    private readonly timeouts: CardChannelTimeouts,
  ) {
    super();
  }

  /** OPEN CHANNEL; resolves once the link is established (at once, or by a channel status event). */
  static async open(
    toolkit: Toolkit,
    request: OpenChannelRequest,
    timeouts: CardChannelTimeouts,
    onChannel: (channel: CardBipChannel) => void,
  ): Promise<CardBipChannel> {
    const response = await toolkit.issue((n) => encodeOpenChannel(n, request), {
      timeoutMs: timeouts.terminalResponseMs,
    });
    requirePerformed('OPEN CHANNEL', response);
    const { status, bufferSize } = parseOpenChannelResponse(response);
    if (!status || status.channel === 0) throw new BipChannelError('OPEN CHANNEL answered without a channel');
    const channel = new CardBipChannel(toolkit, status.channel, bufferSize ?? request.bufferSize, timeouts);
    onChannel(channel);
    // background mode: the terminal reports the link with a channel status event (§6.4.27); on demand,
    // the link comes with the first SEND DATA
    if (!status.established && backgroundMode(request.qualifier)) await channel.linkEstablished();
    return channel;
  }

  private linkEstablished(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.linkWaiter = undefined;
        reject(new BipChannelError('the background link was not established in time'));
      }, this.timeouts.linkMs);
      this.linkWaiter = { resolve, reject, timer };
    });
  }

  /** Data available (TS 102 223 §7.5.10): `length` bytes wait (the answer to a RECEIVE DATA in flight rules). */
  dataAvailable(length: number): void {
    if (this.channelClosed) return;
    if (!this.receiving) this.available = length;
    this.pump();
  }

  /** Channel status (§7.5.11): established (a background link) or link dropped. */
  statusChanged(status: ChannelStatus): void {
    if (status.established) {
      const waiter = this.linkWaiter;
      this.linkWaiter = undefined;
      if (waiter) {
        clearTimeout(waiter.timer);
        waiter.resolve();
      }
      return;
    }
    if (status.info === CHANNEL_STATUS_INFO.LINK_DROPPED) {
      this.dropped = true;
      const waiter = this.linkWaiter;
      this.linkWaiter = undefined;
      if (waiter) {
        clearTimeout(waiter.timer);
        waiter.reject(new BipChannelError('the link dropped before it was established'));
      }
      this.pump();
    }
  }

  override _read(): void {
    this.pump();
  }

  /** RECEIVE DATA while the terminal holds data and the reader wants more; the end after link dropped. */
  private pump(): void {
    if (this.receiving || this.channelClosed || this.destroyed) return;
    if (this.available === 0) {
      if (this.dropped) this.push(null);
      return;
    }
    this.receiving = true;
    const length = Math.min(this.available, MAX_RECEIVE_CHUNK);
    this.counters.receiveCommands++;
    this.toolkit
      .issue((n) => encodeReceiveData(n, this.channel, length), {
        timeoutMs: this.timeouts.terminalResponseMs,
      })
      .then((response) => {
        this.receiving = false;
        requirePerformed('RECEIVE DATA', response);
        const { data, remaining } = parseReceiveDataResponse(response);
        // an empty answer: wait for the next data available event rather than ask again at once
        this.available = data.length === 0 ? 0 : remaining;
        this.counters.received += data.length;
        if (this.destroyed) return;
        if (data.length === 0 || this.push(data)) this.pump();
      })
      .catch((error: Error) => {
        this.receiving = false;
        this.destroy(error);
      });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.send(new Uint8Array(chunk)).then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  /** SEND DATA, immediately, in pieces that fit a proactive command and the channel's buffer. */
  private async send(data: Uint8Array): Promise<void> {
    const piece = Math.max(1, Math.min(MAX_SEND_CHUNK, this.bufferSize));
    for (let at = 0; at < data.length; at += piece) {
      if (this.channelClosed) throw new BipChannelError('the channel is closed');
      if (this.dropped) throw new BipChannelError('the link dropped');
      const part = data.subarray(at, at + piece);
      this.counters.sendCommands++;
      const response = await this.toolkit.issue((n) => encodeSendData(n, this.channel, part, true), {
        timeoutMs: this.timeouts.terminalResponseMs,
      });
      requirePerformed('SEND DATA', response);
      this.counters.sent += part.length;
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    callback(); // BIP has no half-close: CLOSE CHANNEL ends both directions (close())
  }

  /** CLOSE CHANNEL (§6.4.28); the terminal's answer is not needed to consider the channel closed. */
  async close(): Promise<void> {
    if (this.channelClosed) return;
    this.channelClosed = true;
    try {
      await this.toolkit.issue((n) => encodeCloseChannel(n, this.channel), {
        timeoutMs: this.timeouts.terminalResponseMs,
      });
    } catch {
      // a terminal that does not answer: the channel is gone for the card either way
    }
    if (!this.destroyed) this.destroy();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const waiter = this.linkWaiter;
    this.linkWaiter = undefined;
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.reject(error ?? new BipChannelError('the channel was closed'));
    }
    if (!this.channelClosed) void this.close();
    callback(error);
  }
}
