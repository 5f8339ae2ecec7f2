// The job routes of the OTA API: a job's state and result (GET /jobs/:id), its items page by page,
// its progress as server-sent events (GET /jobs/:id/events: an event each time it changes, `end`
// when it has ended; WHATWG HTML §9.2), pause/resume/cancel, and a SIM's ledger. Shared with POST
// /send's auth and error shape.
import type { FastifyInstance } from 'fastify';
import { errorBody, requestFailure } from './http-api.js';
import type { OtaServer } from './server.js';
import { FINAL_JOB_STATES, type JobItem, type JobRecord, type JobState } from './storage/job-records.js';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

function itemView(item: JobItem) {
  const data = (item.data ?? {}) as Record<string, unknown>;
  return {
    sim: item.iccid,
    state: item.state,
    step: item.step,
    attempts: item.attempt,
    ...(item.outcome ? { outcome: item.outcome } : {}),
    ...(item.detail ? { detail: item.detail } : {}),
    ...(typeof data.counter === 'string' ? { counter: data.counter } : {}),
    ...(typeof data.status === 'number'
      ? { status: data.status, statusText: data.statusText, data: data.data }
      : {}),
  };
}

/** A job as the API shows it: its state, counts, and for a one-SIM job that ended, its result. */
export async function jobView(server: OtaServer, job: JobRecord) {
  const progress = await server.store.jobs.progress(job.id);
  const ended = FINAL_JOB_STATES.includes(job.state);
  const view = {
    id: job.id,
    kind: job.kind,
    state: job.state,
    ...(job.reason ? { reason: job.reason } : {}),
    createdAt: iso(job.createdAt),
    updatedAt: iso(job.updatedAt),
    ...(job.expiresAt === undefined ? {} : { expiresAt: iso(job.expiresAt) }),
    total: job.total,
    wave: job.wave,
    progress,
  };
  if (job.total !== 1 || !ended) return view;
  const [item] = await server.store.jobs.items(job.id, { limit: 1 });
  return { ...view, result: item ? itemView(item) : undefined };
}

const idParam = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[0-9a-f-]{36}$' } },
} as const;

const pageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    after: { type: 'string', pattern: '^[0-9]{1,12}$' },
    limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
  },
} as const;

const CONTROL: Record<string, { from: JobState[]; to: JobState }> = {
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  cancel: { from: ['running', 'paused'], to: 'cancelled' },
};

export function jobRoutes(app: FastifyInstance, server: OtaServer, options: { pollMs: number }): void {
  const fail = (error: unknown) => requestFailure(error);

  app.get<{ Params: { id: string } }>(
    '/jobs/:id',
    { schema: { params: idParam } },
    async (request, reply) => {
      try {
        return await jobView(server, await server.store.jobs.get(request.params.id));
      } catch (error) {
        const { status, body } = fail(error);
        return reply.code(status).send(body);
      }
    },
  );

  app.get<{ Params: { id: string }; Querystring: { after?: string; limit?: string } }>(
    '/jobs/:id/items',
    { schema: { params: idParam, querystring: pageQuery } },
    async (request, reply) => {
      try {
        await server.store.jobs.get(request.params.id);
        const items = await server.store.jobs.items(request.params.id, {
          ...(request.query.after === undefined ? {} : { after: Number(request.query.after) }),
          limit: Number(request.query.limit ?? 100),
        });
        const last = items[items.length - 1];
        return { items: items.map(itemView), ...(last ? { next: String(last.position) } : {}) };
      } catch (error) {
        const { status, body } = fail(error);
        return reply.code(status).send(body);
      }
    },
  );

  app.post<{ Params: { id: string; action: string } }>(
    '/jobs/:id/:action',
    {
      schema: {
        params: {
          type: 'object',
          required: ['id', 'action'],
          properties: { ...idParam.properties, action: { type: 'string', enum: Object.keys(CONTROL) } },
        },
      },
    },
    async (request, reply) => {
      const { from, to } = CONTROL[request.params.action]!;
      try {
        const job = await server.store.jobs.get(request.params.id);
        if (!(await server.store.jobs.setState(job.id, from, to, `${request.params.action} by the API`)))
          return reply
            .code(409)
            .send(errorBody('job_state', `the job is ${job.state}: it cannot ${request.params.action}`));
        await server.store.jobs.audit('api', request.params.action, job.id);
        return await jobView(server, await server.store.jobs.get(job.id));
      } catch (error) {
        const { status, body } = fail(error);
        return reply.code(status).send(body);
      }
    },
  );

  app.get<{ Params: { id: string } }>(
    '/jobs/:id/events',
    { schema: { params: idParam } },
    async (request, reply) => {
      let job: JobRecord;
      try {
        job = await server.store.jobs.get(request.params.id);
      } catch (error) {
        const { status, body } = fail(error);
        return reply.code(status).send(body);
      }
      reply.hijack();
      const out = reply.raw;
      out.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      let closed = false;
      request.raw.on('close', () => {
        closed = true;
      });
      let last = '';
      let beat = Date.now();
      while (!closed) {
        const view = JSON.stringify(await jobView(server, job).catch(() => undefined));
        if (view !== last) {
          out.write(`event: progress\ndata: ${view}\n\n`);
          last = view;
        } else if (Date.now() - beat > 15_000) {
          out.write(': still here\n\n');
          beat = Date.now();
        }
        if (FINAL_JOB_STATES.includes(job.state)) {
          out.write(`event: end\ndata: ${JSON.stringify({ state: job.state })}\n\n`);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, options.pollMs));
        job = await server.store.jobs.get(job.id).catch(() => job);
      }
      out.end();
    },
  );

  app.get<{ Params: { sim: string }; Querystring: { after?: string; limit?: string } }>(
    '/sims/:sim/ledger',
    {
      schema: {
        params: { type: 'object', properties: { sim: { type: 'string', pattern: '^\\+?[0-9]{1,20}$' } } },
        querystring: pageQuery,
      },
    },
    async (request, reply) => {
      try {
        const sim = await server.sim(request.params.sim);
        const attempts = await server.store.jobs.ledger(sim.iccid, {
          ...(request.query.after === undefined ? {} : { before: Number(request.query.after) }),
          limit: Number(request.query.limit ?? 100),
        });
        return {
          sim: sim.iccid,
          attempts: attempts.map((a) => ({
            id: a.id,
            job: a.jobId,
            step: a.step,
            attempt: a.attempt,
            transport: a.transport,
            state: a.state,
            tar: a.tar,
            kvn: a.kvn,
            counter: a.counter?.toString(),
            sms: a.smsCount,
            ...(a.porStatus === undefined ? {} : { porStatus: a.porStatus, porData: a.porData }),
            ...(a.error ? { error: a.error } : {}),
            createdAt: iso(a.createdAt),
            sentAt: iso(a.sentAt),
            finishedAt: iso(a.finishedAt),
            worker: a.worker,
          })),
        };
      } catch (error) {
        const { status, body } = fail(error);
        return reply.code(status).send(body);
      }
    },
  );
}
