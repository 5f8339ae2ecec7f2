// A Transport to a card on TCP in the vpcd framing (`iotsafe sim serve DIR --tcp PORT`): one command
// at a time, a timeout per command, and a reconnection when the link broke. With the server's access
// key the link is PSK-TLS 1.2 (RFC 4279), as `sim serve --tcp-key` requires.
import net from 'node:net';
import tls from 'node:tls';
import {
  encodeFrame,
  FrameReader,
  TCP_ACCESS_CIPHERS,
  TCP_ACCESS_IDENTITY,
  VPCD_CONTROL,
} from '@iotsafe/protocol';
import { type Transport, TransportError } from '../transport.js';

export interface TcpTransportOptions {
  host: string;
  port: number;
  /** Per-command timeout in ms (default 10 s). */
  timeoutMs?: number;
  /** The server's access key: PSK-TLS on the link (the server refuses plain TCP then). */
  accessKey?: Uint8Array;
}

function linkError(
  error: NodeJS.ErrnoException | undefined,
  host: string,
  port: number,
  accessKey: Uint8Array | undefined,
): TransportError {
  const where = `the card at ${host}:${port}`;
  if (error?.code === 'ECONNREFUSED' || error?.code === 'ENOTFOUND' || error?.code === 'EHOSTUNREACH')
    return new TransportError(`cannot reach ${where}: ${error.code}`);
  if (accessKey)
    return new TransportError(
      `${where} refused the access key (a different key, or a server without --tcp-key)${error?.code ? `: ${error.code}` : ''}`,
    );
  return new TransportError(
    `cannot reach ${where}${error?.code ? `: ${error.code}` : ': the link closed (a server that wants an access key?)'}`,
  );
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
    const { host, port, accessKey } = this.options;
    const socket = accessKey
      ? tls.connect({
          host,
          port,
          pskCallback: () => ({ identity: TCP_ACCESS_IDENTITY, psk: Buffer.from(accessKey) }),
          ciphers: TCP_ACCESS_CIPHERS,
          minVersion: 'TLSv1.2',
          maxVersion: 'TLSv1.2',
          checkServerIdentity: () => undefined, // the PSK authenticates the server (RFC 4279 §2)
        })
      : net.connect(port, host);
    socket.setNoDelay(true);
    this.reader = new FrameReader();
    await new Promise<void>((resolve, reject) => {
      socket.once(accessKey ? 'secureConnect' : 'connect', resolve);
      socket.once('error', (e) => reject(linkError(e as NodeJS.ErrnoException, host, port, accessKey)));
      // a plain server answers a ClientHello with garbage or silence; a closed link before it is up
      socket.once('close', () => reject(linkError(undefined, host, port, accessKey)));
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
