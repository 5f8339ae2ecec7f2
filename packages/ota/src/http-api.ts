// `iotsafe ota serve`: the OTA server's HTTP API (fastify). POST /send {"to", "tar", "script" (hex),
// "spi"?, "kvn"?} makes a job and answers 202 with its id at once; GET /jobs/:id gives its state and,
// once ended, the PoR; GET /jobs/:id/events streams its progress as server-sent events; a job can be
// paused, resumed and cancelled; GET /sims/:sim/ledger lists a SIM's attempts. Every request carries
// a bearer token (RFC 6750, compared in constant time, never logged); serving without one is allowed
// on a loopback address only and only when asked. Bodies are bounded (413), a script's SMS fan-out is
// bounded (413, before a counter is spent), headers and bodies must arrive in time (408), a global and
// a per-SIM rate limit on /send answer 429 with Retry-After, and every refusal is a JSON error
// {"error": {"code", "message"}}.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import rateLimit from '@fastify/rate-limit';
import { FormatError, hexToBytes, OtaPacketError, OtaUnsupportedError } from '@iotsafe/protocol';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { jobRoutes } from './http-jobs.js';
import { OtaLimitError, type OtaServer } from './server.js';
import { StorageError } from './storage/engine.js';

export interface OtaApiOptions {
  /** Bearer tokens accepted (at least 16 characters each). */
  tokens?: readonly string[];
  /** Serve with no authentication at all: refused unless the address is a loopback one. */
  insecureNoAuth?: boolean;
  /** Largest request body in bytes (default 16 KiB). */
  maxBodyBytes?: number;
  /** Requests per window in all (default 60) and per SIM (default 6); the window defaults to 60 s. */
  rateLimit?: { global?: number; perSim?: number; windowMs?: number };
  /** Time for a request's headers (default 10 s) and for the whole request, body included (30 s). */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open (default 5 s). */
  keepAliveTimeoutMs?: number;
  /** How often GET /jobs/:id/events looks at the job (default 250 ms). */
  eventsPollMs?: number;
}

/** Options that cannot make a safe server (no token, no-auth off loopback, a short token). */
export class OtaApiConfigError extends Error {
  override name = 'OtaApiConfigError';
}

export const MIN_TOKEN_LENGTH = 16;

export interface ApiError {
  error: { code: string; message: string };
}

export const errorBody = (code: string, message: string): ApiError => ({ error: { code, message } });

const sendBody = {
  type: 'object',
  additionalProperties: false,
  required: ['to', 'tar', 'script'],
  properties: {
    to: { type: 'string', pattern: '^\\+?[0-9]{1,20}$' },
    tar: { type: 'string', pattern: '^[0-9a-fA-F]{6}$' },
    script: { type: 'string', minLength: 2, pattern: '^([0-9a-fA-F]{2})+$' },
    spi: { type: 'string', pattern: '^[0-9a-fA-F]{4}$' },
    kvn: { type: 'integer', minimum: 1, maximum: 15 },
  },
} as const;

interface SendBody {
  to: string;
  tar: string;
  script: string;
  spi?: string;
  kvn?: number;
}

// Tokens compare as SHA-256 digests: equal lengths, so timingSafeEqual leaks neither bytes nor length.
const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

function matchesAny(accepted: readonly Buffer[], presented: Buffer): boolean {
  let found = false;
  for (const token of accepted) found = timingSafeEqual(token, presented) || found; // no early exit
  return found;
}

/** Whether an address is one only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '::ffff:127.0.0.1';
}

/** The error a refused request maps to: status, code and a message that names no secret. */
export function requestFailure(error: unknown): { status: number; body: ApiError } {
  const refuse = (status: number, code: string, message: string) => ({
    status,
    body: errorBody(code, message),
  });
  if (error instanceof OtaLimitError) return refuse(413, 'too_many_sms', error.message);
  if (error instanceof StorageError) {
    if (error.code === 'unknown_sim' || error.code === 'unknown_key_set' || error.code === 'unknown_job')
      return refuse(404, error.code, error.message);
    if (error.code === 'counter_exhausted') return refuse(409, error.code, error.message);
    if (error.code === 'invalid') return refuse(400, 'invalid_request', error.message);
    return refuse(500, 'internal', 'internal error');
  }
  if (error instanceof FormatError || error instanceof OtaPacketError || error instanceof OtaUnsupportedError)
    return refuse(400, 'invalid_request', error.message);
  return refuse(500, 'internal', 'internal error');
}

// Fastify's own refusals (body parsing, media type, size, validation) in the API's error shape.
function frameworkFailure(error: FastifyError): { status: number; body: ApiError } {
  if (error.validation)
    return {
      status: 400,
      body: errorBody('invalid_request', `the body ${error.message.replace(/^body\s*/, '')}`),
    };
  const status =
    error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
  if (status === 500) return { status, body: errorBody('internal', 'internal error') };
  const code =
    status === 413
      ? 'body_too_large'
      : status === 415
        ? 'unsupported_media_type'
        : status === 401
          ? 'unauthorized'
          : /JSON/.test(error.code ?? '')
            ? 'invalid_json'
            : 'bad_request';
  return { status, body: errorBody(code, error.message) };
}

