// An EST server (RFC 7030) in front of the operator's CA, over HTTPS on Node's https:
//   GET  /.well-known/est/cacerts         the CA certificate (§4.1), anyone may ask
//   GET  /.well-known/est/csrattrs        what a request must be (§4.5), anyone may ask
//   POST /.well-known/est/simpleenroll    a certificate for a CSR (§4.2.1): a client certificate this
//                                         CA issued and has not revoked, or HTTP Basic when configured
//   POST /.well-known/est/simplereenroll  a renewal (§4.2.2): the client certificate only, and the
//                                         CSR's subject must be the certificate's
// A client that presents a certificate is refused on every path when the CA did not issue it or has
// revoked it: the revocation is read from the CA's records at each request.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { CertificateAuthority } from '../authority.js';
import { CsrError } from '../errors.js';
import type { CertificateProfile } from '../profiles.js';
import { x509 } from '../x509.js';
import { base64Body, certsOnly, csrAttributes, decodeBase64Body, MEDIA } from './media.js';

export interface EstServerOptions {
  ca: CertificateAuthority;
  /** The server's own credential (PEM), e.g. from ca.issueServer(hostname). */
  tls: { key: string; cert: string };
  /** Where to listen (default 127.0.0.1, port 0: any free port). */
  host?: string;
  port?: number;
  /** A credential simpleenroll also takes as HTTP Basic (§3.2.3), for a first enrolment. */
  basic?: { username: string; password: string };
  /** The profile of the certificates issued (default the CA's device profile). */
  profile?: CertificateProfile;
  /** Largest request body read (default 16 KiB): a longer one is answered 413. */
  maxBodyBytes?: number;
  /** One line per request: method, path, status, who (never a credential). */
  log?: (line: string) => void;
}

export interface EstServer {
  readonly url: string;
  readonly port: number;
  /** Certificates issued since start. */
  readonly enrolled: number;
  close(): Promise<void>;
}

const PREFIX = '/.well-known/est/';
const OPERATIONS = ['cacerts', 'csrattrs', 'simpleenroll', 'simplereenroll'] as const;
type Operation = (typeof OPERATIONS)[number];

/** An answer other than success: the status and a one-line reason for the client. */
class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface Caller {
  /** The client certificate, when one was presented and is valid. */
  certificate?: x509.X509Certificate;
  basic: boolean;
}

