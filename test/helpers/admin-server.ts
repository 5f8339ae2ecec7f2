// A small scripted SCP81 admin server for the card-side tests: Node's tls with pskCallback (TLS 1.0–1.2,
// no tickets, no encrypt-then-MAC, as a real card's hello shows: docs/scp81.md) and Node's own
// HTTP/1.1 parser on top (an http.Server fed the TLS sockets). Per PSK identity it serves a list of
// scripts, one per POST, records each result once (a resumed POST that repeats one is counted, not
// recorded again), and can cut a connection at a chosen step to exercise X-Admin-Resume.
import { constants } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  createServer as createNetServer,
  type Server as NetServer,
  connect as netConnect,
  type Socket,
} from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from 'node:tls';

export interface AdminScript {
  /** The command scripting template (AE 80 … 00 00). */
  body: Uint8Array;
  /** X-Admin-Targeted-Application, e.g. //aid/A000000559/0010. */
  target?: string;
  /** Leave X-Admin-Next-URI out: the card runs the script and ends the session without reporting. */
  last?: boolean;
}

export interface AdminResult {
  step: number;
  status: string | undefined;
  body: Uint8Array;
}

export interface AdminServerOptions {
  /** PSK identity (text) → PSK. */
  keys: Map<string, Uint8Array>;
  /** The scripts each identity gets, in order. */
  scripts: Map<string, AdminScript[]>;
  /** How responses carry bodies: Content-Length (default) or chunked in 100-byte chunks. */
  bodyEncoding?: 'content-length' | 'chunked';
  /** Break the connection once: after the result of `step` came (before answering), or inside its answer. */
  cut?: { step: number; when: 'before-response' | 'mid-response' };
  /** Awaited before answering the POST of `step` (the result of script `step`): the session stays open. */
  beforeStep?: (step: number) => Promise<void>;
  /** OpenSSL cipher list (default: the GCM, CBC and NULL PSK suites). */
  ciphers?: string;
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2';
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2';
}

export interface AdminRequestSeen {
  identity: string;
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
}

export interface ScriptedAdminServer {
  port: number;
  /** Results recorded, per identity, in step order. */
  results: Map<string, AdminResult[]>;
  /** Every request as Node's HTTP parser read it. */
  requests: AdminRequestSeen[];
  /** Results sent again (resumed POSTs), not recorded twice. */
  duplicates: number;
  /** Negotiated protocol and cipher per TLS connection. */
  connections: { protocol: string | null; cipher: string | undefined }[];
  tlsErrors: string[];
  close(): Promise<void>;
}

const ADMIN_PROTOCOL = 'globalplatform-remote-admin/1.0';
const SCRIPT_TYPE = 'application/vnd.globalplatform.card-content-mgt;version=1.0';

async function readBody(req: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

export async function startAdminServer(options: AdminServerOptions): Promise<ScriptedAdminServer> {
  const identities = new WeakMap<object, string>();
  const state: Omit<ScriptedAdminServer, 'port' | 'close'> = {
    results: new Map(),
    requests: [],
    duplicates: 0,
    connections: [],
    tlsErrors: [],
  };
  let cutDone = false;

  function send(res: ServerResponse, script: AdminScript, step: number, cutInside: boolean): void {
    const headers: Record<string, string> = {
      'X-Admin-Protocol': ADMIN_PROTOCOL,
      'Content-Type': SCRIPT_TYPE,
    };
    if (!script.last) headers['X-Admin-Next-URI'] = `/admin?step=${step}`;
    if (script.target) headers['X-Admin-Targeted-Application'] = script.target;
    const body = Buffer.from(script.body);
    if (cutInside) {
      res.writeHead(200, { ...headers, 'Content-Length': String(body.length) });
      res.write(body.subarray(0, Math.max(1, body.length >> 1)), () => res.socket?.destroy());
      return;
    }
    if ((options.bodyEncoding ?? 'content-length') === 'content-length') {
      res.writeHead(200, { ...headers, 'Content-Length': String(body.length) });
      res.end(body);
      return;
    }
    res.writeHead(200, headers); // no length: Node sends it chunked
    for (let at = 0; at < body.length; at += 100) res.write(body.subarray(at, at + 100));
    res.end();
  }

  const http = createHttpServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    readBody(req).then(async (body) => {
      const identity = identities.get(req.socket) ?? '?';
      state.requests.push({
        identity,
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
      });
      const scripts = options.scripts.get(identity) ?? [];
      const results = state.results.get(identity) ?? [];
      state.results.set(identity, results);
      const step = Number(/[?&]step=(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
      if (step > 0) {
        // the result of script `step`, once; a resumed POST may bring it again
        if (results.some((r) => r.step === step)) state.duplicates++;
        else {
          const status = req.headers['x-admin-script-status'];
          results.push({ step, status: Array.isArray(status) ? status[0] : status, body });
        }
      }
      await options.beforeStep?.(step);
      const cut = options.cut;
      if (cut && !cutDone && cut.step === step && cut.when === 'before-response') {
        cutDone = true;
        req.socket.destroy();
        return;
      }
      const script = scripts[step];
      if (!script) {
        res.writeHead(204, { 'X-Admin-Protocol': ADMIN_PROTOCOL });
        res.end();
        return;
      }
      const inside = cut !== undefined && !cutDone && cut.step === step && cut.when === 'mid-response';
      if (inside) cutDone = true;
      send(res, script, step + 1, inside);
    });
  });

  const tls: TlsServer = createTlsServer(
    {
      pskCallback: (socket: TLSSocket, identity: string) => {
        identities.set(socket, identity);
        return options.keys.get(identity) ?? null;
      },
      ciphers:
        options.ciphers ??
        'PSK-AES128-GCM-SHA256:PSK-AES128-CBC-SHA256:PSK-AES128-CBC-SHA:PSK-NULL-SHA256:PSK-NULL-SHA:@SECLEVEL=0',
      minVersion: options.minVersion ?? 'TLSv1',
      maxVersion: options.maxVersion ?? 'TLSv1.2',
      secureOptions: constants.SSL_OP_NO_TICKET | constants.SSL_OP_NO_ENCRYPT_THEN_MAC,
    },
    (socket) => {
      socket.on('error', () => {});
      state.connections.push({ protocol: socket.getProtocol(), cipher: socket.getCipher()?.name });
      http.emit('connection', socket);
    },
  );
  tls.on('tlsClientError', (error) => state.tlsErrors.push(error.message));
  await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
  return {
    port: (tls.address() as { port: number }).port,
    results: state.results,
    requests: state.requests,
    connections: state.connections,
    tlsErrors: state.tlsErrors,
    get duplicates() {
      return state.duplicates;
    },
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        tls.close(() => resolve());
      }),
  };
}

export interface TlsRecordSeen {
  type: number;
  version: number;
  length: number;
}

/**
 * A TCP relay in front of a server that reads the TLS record headers the client sends (RFC 5246
 * §6.2.1), so a test sees the card's record sizes and versions on the wire.
 */
export async function startRecordTap(
  targetPort: number,
): Promise<{ port: number; records: TlsRecordSeen[]; close: () => Promise<void> }> {
  const records: TlsRecordSeen[] = [];
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((client) => {
    const upstream = netConnect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(upstream);
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const length = pending.readUInt16BE(3);
        if (pending.length < 5 + length) break;
        records.push({ type: pending[0]!, version: pending.readUInt16BE(1), length });
        pending = pending.subarray(5 + length);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    records,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
