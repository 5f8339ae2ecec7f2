// libcoap's example server (Debian libcoap3-bin 4.3.1) as a real CoAP peer on 127.0.0.1: started
// and stopped like the other peers (peers.ts), ready once it answers a CoAP ping.
import { createSocket } from 'node:dgram';
import { CoapClient } from '@iotsafe/coap';
import { freePort, peerAvailable, startPeer } from './peers.js';

export const LIBCOAP_SERVER = 'coap-server-notls';

/** True, or why the test is skipped (a failure where CI=true). */
export function libcoapAvailable(): true | string {
  return peerAvailable(LIBCOAP_SERVER, ['-h']);
}

/** A port free for both UDP and TCP on 127.0.0.1 (coap-server binds both). */
async function freeUdpAndTcpPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    const free = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** Resolves once a coap-server started as `peer` answers a plain CoAP ping on `port`. */
export async function awaitCoapPing(
  port: number,
  peer: { child: { exitCode: number | null }; output: () => string },
  name: string,
): Promise<void> {
  const client = await CoapClient.connect(`coap://127.0.0.1:${port}`, {
    transmission: { ackTimeout: 50, maxRetransmit: 0 },
  });
  try {
    for (let attempt = 0; ; attempt++) {
      if (peer.child.exitCode !== null) throw new Error(`${name} exited: ${peer.output()}`);
      try {
        await client.ping();
        break;
      } catch (error) {
        if (attempt >= 100)
          throw new Error(`${name} does not answer a ping: ${peer.output()}`, { cause: error });
      }
    }
  } finally {
    await client.close();
  }
}

export interface LibcoapServer {
  port: number;
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * `coap-server-notls -A 127.0.0.1 -p PORT …extra` (e.g. `-d 10` for resources created by PUT/POST,
 * `-N` for NON notifications, `-l 20%` for its own loss). Resources: / , /time (GET, PUT, DELETE,
 * observable, a notification each second), /async?SECONDS (separate response), /example_data
 * (1,500 bytes, PUT and GET in blocks, observable).
 */
export async function startLibcoapServer(extra: string[] = []): Promise<LibcoapServer> {
  const port = await freeUdpAndTcpPort();
  const peer = await startPeer(
    LIBCOAP_SERVER,
    LIBCOAP_SERVER,
    ['-A', '127.0.0.1', '-p', String(port), ...extra],
    () => true,
  );
  await awaitCoapPing(port, peer, LIBCOAP_SERVER);
  return { port, output: peer.output, stop: peer.stop };
}