export async function startEstServer(options: EstServerOptions): Promise<EstServer> {
  const maxBody = options.maxBodyBytes ?? 16 * 1024;
  let enrolled = 0;
  const server: Server = createServer(
    {
      key: options.tls.key,
      cert: options.tls.cert,
      ca: options.ca.certificatePem,
      requestCert: true,
      rejectUnauthorized: false, // judged per request: cacerts needs no certificate, a bad one is a 403
      minVersion: 'TLSv1.2',
    },
    (request, response) => {
      handle(request, response).catch(() => {
        if (!response.headersSent) send(response, 500, 'text/plain', 'internal error\n');
      });
    },
  );
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.on('tlsClientError', () => {}); // a failed handshake is the client's business

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '').split('?')[0]!;
    let status = 200;
    let who = 'anonymous';
    let refusal = '';
    // a certificate refused (revoked, another CA's) is named in the log by its subject and serial
    const peer = (request.socket as TLSSocket).getPeerCertificate();
    if (peer?.raw)
      who = `${peer.subject?.CN ? `CN=${peer.subject.CN}` : 'a certificate'} (serial ${peer.serialNumber})`;
    try {
      const operation = operationOf(path);
      const caller = authenticate(request, options);
      if (caller.certificate) who = caller.certificate.subject;
      else if (caller.basic) who = 'basic';
      const wanted = operation === 'cacerts' || operation === 'csrattrs' ? 'GET' : 'POST';
      if (request.method !== wanted) throw new HttpRefusal(405, `${path} takes ${wanted}`, { Allow: wanted });
      if (operation === 'cacerts') {
        response.setHeader('Content-Transfer-Encoding', 'base64');
        return send(response, 200, MEDIA.caCerts, base64Body(certsOnly([options.ca.certificate])));
      }
      if (operation === 'csrattrs') {
        response.setHeader('Content-Transfer-Encoding', 'base64');
        return send(response, 200, MEDIA.csrattrs, base64Body(csrAttributes()));
      }
      if (operation === 'simplereenroll' && !caller.certificate)
        throw new HttpRefusal(401, 'simplereenroll takes the client certificate being renewed');
      if (!caller.certificate && !caller.basic)
        throw new HttpRefusal(
          401,
          'authenticate with a client certificate from this CA',
          options.basic ? { 'WWW-Authenticate': 'Basic realm="est", charset="UTF-8"' } : {},
        );
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== MEDIA.pkcs10) throw new HttpRefusal(415, `the request body is ${MEDIA.pkcs10}, base64`);
      const body = await readBody(request, maxBody);
      const csr = decodeBase64Body(body);
      if (!csr) throw new HttpRefusal(400, 'the body is not base64 (RFC 7030 §4.2.1)');
      const certificate = await options.ca
        .issue(csr, {
          ...(options.profile ? { profile: options.profile } : {}),
          ...(operation === 'simplereenroll'
            ? { expectedSubject: new Uint8Array(caller.certificate!.subjectName.toArrayBuffer()) }
            : {}),
        })
        .catch((error: unknown) => {
          if (error instanceof CsrError) throw new HttpRefusal(400, error.message);
          throw error;
        });
      enrolled++;
      response.setHeader('Content-Transfer-Encoding', 'base64');
      return send(response, 200, MEDIA.certsOnly, base64Body(certsOnly([certificate])));
    } catch (error) {
      if (!(error instanceof HttpRefusal)) {
        status = 500;
        throw error;
      }
      status = error.status;
      refusal = `: ${error.message}`;
      for (const [name, value] of Object.entries(error.headers)) response.setHeader(name, value);
      if (error.status === 413) response.setHeader('Connection', 'close');
      send(response, error.status, 'text/plain; charset=utf-8', `${error.message}\n`);
    } finally {
      options.log?.(`${request.method} ${path} ${status} ${who}${refusal}`);
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as { address: string; port: number };
  const host = address.address.includes(':') ? `[${address.address}]` : address.address;
  return {
    url: `https://${host}:${address.port}/`,
    port: address.port,
    get enrolled() {
      return enrolled;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function operationOf(path: string): Operation {
  if (!path.startsWith(PREFIX)) throw new HttpRefusal(404, 'EST lives under /.well-known/est/');
  const name = path.slice(PREFIX.length);
  if (!(OPERATIONS as readonly string[]).includes(name))
    throw new HttpRefusal(404, `no EST operation ${JSON.stringify(name.slice(0, 40))} here (no CA labels)`);
  return name as Operation;
}

/** Who is calling: a valid client certificate, HTTP Basic, or nobody; a bad certificate is a 403. */
function authenticate(request: IncomingMessage, options: EstServerOptions): Caller {
  const socket = request.socket as TLSSocket;
  const peer = socket.getPeerCertificate();
  const caller: Caller = { basic: false };
  if (peer?.raw) {
    if (!socket.authorized)
      throw new HttpRefusal(403, `the client certificate is not from this CA (${socket.authorizationError})`);
    const status = options.ca.status(peer.serialNumber);
    if (status !== 'valid') throw new HttpRefusal(403, `the client certificate is ${status}`);
    caller.certificate = new x509.X509Certificate(new Uint8Array(peer.raw));
  }
  const authorization = request.headers.authorization;
  if (options.basic && authorization?.startsWith('Basic ')) {
    const given = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const expected = `${options.basic.username}:${options.basic.password}`;
    const digest = (s: string) => createHash('sha256').update(s).digest();
    if (!timingSafeEqual(digest(given), digest(expected)))
      throw new HttpRefusal(401, 'wrong user name or password', {
        'WWW-Authenticate': 'Basic realm="est", charset="UTF-8"',
      });
    caller.basic = true;
  }
  return caller;
}

/** The body as text, at most `limit` bytes (else 413, and the rest is not read). */
function readBody(request: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(new HttpRefusal(413, `the body is limited to ${limit} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    request.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > limit) {
        request.removeAllListeners('data');
        request.pause();
        reject(new HttpRefusal(413, `the body is limited to ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    request.on('error', reject);
  });
}

function send(response: ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}
