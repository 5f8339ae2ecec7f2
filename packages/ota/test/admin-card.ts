// A scripted card for the admin server's tests: Node's tls PSK client speaking the agent's side of the
// GP Amd B dialog with the protocol package's request encoder and response parser, and a relay that
// reads the TLS record headers the server sends (RFC 5246 §6.2.1), so a test sees record sizes.
import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import {
  type AdminRequest,
  encodeAdminRequest,
  type HttpResponse,
  parseHttpResponse,
} from '@iotsafe/protocol';

export interface CardOptions {
  identity: string;
  key: Uint8Array;
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2';
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2';
  ciphers?: string;
}

export interface ScriptedCard {
  socket: TLSSocket;
  /** Sends raw bytes and waits for one response (or the close: undefined). */
  exchange(bytes: Uint8Array): Promise<HttpResponse | undefined>;
  post(request: Omit<AdminRequest, 'host'>): Promise<HttpResponse | undefined>;
  /** Resolves when the server ended the connection; whether a close_notify came first. */
  closed: Promise<{ closeNotify: boolean }>;
  close(): void;
}

export async function connectCard(port: number, o: CardOptions): Promise<ScriptedCard> {
  const socket = connect({
    host: '127.0.0.1',
    port,
    pskCallback: () => ({ identity: o.identity, psk: Buffer.from(o.key) }),
    ciphers: o.ciphers ?? 'PSK-AES128-CBC-SHA256:PSK-AES128-CBC-SHA:PSK-AES128-GCM-SHA256:@SECLEVEL=0',
    minVersion: o.minVersion ?? 'TLSv1',
    maxVersion: o.maxVersion ?? 'TLSv1.2',
    checkServerIdentity: () => undefined,
  });
  socket.on('error', () => {});
  let buffered = new Uint8Array(0);
  let ended = false;
  let closeNotify = false;
  let waiter: (() => void) | undefined;
  socket.on('data', (d: Buffer) => {
    buffered = new Uint8Array([...buffered, ...d]);
    waiter?.();
  });
  socket.on('end', () => {
    closeNotify = true; // TLS 'end': the peer's close_notify (or its FIN right after it)
    ended = true;
    waiter?.();
  });
  const closed = new Promise<{ closeNotify: boolean }>((resolve) =>
    socket.on('close', () => {
      ended = true;
      waiter?.();
      resolve({ closeNotify });
    }),
  );
  await Promise.race([
    once(socket, 'secureConnect'),
    once(socket, 'close').then(() => {
      throw new Error('the handshake failed');
    }),
  ]);
  const exchange = async (bytes: Uint8Array) => {
    socket.write(bytes);
    for (;;) {
      const parsed = parseHttpResponse(buffered, ended);
      if (parsed) {
        buffered = buffered.slice(parsed.consumed);
        return parsed.response;
      }
      if (ended) return undefined;
      await new Promise<void>((resolve) => {
        waiter = resolve;
      });
    }
  };
  return {
    socket,
    exchange,
    post: (request) => exchange(encodeAdminRequest({ host: 'admin.test', agentId: '//card', ...request })),
    closed,
    close: () => socket.destroy(),
  };
}

export interface RecordSeen {
  type: number;
  version: number;
  length: number;
}

/** A relay in front of `targetPort` that reads the record headers of both directions. */
export async function startRecordRelay(targetPort: number): Promise<{
  port: number;
  fromServer: RecordSeen[];
  fromClient: RecordSeen[];
  close(): Promise<void>;
}> {
  const fromServer: RecordSeen[] = [];
  const fromClient: RecordSeen[] = [];
  const sockets = new Set<Socket>();
  const reader = (into: RecordSeen[]) => {
    let pending = Buffer.alloc(0);
    return (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const length = pending.readUInt16BE(3);
        if (pending.length < 5 + length) break;
        into.push({ type: pending[0]!, version: pending.readUInt16BE(1), length });
        pending = pending.subarray(5 + length);
      }
    };
  };
  const server: Server = createServer((client) => {
    const upstream = netConnect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(upstream);
    const readClient = reader(fromClient);
    const readServer = reader(fromServer);
    client.on('data', (d: Buffer) => {
      readClient(d);
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      readServer(d);
      client.write(d);
    });
    upstream.on('end', () => client.end());
    client.on('end', () => upstream.end());
    for (const s of [client, upstream]) s.on('error', () => s.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    fromServer,
    fromClient,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
