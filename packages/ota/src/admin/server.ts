// The SCP81 admin server (GlobalPlatform Card Specification Amendment B): HTTP/1.1 over PSK-TLS, the
// card's admin agent the client. TLS 1.0–1.2 as cards speak it (RFC 4279/5487 PSK suites; NULL ones only
// when configured), no session tickets and no encrypt-then-MAC (cards abort on either), the client's
// max_fragment_length honoured by OpenSSL (RFC 6066 §4), each response written at once so that it goes
// in one record where it fits, close_notify before the close. Each POST is read with a bounded parser;
// the card's result is recorded before the next script leaves (GP Amd B §3.5 dialog).
import { constants } from 'node:crypto';
import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import {
  encodeAdminResponse,
  encodeHttpError,
  formatTargetedApplication,
  type HttpRequest,
  parseHttpRequest,
} from '@iotsafe/protocol';
import type { SealedPsk } from '../storage/admin-store.js';
import type { OtaStore } from '../storage/store.js';

/** The PSK suites a card's hello offers (GP Amd B Table 4-2 per OTAMan; AES-GCM for newer agents). */
export const ADMIN_CIPHERS = 'PSK-AES128-CBC-SHA256:PSK-AES128-CBC-SHA:PSK-AES128-GCM-SHA256';
export const NULL_CIPHERS = 'PSK-NULL-SHA256:PSK-NULL-SHA';

export type BodyEncoding = 'content-length' | 'chunked';

/** One exchange of the dialog, for a trace: what the card posted and what the server answered. */
export interface AdminExchange {
  iccid: string;
  session: number;
  request: HttpRequest;
  /** The result recorded for the script the POST answers, if it answers one. */
  recorded?: 'recorded' | 'duplicate' | 'unknown';
  response: { status: number; script?: Uint8Array; nextUri?: string; target?: string };
}

export interface AdminServerOptions {
  host?: string;
  /** 0 (default): a free port. */
  port?: number;
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2';
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2';
  /** Offer PSK-NULL suites too (integrity without confidentiality): only if a SIM's SD demands them. */
  allowNullCiphers?: boolean;
  /** How a SIM's responses carry their script (some cards ignore Content-Length bodies); default CL. */
  bodyEncoding?: BodyEncoding | ((iccid: string) => BodyEncoding);
  /** Chunked bodies in chunks of this many bytes (default: one chunk). */
  chunkSize?: number;
  /** The path of every Next-URI; a query names the script (cards need a relative URI with a query). */
  path?: string;
  handshakeTimeoutMs?: number;
  /** How long a connection may wait for the card's next request (default 60 s). */
  idleTimeoutMs?: number;
  maxHeaderBytes?: number;
  maxBodyBytes?: number;
  /** How often the PSK identities are read again from the store (default 30 s; reloadKeys() at once). */
  keyReloadMs?: number;
  onExchange?: (exchange: AdminExchange) => void;
  onError?: (error: Error) => void;
}

export interface AdminServerStats {
  handshakes: number;
  tlsErrors: number;
  sessions: number;
  open: number;
  posts: number;
}

/** The session a TLS connection is: its SIM, its ledger row, whether it resumed. */
interface Connection {
  iccid: string;
  socket: TLSSocket;
  session?: number;
  posts: number;
  ended: boolean;
  outcome: string;
  detail?: string;
  resumed: boolean;
}

export class AdminServer {
  readonly stats: AdminServerStats = { handshakes: 0, tlsErrors: 0, sessions: 0, open: 0, posts: 0 };
  private keys = new Map<string, SealedPsk>();
  private readonly identities = new WeakMap<object, SealedPsk>();
  private readonly sockets = new Set<TLSSocket>();
  /** Every TCP connection, handshaking or not, so that close() ends them all. */
  private readonly raw = new Set<Socket>();
  private readonly handshaking = new Map<string, NodeJS.Timeout>();
  private readonly pending = new Set<Promise<unknown>>();
  private reloadTimer: NodeJS.Timeout | undefined;
  private server!: Server;

