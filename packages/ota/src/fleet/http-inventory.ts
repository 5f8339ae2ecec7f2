// The inventory routes: GET /sims (filters by tag and batch, keyset pagination), GET /sims/:sim
// (the record, key sets without their keys, PSK identity, the last audit — never a key) and the
// vendor batch import (POST /sims/import, text/csv: its own body limit, optionally all or nothing).
import type { FastifyInstance } from 'fastify';
import { errorBody } from '../http-api.js';
import type { OtaServer } from '../server.js';
import { callerOf } from './api-auth.js';
import type { FleetRouteOptions } from './http-fleet.js';
import { FLAG, failure, iso, LIMIT, limitOf, NAME, SIM } from './http-shared.js';
import { importVendorFile } from './import.js';

export function inventoryRoutes(app: FastifyInstance, server: OtaServer, options: FleetRouteOptions): void {
  const store = server.store;

  app.get<{
    Querystring: {
      tag?: string | string[];
      batch?: string;
      expiringBefore?: string;
      after?: string;
      limit?: string;
    };
  }>(
    '/sims',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            tag: {
              anyOf: [
                { type: 'string', pattern: NAME },
                { type: 'array', maxItems: 16, items: { type: 'string', pattern: NAME } },
              ],
            },
            batch: { type: 'string', pattern: NAME },
            expiringBefore: { type: 'string', format: 'date-time' },
            after: { type: 'string', pattern: '^[0-9]{1,20}$' },
            limit: LIMIT,
          },
        },
      },
    },
    async (request, reply) => {
      try {
        const q = request.query;
        const tags = q.tag === undefined ? undefined : Array.isArray(q.tag) ? q.tag : [q.tag];
        const filter = {
          ...(tags ? { tags } : {}),
          ...(q.batch === undefined ? {} : { batch: q.batch }),
          ...(q.expiringBefore === undefined ? {} : { certExpiresBefore: Date.parse(q.expiringBefore) }),
        };
        const limit = Math.max(1, limitOf(q.limit, 100, 1000));
        const sims = await store.sims.list({
          ...filter,
          ...(q.after === undefined ? {} : { after: q.after }),
          limit,
        });
        const total = await store.sims.count(filter);
        const last = sims.length === limit ? sims[sims.length - 1] : undefined;
        return { sims, total, ...(last ? { next: last.iccid } : {}) };
      } catch (error) {
        return failure(reply, error);
      }
    },
  );

  app.get<{ Params: { sim: string } }>(
    '/sims/:sim',
    {
      schema: {
        params: { type: 'object', required: ['sim'], properties: { sim: { type: 'string', pattern: SIM } } },
      },
    },
    async (request, reply) => {
      try {
        const sim = await store.sims.get(request.params.sim);
        const audit = await store.sims.audit(sim.iccid);
        return {
          ...sim,
          keySets: (await store.sims.keySets(sim.iccid)).map((k) => ({
            kvn: k.kvn,
            kic: k.kicByte.toString(16).padStart(2, '0').toUpperCase(),
            kid: k.kidByte.toString(16).padStart(2, '0').toUpperCase(),
            counter: k.counter.toString(),
            kik: k.hasKik,
          })),
          psk: await store.sims.hasPsk(sim.iccid),
          ...(audit
            ? {
                audit: {
                  at: iso(audit.auditedAt),
                  objects: audit.objects,
                  ...(audit.certificate
                    ? {
                        certificate: {
                          serial: audit.certificate.serial,
                          notAfter: iso(audit.certificate.notAfter),
                        },
                      }
                    : {}),
                },
              }
            : {}),
        };
      } catch (error) {
        return failure(reply, error);
      }
    },
  );

  // text/csv only on this route: the file may be large (its own limit), every other body is JSON
  app.register(async (scope) => {
    scope.addContentTypeParser(
      ['text/csv', 'application/csv'],
      { parseAs: 'buffer', bodyLimit: options.maxImportBytes ?? 64 * 1024 * 1024 },
      (_request, body, done) => done(null, body),
    );
    scope.post<{
      Body: Buffer;
      Querystring: { atomic?: 'true' | 'false'; encrypted?: 'true' | 'false'; batch?: string };
    }>(
      '/sims/import',
      {
        bodyLimit: options.maxImportBytes ?? 64 * 1024 * 1024,
        config: { role: 'operator' },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              atomic: FLAG,
              encrypted: FLAG,
              batch: { type: 'string', pattern: NAME },
            },
          },
        },
      },
      async (request, reply) => {
        if (!Buffer.isBuffer(request.body))
          return reply.code(415).send(errorBody('unsupported_media_type', 'the import takes text/csv'));
        if (request.query.encrypted === 'true' && !options.transportKey)
          return reply
            .code(400)
            .send(errorBody('no_transport_key', 'this server has no transport key configured'));
        try {
          const report = await importVendorFile(store, request.body, {
            atomic: request.query.atomic === 'true',
            ...(request.query.encrypted === 'true' && options.transportKey
              ? { transportKey: options.transportKey }
              : {}),
            ...(options.cipher ? { cipher: options.cipher } : {}),
            ...(request.query.batch === undefined ? {} : { batch: request.query.batch }),
            actor: callerOf(request).name,
          });
          return reply.code(report.refused ? 422 : 200).send(report);
        } catch (error) {
          return failure(reply, error);
        }
      },
    );
  });
}
