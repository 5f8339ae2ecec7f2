// Who calls the fleet API and what they may do. RFC 6750 bearer tokens: the server's own tokens
// (from its token file, compared in constant time; role admin) or tokens from the store (kept as
// SHA-256 digests, with a role). Each route names the least role it needs in its config (default:
// viewer to read, operator to change); a token without it gets 403, no token or an unknown one 401.
// Checked before the body is read. Routes marked public (the dashboard's static files) hold no data.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from '../http-api.js';
import { type Role, roleAllows, type TokenStore } from './tokens.js';

export interface Caller {
  /** The token's name ('server token' for the server's own, 'local' without authentication). */
  name: string;
  role: Role;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least role a route needs. */
    role?: Role;
    /** A route anyone may call (static files holding no data). */
    public?: boolean;
  }
}

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export interface AuthOptions {
  /** The server's own tokens (role admin). */
  tokens: readonly string[];
  /** Stored tokens with roles. */
  store?: TokenStore;
  /** No authentication (loopback only; the caller is admin). */
  insecureNoAuth?: boolean;
  realm: string;
}

const callers = new WeakMap<FastifyRequest, Caller>();

/** Who made a request (after authentication). */
export const callerOf = (request: FastifyRequest): Caller =>
  callers.get(request) ?? { name: 'unknown', role: 'viewer' };

export function authenticate(app: FastifyInstance, options: AuthOptions): void {
  const accepted = options.tokens.map(digest);
  const refuse = (reply: FastifyReply, presented: boolean) => {
    reply.header(
      'www-authenticate',
      `Bearer realm="${options.realm}"${presented ? ', error="invalid_token"' : ''}`,
    );
    return reply
      .code(401)
      .send(
        errorBody('unauthorized', presented ? 'the bearer token is not valid' : 'a bearer token is required'),
      );
  };
  app.addHook('onRequest', async (request, reply) => {
    const config = request.routeOptions.config ?? {};
    if (config.public) return;
    const needed: Role =
      config.role ?? (request.method === 'GET' || request.method === 'HEAD' ? 'viewer' : 'operator');
    let caller: Caller;
    const presented = /^Bearer +([^\s]+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (presented === undefined) {
      if (!options.insecureNoAuth) return refuse(reply, false);
      caller = { name: 'local', role: 'admin' };
    } else {
      const mine = digest(presented);
      let found = false;
      for (const token of accepted) found = timingSafeEqual(token, mine) || found; // no early exit
      if (found) caller = { name: 'server token', role: 'admin' };
      else {
        const stored = await options.store?.verify(presented);
        if (!stored) return refuse(reply, true);
        caller = { name: stored.name, role: stored.role };
      }
    }
    if (!roleAllows(caller.role, needed))
      return reply
        .code(403)
        .send(errorBody('forbidden', `this needs the ${needed} role; the token has ${caller.role}`));
    callers.set(request, caller);
  });
}
