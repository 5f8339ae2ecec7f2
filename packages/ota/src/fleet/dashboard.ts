// GET /dashboard: the fleet dashboard's page. It is public (it holds no data: every figure on it is
// fetched with the token the user enters) and sent with a strict Content-Security-Policy.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { DASHBOARD_HTML } from './dashboard-page.js';

export function dashboardRoutes(app: FastifyInstance): void {
  const script = /<script>([\s\S]*?)<\/script>/.exec(DASHBOARD_HTML)?.[1] ?? '';
  const hash = createHash('sha256').update(script).digest('base64');
  const csp = `default-src 'none'; script-src 'sha256-${hash}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'`;
  const page = async (_request: unknown, reply: FastifyReply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', csp)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .send(DASHBOARD_HTML);
  app.get('/dashboard', { schema: { hide: true }, config: { public: true } }, page);
  // browsers ask for it with every page: no icon, rather than a 401 in the page's console
  app.get('/favicon.ico', { schema: { hide: true }, config: { public: true } }, async (_request, reply) =>
    reply.code(204).header('cache-control', 'max-age=86400').send(),
  );
  app.get('/', { schema: { hide: true }, config: { public: true } }, async (_request, reply) =>
    reply.redirect('/dashboard'),
  );
}
