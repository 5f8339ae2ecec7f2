// API token management (admin only): list, create (the token in the answer once, only its digest
// kept) and revoke, each change in the audit log.
import type { FastifyInstance } from 'fastify';
import { errorBody } from '../http-api.js';
import type { OtaStore } from '../storage/store.js';
import { callerOf } from './api-auth.js';
import { failure, idParams, iso } from './http-shared.js';
import { ROLES, type Role, type TokenStore } from './tokens.js';

export function tokenRoutes(app: FastifyInstance, store: OtaStore, tokens: TokenStore): void {
  app.get('/tokens', { config: { role: 'admin' } }, async () => ({
    tokens: (await tokens.list()).map((t) => ({
      id: t.id,
      name: t.name,
      role: t.role,
      createdBy: t.createdBy,
      createdAt: iso(t.createdAt),
      lastUsedAt: iso(t.lastUsedAt),
      revokedAt: iso(t.revokedAt),
    })),
  }));

  app.post<{ Body: { name: string; role: Role } }>(
    '/tokens',
    {
      config: { role: 'admin' },
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'role'],
          properties: {
            name: { type: 'string', pattern: '^[\\w .:@-]{1,64}$' },
            role: { type: 'string', enum: [...ROLES] },
          },
        },
      },
    },
    async (request, reply) => {
      try {
        const { record, token } = await tokens.create(
          request.body.name,
          request.body.role,
          callerOf(request).name,
        );
        await store.jobs.audit(callerOf(request).name, 'token.create', record.id, {
          name: record.name,
          role: record.role,
        });
        // the token is in this answer once; only its digest is kept
        return reply
          .code(201)
          .header('cache-control', 'no-store')
          .send({ id: record.id, name: record.name, role: record.role, token });
      } catch (error) {
        return failure(reply, error);
      }
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/tokens/:id',
    { config: { role: 'admin' }, schema: { params: idParams } },
    async (request, reply) => {
      if (!(await tokens.revoke(request.params.id)))
        return reply.code(404).send(errorBody('unknown_token', `no live API token ${request.params.id}`));
      await store.jobs.audit(callerOf(request).name, 'token.revoke', request.params.id);
      return reply.code(204).send();
    },
  );
}