/** The API as a fastify instance, not listening (tests inject requests into it). */
/** RFC 6750 bearer tokens, checked before the body is read: 401 with WWW-Authenticate otherwise. */
export function requireBearer(app: FastifyInstance, tokens: readonly string[], realm: string): void {
  const accepted = tokens.map(digest);
  app.addHook('onRequest', async (request, reply) => {
    const presented = /^Bearer +([^\s]+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (presented !== undefined && matchesAny(accepted, digest(presented))) return;
    reply.header('www-authenticate', `Bearer realm="${realm}"${presented ? ', error="invalid_token"' : ''}`);
    return reply
      .code(401)
      .send(
        errorBody('unauthorized', presented ? 'the bearer token is not valid' : 'a bearer token is required'),
      );
  });
}

export async function buildOtaApi(server: OtaServer, options: OtaApiOptions = {}): Promise<FastifyInstance> {
  const tokens = [...(options.tokens ?? [])];
  if (tokens.length === 0 && !options.insecureNoAuth)
    throw new OtaApiConfigError('the OTA API needs a bearer token (or, on loopback only, insecureNoAuth)');
  if (tokens.some((t) => t.length < MIN_TOKEN_LENGTH || /\s/.test(t)))
    throw new OtaApiConfigError(`a bearer token is at least ${MIN_TOKEN_LENGTH} characters, without spaces`);
  const app = Fastify({
    logger: false, // nothing a request carries (tokens, scripts) is ever logged
    bodyLimit: options.maxBodyBytes ?? 16 * 1024,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 5_000,
    http: {
      headersTimeout: options.headersTimeoutMs ?? 10_000,
      // how often Node checks the two timeouts above (its default, 30 s, would let them run long)
      connectionsCheckingInterval: Math.min(1_000, options.headersTimeoutMs ?? 1_000),
    },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } },
  });
  app.removeContentTypeParser('text/plain'); // JSON only: anything else is a 415
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const { status, body } = frameworkFailure(error);
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(
        errorBody(
          'not_found',
          `no ${request.method} ${request.url.split('?')[0]}: POST /send, GET /jobs/ID, GET /jobs/ID/events`,
        ),
      ),
  );
  if (tokens.length > 0) requireBearer(app, tokens, 'iotsafe-ota');
  await app.register(rateLimit, { global: false });
  const windowMs = options.rateLimit?.windowMs ?? 60_000;
  const simKeys = new WeakMap<FastifyRequest, string>();
  const resolveSim = async (request: FastifyRequest) => {
    simKeys.set(request, await simKey(server, (request.body as SendBody).to));
  };
  const globalLimit = app.createRateLimit({
    max: options.rateLimit?.global ?? 60,
    timeWindow: windowMs,
    keyGenerator: () => 'all',
  });
  const perSimLimit = app.createRateLimit({
    max: options.rateLimit?.perSim ?? 6,
    timeWindow: windowMs,
    keyGenerator: (request: FastifyRequest) => `sim:${simKeys.get(request) ?? (request.body as SendBody).to}`,
  });
  const limited = (which: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    const result = await (which === 'global' ? globalLimit : perSimLimit)(request);
    if (result.isAllowed || !result.isExceeded) return;
    reply.header('retry-after', String(Math.max(1, result.ttlInSeconds)));
    return reply
      .code(429)
      .send(
        errorBody(
          'rate_limited',
          `too many requests ${which === 'global' ? 'in all' : 'for this SIM'}; retry later`,
        ),
      );
  };

  app.post<{ Body: SendBody }>(
    '/send',
    {
      schema: { body: sendBody },
      onRequest: limited('global'),
      preHandler: [resolveSim, limited('per SIM')],
    },
    async (request, reply) => {
      const body = request.body;
      try {
        const job = await server.submit(
          {
            sim: body.to,
            tar: body.tar,
            script: hexToBytes(body.script),
            ...(body.spi === undefined ? {} : { spi: body.spi }),
            ...(body.kvn === undefined ? {} : { kvn: body.kvn }),
          },
          'api',
        );
        reply.header('location', `/jobs/${job.id}`);
        return reply.code(202).send({ job: job.id, state: job.state, location: `/jobs/${job.id}` });
      } catch (error) {
        const { status, body: refusal } = requestFailure(error);
        return reply.code(status).send(refusal);
      }
    },
  );
  jobRoutes(app, server, { pollMs: options.eventsPollMs ?? 250 });
  return app;
}

// A SIM named by MSISDN or ICCID counts once: the limit is keyed by its ICCID where the store knows it.
async function simKey(server: OtaServer, to: string): Promise<string> {
  try {
    return (await server.sim(to)).iccid;
  } catch {
    return to;
  }
}

export interface ServedApi {
  /** The address bound, as a URL base (http://host:port). */
  url: string;
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** Builds the API and listens; the URL is the address actually bound. */
export async function serveOtaApi(
  server: OtaServer,
  options: OtaApiOptions & { host?: string; port?: number } = {},
): Promise<ServedApi> {
  const host = options.host ?? '127.0.0.1';
  if (options.insecureNoAuth && (options.tokens?.length ?? 0) === 0 && !isLoopback(host))
    throw new OtaApiConfigError(`no authentication is allowed on a loopback address only, not ${host}`);
  const app = await buildOtaApi(server, options);
  await app.listen({ host, port: options.port ?? 0 });
  const bound = app.server.address() as AddressInfo;
  const shown = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${shown}:${bound.port}`,
    host: bound.address,
    port: bound.port,
    stop: () => app.close(),
  };
}