  private constructor(
    private readonly store: OtaStore,
    private readonly options: AdminServerOptions,
  ) {}

  static async start(store: OtaStore, options: AdminServerOptions = {}): Promise<AdminServer> {
    const admin = new AdminServer(store, options);
    await admin.reloadKeys();
    await admin.listen();
    return admin;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** Reads the SIMs' PSK identities again (the PSKs stay sealed until a handshake needs one). */
  async reloadKeys(): Promise<void> {
    const next = new Map<string, SealedPsk>();
    for (const entry of await this.store.admin.sealedPsks()) next.set(entry.identity, entry);
    this.keys = next;
  }

  private listen(): Promise<void> {
    const o = this.options;
    this.server = createServer(
      {
        // RFC 4279 §5.1: the identity is the card's; the key opened from the store for this handshake
        pskCallback: (socket: TLSSocket, identity: string) => {
          const entry = this.keys.get(identity);
          if (!entry) {
            this.track(this.reloadKeys()); // a SIM added since: its retry finds it
            return null;
          }
          this.identities.set(socket, entry);
          return Buffer.from(this.store.admin.openPsk(entry));
        },
        ciphers: `${ADMIN_CIPHERS}${o.allowNullCiphers ? `:${NULL_CIPHERS}` : ''}:@SECLEVEL=0`,
        minVersion: o.minVersion ?? 'TLSv1',
        maxVersion: o.maxVersion ?? 'TLSv1.2',
        // cards abort on a NewSessionTicket and on an echoed encrypt_then_mac
        secureOptions: constants.SSL_OP_NO_TICKET | constants.SSL_OP_NO_ENCRYPT_THEN_MAC,
        handshakeTimeout: o.handshakeTimeoutMs ?? 30_000,
      },
      (socket) => this.serve(socket),
    );
    // Node's handshakeTimeout does not fire for a client that sends nothing: a timer per TCP connection,
    // cleared when its TLS socket (same peer address and port) is secure
    this.server.on('connection', (raw: Socket) => {
      this.raw.add(raw);
      const key = `${raw.remoteAddress}:${raw.remotePort}`;
      const timer = setTimeout(() => raw.destroy(), o.handshakeTimeoutMs ?? 30_000);
      this.handshaking.set(key, timer);
      raw.once('close', () => {
        clearTimeout(timer);
        this.handshaking.delete(key);
        this.raw.delete(raw);
      });
    });
    this.server.on('tlsClientError', (error) => {
      this.stats.tlsErrors++;
      o.onError?.(error);
    });
    this.reloadTimer = setInterval(() => this.track(this.reloadKeys()), o.keyReloadMs ?? 30_000);
    this.reloadTimer.unref();
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => resolve());
    });
  }

  private track<T>(work: Promise<T>): void {
    const p = work.catch((error: Error) => this.options.onError?.(error));
    this.pending.add(p);
    p.finally(() => this.pending.delete(p));
  }

  private serve(socket: TLSSocket): void {
    this.stats.handshakes++;
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    clearTimeout(this.handshaking.get(key));
    this.handshaking.delete(key);
    const entry = this.identities.get(socket);
    if (!entry) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    this.stats.open++;
    const c: Connection = {
      iccid: entry.iccid,
      socket,
      posts: 0,
      ended: false,
      outcome: 'broken',
      resumed: false,
    };
    let buffered: Buffer = Buffer.alloc(0);
    let busy = Promise.resolve();
    socket.setTimeout(this.options.idleTimeoutMs ?? 60_000, () => {
      c.outcome = 'timeout';
      socket.destroy();
    });
    socket.on('error', () => {});
    socket.on('data', (data: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, data]) : data;
      busy = busy.then(async () => {
        while (!c.ended) {
          let parsed: ReturnType<typeof parseHttpRequest>;
          try {
            parsed = parseHttpRequest(buffered, {
              maxHeaderBytes: this.options.maxHeaderBytes ?? 8192,
              maxBodyBytes: this.options.maxBodyBytes ?? 65536,
            });
          } catch (error) {
            const tooLarge = /over \d+ bytes/.test((error as Error).message);
            this.refuse(c, tooLarge ? 413 : 400, (error as Error).message);
            return;
          }
          if (!parsed) return;
          buffered = buffered.subarray(parsed.consumed);
          await this.answer(c, parsed.request);
        }
      });
      this.track(busy);
    });
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.stats.open--;
      const session = c.session;
      if (session !== undefined)
        this.track(
          busy.then(() =>
            this.store.admin.endSession(session, {
              outcome: c.outcome,
              ...(c.detail ? { detail: c.detail } : {}),
              posts: c.posts,
              resumed: c.resumed,
            }),
          ),
        );
    });
  }

  /** A request the server cannot take: an error status, close_notify, the close. */
  private refuse(c: Connection, status: 400 | 413, detail: string): void {
    c.ended = true;
    c.outcome = 'refused';
    c.detail = detail;
    c.socket.end(encodeHttpError(status, status === 413 ? 'Content Too Large' : 'Bad Request'));
  }

  private async answer(c: Connection, request: HttpRequest): Promise<void> {
    this.stats.posts++;
    c.posts++;
    if (request.method !== 'POST') return this.refuse(c, 400, `${request.method} is not the admin dialog`);
    const url = new URL(request.target, 'http://card');
    const resume = request.headers.get('x-admin-resume')?.toLowerCase() === 'true';
    if (resume) c.resumed = true;
    const admin = this.store.admin;
    if (c.session === undefined) {
      this.stats.sessions++;
      c.session = await admin.openSession(c.iccid, {
        protocol: c.socket.getProtocol() ?? undefined,
        cipher: c.socket.getCipher()?.standardName ?? c.socket.getCipher()?.name,
        resumed: resume,
      });
      // a fresh session (no resume, no result) while a script was out: it may have run; never again
      if (!resume && !url.searchParams.has('s')) await admin.abandonSent(c.iccid);
    }
    let recorded: AdminExchange['recorded'];
    const answered = Number(url.searchParams.get('s'));
    if (url.searchParams.has('s') && Number.isSafeInteger(answered)) {
      const status = request.headers.get('x-admin-script-status');
      recorded = await admin.recordResult(c.iccid, answered, { status, body: request.body });
    }
    const next = await admin.next(c.iccid);
    // a script goes out only in the SIM's newest session: an older one still live elsewhere is ended
    const claimed = next !== undefined && (await admin.markSent(next.id, c.session));
    if (!next || !claimed) {
      this.report(c, request, recorded, { status: 204 });
      c.ended = true;
      c.outcome = next ? 'superseded' : 'completed';
      c.socket.end(encodeAdminResponse({})); // 204, then close_notify (GP Amd B §3.5: the session ends)
      return;
    }
    const nextUri = `${this.options.path ?? '/admin'}?s=${next.id}`;
    const target = next.target ? formatTargetedApplication(next.target) : undefined;
    const encoding = this.options.bodyEncoding;
    const wire = encodeAdminResponse({
      script: next.script,
      nextUri,
      ...(target ? { targetedApplication: target } : {}),
      bodyEncoding: typeof encoding === 'function' ? encoding(c.iccid) : (encoding ?? 'content-length'),
      ...(this.options.chunkSize ? { chunkSize: this.options.chunkSize } : {}),
    });
    this.report(c, request, recorded, {
      status: 200,
      script: next.script,
      nextUri,
      ...(target ? { target } : {}),
    });
    c.socket.write(wire); // one write: one record where it fits in the fragment length
  }

  private report(
    c: Connection,
    request: HttpRequest,
    recorded: AdminExchange['recorded'],
    response: AdminExchange['response'],
  ): void {
    this.options.onExchange?.({
      iccid: c.iccid,
      session: c.session ?? 0,
      request,
      ...(recorded ? { recorded } : {}),
      response,
    });
  }

  /** Stops listening, ends every connection and waits for the store writes under way. */
  async close(): Promise<void> {
    clearInterval(this.reloadTimer);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
      for (const socket of this.raw) socket.destroy();
    });
    while (this.pending.size) await Promise.all([...this.pending]);
  }
}
