// The card as a vsmartcard "vicc": it connects out to vpcd (the pcscd reader driver, which listens on
// 127.0.0.1:35963 by default) so any PC/SC application — opensc-tool, scriptor, a real device stack —
// sees the virtual SIM in the reader "Virtual PCD 00 00". If vpcd is not there yet, or drops the link
// (pcscd restarted), the card keeps trying, as a card re-inserted in a reader.
// A PC/SC client must not run on the thread that answers for the card: libpcsclite's synchronous calls
// (SCardDisconnect, SCardListReaders…) wait for pcscd, which may be polling this card for presence under
// the reader lock. Serve the card from another process (`iotsafe sim serve --vpcd`) or a worker thread.
import net from 'node:net';
import { encodeFrame, FrameReader, VPCD_PORT } from '@iotsafe/protocol';
import type { Card } from '../card/runtime.js';
import type { LatencyOptions } from './latency.js';
import { answerFrame } from './tcp.js';

export interface ViccOptions {
  host?: string;
  port?: number;
  /** A Unix socket that leads to vpcd instead of host:port (vpcd inside an isolated network namespace). */
  path?: string;
  latency?: LatencyOptions;
  /** Wait between connection attempts while vpcd is not reachable. */
  retryMs?: number;
}

export interface InsertedCard {
  /** Resolves once vpcd has accepted the connection (the card is "in the reader"). */
  readonly connected: Promise<void>;
  /** Takes the card out: closes the link and stops retrying. */
  remove(): Promise<void>;
}

export function insertIntoVpcd(card: Card, options: ViccOptions = {}): InsertedCard {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? VPCD_PORT;
  let socket: net.Socket | undefined;
  let removed = false;
  let retry: NodeJS.Timeout | undefined;
  let markConnected: () => void = () => {};
  const connected = new Promise<void>((resolve) => {
    markConnected = resolve;
  });

  const connect = () => {
    if (removed) return;
    const link = options.path ? net.connect({ path: options.path }) : net.connect({ host, port });
    socket = link;
    link.setNoDelay(true);
    const reader = new FrameReader();
    let queue = Promise.resolve();
    link.on('connect', () => markConnected());
    link.on('data', (chunk) => {
      for (const frame of reader.push(chunk)) {
        queue = queue.then(async () => {
          const answer = await answerFrame(card, frame, options.latency);
          if (answer && !link.destroyed) link.write(encodeFrame(answer));
        });
      }
    });
    link.on('error', () => link.destroy());
    link.on('close', () => {
      if (!removed) retry = setTimeout(connect, options.retryMs ?? 200);
    });
  };
  connect();

  return {
    connected,
    async remove() {
      removed = true;
      clearTimeout(retry);
      const link = socket;
      if (!link || link.destroyed) return;
      await new Promise<void>((resolve) => {
        link.once('close', () => resolve());
        link.destroy();
      });
    },
  };
}
