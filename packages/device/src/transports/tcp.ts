// A Transport to a card on TCP in the vpcd framing (`iotsafe sim serve DIR --tcp PORT`): one command
// at a time, a timeout per command, and a reconnection when the link broke.
import net from 'node:net';
import { encodeFrame, FrameReader, VPCD_CONTROL } from '@iotsafe/protocol';
import { type Transport, TransportError } from '../transport.js';

export interface TcpTransportOptions {
  host: string;
  port: number;
  /** Per-command timeout in ms (default 10 s). */
  timeoutMs?: number;
}

export class TcpTransport implements Transport {
  private socket?: net.Socket;
  private reader = new FrameReader();
  private waiting?: { resolve: (frame: Uint8Array) => void; reject: (error: Error) => void };
  private busy: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: TcpTransportOptions) {}

  private async link(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const socket = net.connect(this.options.port, this.options.host);
    socket.setNoDelay(true);
    this.reader = new FrameReader();
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (e) =>
        reject(
          new TransportError(
            `cannot reach the card at ${this.options.host}:${this.options.port}: ${(e as NodeJS.ErrnoException).code}`,
          ),
        ),
      );
    });
    socket.on('data', (chunk) => {
      for (const frame of this.reader.push(chunk)) {
        const waiter = this.waiting;
        this.waiting = undefined;
        waiter?.resolve(frame);
      }
    });
    const lost = () => {
      const waiter = this.waiting;
      this.waiting = undefined;
      waiter?.reject(new TransportError('the link to the card was lost'));
    };
    socket.on('close', lost);
    socket.on('error', lost);
    this.socket = socket;
    return socket;
  }

  private exchange(payload: Uint8Array): Promise<Uint8Array> {
    const run = async () => {
      if (this.closed) throw new TransportError('transport is closed');
      const socket = await this.link();
      return new Promise<Uint8Array>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiting = undefined;
          socket.destroy();
          reject(new TransportError(`the card did not answer within ${this.options.timeoutMs ?? 10_000} ms`));
        }, this.options.timeoutMs ?? 10_000);
        this.waiting = {
          resolve: (f) => {
            clearTimeout(timer);
            resolve(f);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        socket.write(encodeFrame(payload));
      });
    };
    const result = this.busy.then(run, run);
    this.busy = result.catch(() => undefined);
    return result;
  }

  transmit(command: Uint8Array): Promise<Uint8Array> {
    if (command.length < 4) return Promise.reject(new TransportError('not a command APDU'));
    return this.exchange(command);
  }

  /** RESET is not answered (vpcd framing); GET ATR is. */
  async reset(): Promise<Uint8Array> {
    const socket = await this.link();
    socket.write(encodeFrame(Uint8Array.of(VPCD_CONTROL.RESET)));
    return this.exchange(Uint8Array.of(VPCD_CONTROL.GET_ATR));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.socket?.destroy();
  }
}
