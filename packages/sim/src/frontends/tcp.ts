// A card on TCP (127.0.0.1 by default), in the vpcd framing: for a device that reaches a remote
// virtual SIM, and for tests. One connection at a time drives the card, in order.
import net from 'node:net';
import { encodeFrame, FrameReader, VPCD_CONTROL } from '@iotsafe/protocol';
import type { Card } from '../card/runtime.js';
import { type LatencyOptions, latencyOf, sleep } from './latency.js';

export interface TcpFrontEndOptions {
  host?: string;
  port?: number;
  latency?: LatencyOptions;
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

export async function serveTcp(card: Card, options: TcpFrontEndOptions = {}): Promise<ServedTcp> {
  const connections = new Set<net.Socket>();
  const server = net.createServer((socket) => {
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
