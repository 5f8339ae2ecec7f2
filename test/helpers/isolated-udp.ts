// A UDP server that cannot be bound to one address (gnutls-serv --udp listens on every interface)
// run inside a network namespace with only a loopback, bridged to 127.0.0.1 over a Unix SOCK_SEQPACKET
// socket (socat on each side), which keeps datagram boundaries: nothing outside this machine can reach
// it. The UDP twin of peers.ts's startIsolatedServer.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startPeer } from './peers.js';

const SEQPACKET = 5;

export interface IsolatedUdpServer {
  port: number;
  output: () => string;
  stop: () => Promise<void>;
}

/** `command` must serve UDP on 127.0.0.1:`innerPort` inside the namespace. */
export async function startIsolatedUdpServer(
  dir: string,
  command: string,
  innerPort: number,
  ready: RegExp,
): Promise<IsolatedUdpServer> {
  const socketPath = join(dir, `udp-bridge-${Date.now()}-${Math.random().toString(36).slice(2)}.sock`);
  const inner = await startPeer(
    command.split(' ')[0]!,
    'unshare',
    [
      '-n',
      'sh',
      '-c',
      `ip link set lo up; setpriv --pdeathsig KILL ${command} & exec socat UNIX-LISTEN:${socketPath},type=${SEQPACKET},fork UDP4:127.0.0.1:${innerPort}`,
    ],
    (out) => ready.test(out) && existsSync(socketPath),
    { stdin: 'pipe', group: true },
  );
  const port = await freePort();
  const outer = await startPeer(
    'socat',
    'socat',
    [`UDP4-LISTEN:${port},bind=127.0.0.1,fork`, `UNIX-CONNECT:${socketPath},type=${SEQPACKET}`],
    () => true,
  );
  return {
    port,
    output: inner.output,
    stop: async () => {
      await outer.stop();
      await inner.stop();
    },
  };
}
