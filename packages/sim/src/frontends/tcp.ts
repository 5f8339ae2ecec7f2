// A card on TCP (127.0.0.1 by default), in the vpcd framing: for a device that reaches a remote
// virtual SIM, and for tests. One connection at a time drives the card, in order. With an access key
// the link is PSK-TLS 1.2 (RFC 4279): only callers holding the key reach the card, and the
// APDUs (PINs, keys being loaded) never cross the network in clear.
import net from 'node:net';
import tls from 'node:tls';
import {
  encodeFrame,
  FrameReader,
  TCP_ACCESS_CIPHERS,
  TCP_ACCESS_IDENTITY,
  TCP_ACCESS_KEY_LENGTHS,
  VPCD_CONTROL,
} from '@iotsafe/protocol';
import type { Card } from '../card/runtime.js';
import { type LatencyOptions, latencyOf, sleep } from './latency.js';

export interface TcpFrontEndOptions {
  host?: string;
  port?: number;
  latency?: LatencyOptions;
  /** The callers' shared access key (16 to 64 bytes): PSK-TLS on the link; none: plain TCP. */
  accessKey?: Uint8Array;
}

/** Raised when an access key is not a key (too short or too long). */
export class TcpAccessKeyError extends Error {
  override name = 'TcpAccessKeyError';
}

export function checkAccessKey(key: Uint8Array): void {
  const { min, max } = TCP_ACCESS_KEY_LENGTHS;
  if (key.length < min || key.length > max)
    throw new TcpAccessKeyError(`an access key is ${min} to ${max} bytes, not ${key.length}`);
}

/**
 * Answers one framed message: an APDU gets its response; of the control codes only GET ATR is answered
 * (power on/off and reset are not, as vpcd expects).
 */
export async function answerFrame(
  card: Card,
  payload: Uint8Array,
  latency?: LatencyOptions,
): Promise<Uint8Array | undefined> {
  if (payload.length === 1) {
    const code = payload[0];
    if (code === VPCD_CONTROL.RESET || code === VPCD_CONTROL.POWER_ON) card.reset();
    return code === VPCD_CONTROL.GET_ATR ? card.atr : undefined;
  }
  const response = card.transmit(payload);
  await sleep(latencyOf(latency, payload, response));
  return response;
}

export interface ServedTcp {
  server: net.Server;
  port: number;
  /** Stops listening and drops every connection (a card pulled out). */
  stop(): Promise<void>;
}

/** A server of `serve` connections: PSK-TLS where a key is given, else plain TCP. */
function createServer(accessKey: Uint8Array | undefined, serve: (socket: net.Socket) => void): net.Server {
  if (!accessKey) return net.createServer(serve);
  checkAccessKey(accessKey);
  const key = Buffer.from(accessKey);
  const server = tls.createServer(
    {
      pskCallback: (_socket, identity) => (identity === TCP_ACCESS_IDENTITY ? key : null),
      ciphers: TCP_ACCESS_CIPHERS,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2', // Node's external PSKs are TLS 1.2 only
    },
    serve,
  );
  // a caller without the key fails its handshake: dropped, nothing reaches the card
  server.on('tlsClientError', (_error, socket) => socket.destroy());
  return server;
}

export async function serveTcp(card: Card, options: TcpFrontEndOptions = {}): Promise<ServedTcp> {
  const connections = new Set<net.Socket>();
  const server = createServer(options.accessKey, (socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.setNoDelay(true);
    const reader = new FrameReader();
    let queue = Promise.resolve();
    socket.on('data', (chunk) => {
      for (const frame of reader.push(chunk)) {
        queue = queue.then(async () => {
          const answer = await answerFrame(card, frame, options.latency);
          if (answer && !socket.destroyed) socket.write(encodeFrame(answer));
        });
      }
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) c.destroy();
        server.close(() => resolve());
      }),
  };
}
