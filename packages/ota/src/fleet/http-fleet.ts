// The fleet routes of the OTA API: the inventory (GET /sims with filters and keyset pagination,
// GET /sims/:sim with key sets, PSK identity and the last audit — never a key), the vendor batch
// import (POST /sims/import, text/csv), campaigns over the job system (create, dry-run, start,
// pause, resume, cancel, status) and API token management (admin). Errors in the API's JSON shape.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { errorBody, requestFailure } from '../http-api.js';
import { jobView } from '../http-jobs.js';
import type { OtaServer } from '../server.js';
import { callerOf } from './api-auth.js';
import {
  type CampaignAction,
  type CampaignRecord,
  CampaignStateError,
  Campaigns,
  type NewCampaign,
} from './campaigns.js';
import { importVendorFile } from './import.js';
import { ROLES, type Role, type TokenStore } from './tokens.js';
import { CsvImportError, type TransportCipher } from './vendor-csv.js';

export interface FleetRouteOptions {
  tokens: TokenStore;
  /** The transport key vendor files' keys are encrypted under (it never travels in a request). */
  transportKey?: Uint8Array;
  cipher?: TransportCipher;
  /** Largest import file (default 64 MiB). */
  maxImportBytes?: number;
  /** The SMSC account's submit rate, for dry runs' expected duration. */
  tps?: number;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const SIM = '^\\+?[0-9]{1,20}$';
const NAME = '^[\\w.:-]{1,64}$';
const UUID = '^[0-9a-f-]{36}$';
// query strings are not coerced (the API validates what arrives): numbers and flags as text
const LIMIT = { type: 'string', pattern: '^[0-9]{1,5}$' } as const;
const FLAG = { type: 'string', enum: ['true', 'false'] } as const;
const limitOf = (text: string | undefined, fallback: number, max: number) =>
  Math.min(text === undefined ? fallback : Number(text), max);

const stepSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['tar', 'script'],
  properties: {
    tar: { type: 'string', pattern: '^[0-9a-fA-F]{6}$' },
    script: { type: 'string', minLength: 2, pattern: '^([0-9a-fA-F]{2})+$' },
    spi: { type: 'string', pattern: '^[0-9a-fA-F]{4}$' },
    kvn: { type: 'integer', minimum: 1, maximum: 15 },
  },
} as const;

const campaignBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'select', 'steps'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 80 },
    select: {
      type: 'object',
      additionalProperties: false,
      properties: {
        sims: { type: 'array', maxItems: 100_000, items: { type: 'string', pattern: SIM } },
        tags: { type: 'array', maxItems: 16, items: { type: 'string', pattern: NAME } },
        batch: { type: 'string', pattern: NAME },
        certExpiresBefore: { type: 'string', format: 'date-time' },
      },
    },
    steps: { type: 'array', minItems: 1, maxItems: 64, items: stepSchema },
    retry: {
      type: 'object',
      additionalProperties: false,
      properties: {
        noPor: { type: 'integer', minimum: 0, maximum: 10 },
        cardError: { type: 'integer', minimum: 0, maximum: 10 },
        smscError: { type: 'integer', minimum: 0, maximum: 10 },
        backoffMs: { type: 'integer', minimum: 0, maximum: 3_600_000 },
      },
    },
    porTimeoutMs: { type: 'integer', minimum: 1, maximum: 86_400_000 },
    rollout: {
      type: 'object',
      additionalProperties: false,
      properties: {
        waves: {
          type: 'object',
          additionalProperties: false,
          required: ['initial'],
          properties: {
            initial: { type: 'integer', minimum: 1 },
            factor: { type: 'number', minimum: 1, maximum: 100 },
          },
        },
        abort: {
          type: 'object',
          additionalProperties: false,
          required: ['failureRatio'],
          properties: {
            failureRatio: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
            minFinished: { type: 'integer', minimum: 1 },
          },
        },
      },
    },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: UUID } },
} as const;

/** A refusal in the API's shape: campaign state 409, a file that is not CSV 400, the rest as requestFailure. */
function failure(reply: FastifyReply, error: unknown) {
  if (error instanceof CampaignStateError)
    return reply.code(409).send(errorBody('campaign_state', error.message));
  if (error instanceof CsvImportError) return reply.code(400).send(errorBody('invalid_file', error.message));
  const { status, body } = requestFailure(error);
  return reply.code(status).send(body);
}

