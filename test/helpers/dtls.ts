// DTLS test helpers: a Type II SIM whose PSK the DTLS client uses through COMPUTE PRF, openssl s_server
// in DTLS mode (its stdin is the way to send to the client: s_server has no echo mode for DTLS), and
// one request/answer over a DtlsClient.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { byLabel, IoTSafe, IoTSafeKeyOps, type LatencyModel, MemoryTransport } from '@iotsafe/device';
import { bytesToHex, utf8 } from '@iotsafe/protocol';
import { TYPE2_PROFILE, VirtualSim } from '@iotsafe/sim';
import { connectDtls, type DtlsClient, type DtlsConnectOptions } from '@iotsafe/tls';
import { type OpensslServer, startOpensslServer } from './peers.js';
import type { testPki } from './pki.js';
import { serverPems } from './pki.js';

export const PSK_IDENTITY = 'device-0001';

/**
 * A Type II SIM (PSK in a secret container) and its KeyOps: the TLS 1.2 master secret by COMPUTE PRF.
 * `printable`: a fresh PSK of letters and digits, for servers that take it as command-line text (libcoap);
 * `latency`: a card + link latency model (modemSimLatency).
 */
export async function typeTwoPsk({
  printable = false,
  latency,
}: {
  printable?: boolean;
  latency?: LatencyModel;
} = {}) {
  const letters = randomBytes(24).toString('base64url').replace(/[-_]/g, 'x');
  const profile = printable
    ? {
        description: 'Type II with a printable PSK (tests)',
        containers: [
          {
            class: 'secret' as const,
            id: '01',
            label: 'psk',
            value: { hex: Buffer.from(letters).toString('hex') },
          },
        ],
      }
    : TYPE2_PROFILE;
  const sim = VirtualSim.inMemory(profile);
  const psk = sim.containers().find((c) => c.objectClass === 'secret' && c.label === 'psk');
  if (psk?.objectClass !== 'secret' || !psk.value) throw new Error('no PSK in the Type II profile');
  const client = await IoTSafe.connect(new MemoryTransport(sim.card, latency));
  const keyOps = await IoTSafeKeyOps.create(client, {
    offload: 'sign',
    psk: { identity: utf8(PSK_IDENTITY), secret: byLabel('psk') },
  });
  return {
    sim,
    client,
    keyOps,
    pskHex: bytesToHex(psk.value),
    pskText: Buffer.from(psk.value).toString('latin1'),
  };
}

/** openssl s_server -dtls1_2 on 127.0.0.1 (UDP); `listen`: the stateless cookie exchange (-listen). */
export function startOpensslDtlsServer(
  dir: string,
  pki: ReturnType<typeof testPki>,
  extra: string[],
): Promise<OpensslServer> {
  return startOpensslServer(dir, serverPems(pki), ['-dtls1_2', ...extra]);
}

/** s_server's arguments for a PSK from the SIM. */
export const opensslPsk = (pskHex: string) => ['-nocert', '-psk', pskHex, '-psk_identity', PSK_IDENTITY];

/**
 * Connects, sends `message` to s_server (which prints it), has s_server send `answer` (its stdin) and
 * waits for it; closes with close_notify.
 */
export async function exchangeWithOpenssl(
  server: OpensslServer,
  options: DtlsConnectOptions,
  message = 'ping from the device',
  answer = 'pong from openssl',
  onClient: (client: DtlsClient) => void = () => {},
) {
  const client = connectDtls({ host: '127.0.0.1', port: server.port, ...options });
  onClient(client);
  try {
    await client.ready();
    await client.send(utf8(`${message}\n`));
    await waitFor(() => server.output().includes(message), 'openssl to print what we sent');
    const reply = once(client, 'message') as Promise<[Uint8Array]>;
    server.process.stdin!.write(`${answer}\n`);
    const [data] = await reply;
    return { client, reply: Buffer.from(data).toString().trim(), cipher: client.getCipher()?.name };
  } finally {
    await client.close();
  }
}

export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Test timers: the RFC 7925 defaults (9 s) are for cellular links, not for 127.0.0.1. */
export const FAST_RETRANSMIT = { initial: 100, max: 800, maxRetransmissions: 8 } as const;

export type { DtlsClient };
