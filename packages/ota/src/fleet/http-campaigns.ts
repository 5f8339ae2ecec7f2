// The campaign routes: create (the body checked against its schema), list, status, dry run, start,
// pause, resume and cancel, each answered with the campaign and its job's progress; and the attempts
// ended per time bucket (the dashboard's chart).
import type { FastifyInstance } from 'fastify';
import { jobView } from '../http-jobs.js';
import type { OtaServer } from '../server.js';
import { callerOf } from './api-auth.js';
import type { CampaignAction, CampaignRecord, Campaigns, NewCampaign } from './campaigns.js';
import { failure, idParams, iso, LIMIT, limitOf, NAME, SIM } from './http-shared.js';

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

export function campaignRoutes(app: FastifyInstance, server: OtaServer, campaigns: Campaigns): void {
  const store = server.store;

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
}
