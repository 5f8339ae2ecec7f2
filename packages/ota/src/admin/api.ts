// The admin server's management API (HTTP on loopback by default, bearer tokens as the OTA API): queue
// a script for a SIM's next admin session, read a SIM's queue with the recorded results and sessions.
import type { AddressInfo } from 'node:net';
import { bytesToHex, decodeExpandedScript, FormatError, hexToBytes } from '@iotsafe/protocol';
import Fastify from 'fastify';
import { errorBody, isLoopback, MIN_TOKEN_LENGTH, OtaApiConfigError, requireBearer } from '../http-api.js';
import { StorageError } from '../storage/engine.js';
import type { OtaStore } from '../storage/store.js';
import type { AdminServer } from './server.js';

export interface AdminApiOptions {
  host?: string;
  port?: number;
  tokens?: readonly string[];
  /** Serve without a token: on a loopback address only, for local tests. */
  insecureNoAuth?: boolean;
}

const pushBody = {
  type: 'object',
  required: ['sim', 'script'],
  additionalProperties: false,
  properties: {
    sim: { type: 'string', minLength: 1, maxLength: 32 },
    target: { type: 'string', pattern: '^([0-9A-Fa-f]{2}){5,16}$' },
    script: { type: 'string', pattern: '^([0-9A-Fa-f]{2})+$', maxLength: 131072 },
  },
} as const;

export async function serveAdminApi(
  store: OtaStore,
  admin: AdminServer,
  options: AdminApiOptions = {},
): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  const host = options.host ?? '127.0.0.1';
  const tokens = [...(options.tokens ?? [])];
  if (tokens.length === 0 && !(options.insecureNoAuth && isLoopback(host)))
    throw new OtaApiConfigError('the admin API needs a bearer token (or, on loopback only, insecureNoAuth)');
  if (tokens.some((t) => t.length < MIN_TOKEN_LENGTH || /\s/.test(t)))
    throw new OtaApiConfigError(`a bearer token is at least ${MIN_TOKEN_LENGTH} characters, without spaces`);
  const app = Fastify({ logger: false, bodyLimit: 192 * 1024 });
  if (tokens.length) requireBearer(app, tokens, 'iotsafe-admin');
  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    if (error instanceof StorageError)
      return reply.code(error.code === 'unknown_sim' ? 404 : 400).send(errorBody(error.code, error.message));
    if (error instanceof FormatError) return reply.code(400).send(errorBody('invalid_script', error.message));
    const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 500;
    return reply.code(status).send(errorBody(status === 500 ? 'internal' : 'invalid', error.message));
  });
  app.post('/scripts', { schema: { body: pushBody } }, async (request, reply) => {
    const body = request.body as { sim: string; target?: string; script: string };
    const sim = await store.sims.get(body.sim);
    const script = hexToBytes(body.script);
    decodeExpandedScript(script); // GP Amd B: the expanded remote APDU format only
    const id = await store.admin.push(sim.iccid, {
      script,
      ...(body.target ? { target: hexToBytes(body.target) } : {}),
      createdBy: 'api',
    });
    await admin.reloadKeys();
    return reply.code(201).send({ id, iccid: sim.iccid });
  });
  app.get('/sims/:sim/scripts', async (request) => {
    const sim = await store.sims.get((request.params as { sim: string }).sim);
    return {
      iccid: sim.iccid,
      scripts: (await store.admin.scripts(sim.iccid)).map((s) => ({
        id: s.id,
        state: s.state,
        ...(s.target ? { target: bytesToHex(s.target) } : {}),
        ...(s.status ? { status: s.status } : {}),
        ...(s.result ? { result: bytesToHex(s.result) } : {}),
        sent: s.sentCount,
      })),
      sessions: await store.admin.sessions(sim.iccid),
    };
  });
  await app.listen({ host, port: options.port ?? 0 });
  const bound = app.server.address() as AddressInfo;
  return { url: `http://${host}:${bound.port}`, port: bound.port, stop: () => app.close() };
}
