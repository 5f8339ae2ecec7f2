// Prometheus metrics of the OTA/fleet API (prom-client, a registry per server): requests by route
// and status, and, read from the store at each scrape, SIMs, jobs per state, job items per state and
// outcome, attempts per state. GET /metrics needs a token like every other route (viewer role).
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { OtaStore } from '../storage/store.js';

export function metricsRoutes(app: FastifyInstance, store: OtaStore): Registry {
  const registry = new Registry();
  const requests = new Counter({
    name: 'iotsafe_api_requests_total',
    help: 'API requests answered, by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'iotsafe_api_request_seconds',
    help: 'API request latency',
    labelNames: ['route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const counted = (name: string, help: string, sql: string, label?: string) =>
    new Gauge({
      name,
      help,
      labelNames: label ? [label] : [],
      registers: [registry],
      async collect() {
        this.reset();
        const rows = await store.engine.query<{ k: string | null; n: number }>(sql);
        for (const row of rows)
          if (label) this.set({ [label]: row.k ?? 'none' }, Number(row.n));
          else this.set(Number(row.n));
      },
    });
  counted('iotsafe_sims', 'SIMs in the inventory', 'SELECT NULL AS k, COUNT(*) AS n FROM sims');
  counted(
    'iotsafe_jobs',
    'jobs by state',
    'SELECT state AS k, COUNT(*) AS n FROM jobs GROUP BY state',
    'state',
  );
  counted(
    'iotsafe_job_items',
    'job items by state',
    'SELECT state AS k, COUNT(*) AS n FROM job_items GROUP BY state',
    'state',
  );
  counted(
    'iotsafe_job_item_outcomes',
    'ended job items by outcome',
    'SELECT outcome AS k, COUNT(*) AS n FROM job_items WHERE outcome IS NOT NULL GROUP BY outcome',
    'outcome',
  );
  counted(
    'iotsafe_attempts',
    'attempts (SMS sent with their counters) by state',
    'SELECT state AS k, COUNT(*) AS n FROM attempts GROUP BY state',
    'state',
  );
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    latency.observe({ route }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { config: { role: 'viewer' } }, async (_request, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
  return registry;
}