export function fleetRoutes(app: FastifyInstance, server: OtaServer, options: FleetRouteOptions): Campaigns {
  const campaigns = new Campaigns(server, options.tps === undefined ? {} : { tps: options.tps });
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

  const campaignView = async (campaign: CampaignRecord) => ({
    id: campaign.id,
    name: campaign.name,
    state: campaign.state,
    select: campaign.select,
    spec: campaign.spec,
    createdBy: campaign.createdBy,
    createdAt: iso(campaign.createdAt),
    updatedAt: iso(campaign.updatedAt),
    ...(campaign.jobId ? { job: await jobView(server, await store.jobs.get(campaign.jobId)) } : {}),
  });

  app.post<{ Body: NewCampaign }>(
    '/campaigns',
    { bodyLimit: 4 * 1024 * 1024, config: { role: 'operator' }, schema: { body: campaignBody } },
    async (request, reply) => {
      try {
        const campaign = await campaigns.create(request.body, callerOf(request).name);
        reply.header('location', `/campaigns/${campaign.id}`);
        return reply.code(201).send(await campaignView(campaign));
      } catch (error) {
        return failure(reply, error);
      }
    },
  );

  app.get<{ Querystring: { limit?: string } }>(
    '/campaigns',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: LIMIT },
        },
      },
    },
    async (request) => ({
      campaigns: await Promise.all(
        (await campaigns.list(limitOf(request.query.limit, 100, 1000))).map(campaignView),
      ),
    }),
  );

  app.get<{ Params: { id: string } }>(
    '/campaigns/:id',
    { schema: { params: idParams } },
    async (request, reply) => {
      try {
        return await campaignView(await campaigns.get(request.params.id));
      } catch (error) {
        return failure(reply, error);
      }
    },
  );

  app.post<{ Params: { id: string }; Querystring: { limit?: string } }>(
    '/campaigns/:id/dry-run',
    {
      config: { role: 'operator' },
      schema: {
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: LIMIT },
        },
      },
    },
    async (request, reply) => {
      try {
        return await campaigns.dryRun(
          request.params.id,
          limitOf(request.query.limit, 100, 10_000),
          callerOf(request).name,
        );
      } catch (error) {
        return failure(reply, error);
      }
    },
  );

  app.post<{ Params: { id: string; action: 'start' | CampaignAction } }>(
    '/campaigns/:id/:action',
    {
      config: { role: 'operator' },
      schema: {
        params: {
          type: 'object',
          required: ['id', 'action'],
          properties: {
            ...idParams.properties,
            action: { type: 'string', enum: ['start', 'pause', 'resume', 'cancel'] },
          },
        },
      },
    },
    async (request, reply) => {
      const actor = callerOf(request).name;
      try {
        const { id, action } = request.params;
        const campaign =
          action === 'start' ? await campaigns.start(id, actor) : await campaigns.control(id, action, actor);
        return await campaignView(campaign);
      } catch (error) {
        return failure(reply, error);
      }
    },
  );

  // attempts ended per time bucket, successes (a PoR 00, or sent when none was asked) and failures
  app.get<{ Querystring: { bucket?: string } }>(
    '/stats/outcomes',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { bucket: { type: 'string', pattern: '^[0-9]{1,5}$' } },
        },
      },
    },
    async (request) => {
      const seconds = Math.max(1, Number(request.query.bucket ?? 60));
      const bucketMs = seconds * 1000;
      const rows = await store.engine.query<{ b: number; ok: number; failed: number }>(
        `SELECT finished_at / $1 AS b,
           SUM(CASE WHEN state IN ('por', 'sent') AND COALESCE(por_status, 0) = 0 THEN 1 ELSE 0 END) AS ok,
           SUM(CASE WHEN state IN ('por', 'sent') AND COALESCE(por_status, 0) = 0 THEN 0 ELSE 1 END) AS failed
         FROM attempts WHERE finished_at IS NOT NULL AND finished_at >= $2 GROUP BY 1 ORDER BY 1`,
        [bucketMs, Date.now() - 120 * bucketMs],
      );
      return {
        bucketSeconds: seconds,
        buckets: rows.map((r) => ({
          at: iso(Number(r.b) * bucketMs),
          ok: Number(r.ok),
          failed: Number(r.failed),
        })),
      };
    },
  );

  app.get('/tokens', { config: { role: 'admin' } }, async () => ({
    tokens: (await options.tokens.list()).map((t) => ({
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
        const { record, token } = await options.tokens.create(
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
      if (!(await options.tokens.revoke(request.params.id)))
        return reply.code(404).send(errorBody('unknown_token', `no live API token ${request.params.id}`));
      await store.jobs.audit(callerOf(request).name, 'token.revoke', request.params.id);
      return reply.code(204).send();
    },
  );

  return campaigns;
}
