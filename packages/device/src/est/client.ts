// An EST client (RFC 7030) over our TLS client: the server authenticated by its trust anchors, the
// device by its SIM credential (KeyOps: the signature made in the SIM). cacerts, simpleenroll and
// simplereenroll with base64 bodies; transient failures (the network, 5xx, 503 Retry-After) retried
// within a bound, refusals (4xx) reported at once with the server's reason.
import { X509Certificate } from 'node:crypto';
import { decodeBerTlvs, encodeBerTlv } from '@iotsafe/protocol';
import { connect, type KeyOps } from '@iotsafe/tls';
import { type HttpAnswer, httpExchange } from './http.js';

export interface EstEndpoint {
  /** The server's base URL, https://HOST[:PORT]/ (the operations are under /.well-known/est/). */
  url: string;
  /** Trust anchors for the server's certificate (PEM text, or PEM/DER certificates). */
  ca: string | readonly (string | Uint8Array)[];
  /** The name the server's certificate must carry (default the URL's host unless it is an IP). */
  servername?: string;
  /** Per request: TLS, the request and the whole answer (default 30 s). */
  timeoutMs?: number;
  /** HTTP Basic for simpleenroll (RFC 7030 §3.2.3), when the server takes it. */
  basic?: { username: string; password: string };
}

export interface RetryPolicy {
  /** Tries in all (default 3). */
  attempts?: number;
  /** Wait before the second try, doubled each time, at most 60 s (default 1 s); Retry-After wins. */
  delayMs?: number;
}

export type EstFailure = 'refused' | 'transport' | 'answer' | 'proof';

/** An EST operation that did not give a certificate: why, the HTTP status, the server's reason. */
export class EstError extends Error {
  override name = 'EstError';
  constructor(
    readonly kind: EstFailure,
    message: string,
    readonly status?: number,
    readonly attempts = 1,
  ) {
    super(message);
  }
}

const PKCS10 = 'application/pkcs10';

/** One EST operation; `keyOps` authenticates the device (mutual TLS). */
export async function estRequest(
  endpoint: EstEndpoint,
  operation: 'cacerts' | 'csrattrs' | 'simpleenroll' | 'simplereenroll',
  options: { keyOps?: KeyOps; csr?: Uint8Array } = {},
): Promise<HttpAnswer> {
  const url = new URL(endpoint.url);
  if (url.protocol !== 'https:')
    throw new EstError('transport', 'EST runs over https:// only (RFC 7030 §3.3)');
  const timeoutMs = endpoint.timeoutMs ?? 30_000;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const socket = connect({
    host,
    port: Number(url.port || 443),
    ca: endpoint.ca,
    ...(endpoint.servername ? { servername: endpoint.servername } : {}),
    ...(options.keyOps ? { keyOps: options.keyOps } : {}),
    handshakeTimeout: timeoutMs,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
  } catch (error) {
    socket.destroy();
    throw new EstError('transport', `TLS to ${url.host} failed: ${(error as Error).message}`);
  }
  const base = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
  const path = `${base}.well-known/est/${operation}`.replace(/^\/\//, '/');
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (options.csr) {
    headers['Content-Type'] = PKCS10;
    headers['Content-Transfer-Encoding'] = 'base64';
    body = Buffer.from(options.csr).toString('base64');
  }
  if (operation === 'simpleenroll' && endpoint.basic)
    headers.Authorization = `Basic ${Buffer.from(`${endpoint.basic.username}:${endpoint.basic.password}`).toString('base64')}`;
  try {
    return await httpExchange(
      socket,
      {
        method: options.csr ? 'POST' : 'GET',
        host: url.host,
        path,
        headers,
        ...(body !== undefined ? { body } : {}),
      },
      timeoutMs,
    );
  } catch (error) {
    throw new EstError('transport', `the EST exchange with ${url.host} failed: ${(error as Error).message}`);
  }
}

/** The certificates of a base64 certs-only PKCS#7 answer (RFC 7030 §4.1.3, §4.2.3). */
export function certificatesOfAnswer(answer: HttpAnswer): X509Certificate[] {
  const type = answer.headers.get('content-type') ?? '';
  if (!type.toLowerCase().startsWith('application/pkcs7-mime'))
    throw new EstError('answer', `the EST answer is ${type || 'untyped'}, not application/pkcs7-mime`);
  const der = Buffer.from(answer.body.toString('latin1').replace(/\s/g, ''), 'base64');
  return certificatesOfPkcs7(der);
}

/** SignedData (RFC 5652 §5.1) without signers: the [0] IMPLICIT certificates of its content. */
function certificatesOfPkcs7(der: Buffer): X509Certificate[] {
  try {
    const [contentInfo] = decodeBerTlvs(der);
    const [, explicit] = decodeBerTlvs(contentInfo!.value);
    const [signedData] = decodeBerTlvs(explicit!.value);
    const certificates = decodeBerTlvs(signedData!.value).find((f) => f.tag === 0xa0);
    if (!certificates) return [];
    return decodeBerTlvs(certificates.value).map((c) => new X509Certificate(encodeBerTlv(c.tag, c.value)));
  } catch {
    throw new EstError('answer', 'the EST answer is not a PKCS#7 certs-only structure');
  }
}

/** Runs `attempt` up to `policy.attempts` times, waiting between tries; refusals end it at once. */
export async function withRetries<T>(
  policy: RetryPolicy,
  attempt: () => Promise<T>,
): Promise<{ value: T; attempts: number }> {
  const attempts = Math.max(1, policy.attempts ?? 3);
  let delay = policy.delayMs ?? 1000;
  for (let n = 1; ; n++) {
    try {
      return { value: await attempt(), attempts: n };
    } catch (error) {
      if (!(error instanceof EstError) || error.kind === 'refused' || error.kind === 'proof' || n >= attempts)
        throw error instanceof EstError ? new EstError(error.kind, error.message, error.status, n) : error;
      const after = error instanceof RetryLater ? error.afterMs : delay;
      await new Promise((resolve) => setTimeout(resolve, Math.min(60_000, after)));
      delay = Math.min(60_000, delay * 2);
    }
  }
}

/** A 503 (or 202) with Retry-After (RFC 7030 §4.2.3): try again later. */
export class RetryLater extends EstError {
  constructor(
    status: number,
    readonly afterMs: number,
  ) {
    super('transport', `the EST server asks to retry in ${Math.round(afterMs / 1000)} s`, status);
  }
}

/** The answer as EST says: 200, else an EstError (4xx refused, 5xx and Retry-After transient). */
export function checkAnswer(answer: HttpAnswer, operation: string): HttpAnswer {
  if (answer.status === 200) return answer;
  const reason = answer.body.toString('utf8').trim().slice(0, 200);
  const retryAfter = Number(answer.headers.get('retry-after'));
  if ((answer.status === 202 || answer.status === 503) && Number.isFinite(retryAfter) && retryAfter >= 0)
    throw new RetryLater(answer.status, retryAfter * 1000);
  if (answer.status >= 500)
    throw new EstError('transport', `${operation}: the server failed (${answer.status})`, answer.status);
  throw new EstError(
    'refused',
    `${operation} refused (${answer.status})${reason ? `: ${reason}` : ''}`,
    answer.status,
  );
}
