// The fleet API over a virtual fleet of 12 SIMs: tokens stored hashed with roles (a viewer reads but
// cannot start a campaign: 403; an operator cannot manage tokens; a revoked token is refused), the
// inventory (filters, pagination, a SIM shown without any key), the vendor import endpoint, campaigns
// (create, dry-run, start, pause, resume, cancel, status) run to the end through the local SMSC,
// malformed and oversized input, /metrics, the OpenAPI document and the public dashboard page.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildOtaApi, OtaServer, OtaStore, SmppLink } from '@iotsafe/ota';
import { bytesToHex } from '@iotsafe/protocol';
import type { FastifyInstance } from 'fastify';
import { type Fleet, fleetIccid, startFleet } from './fleet-rig.js';
import { CREDENTIALS, STORAGE_KEY } from './rig.js';

const ADMIN = 'fleet-admin-token-0123456789';
let fleet: Fleet;
let store: OtaStore;
let link: SmppLink;
let server: OtaServer;
let app: FastifyInstance;

before(async () => {
  fleet = await startFleet(12);
  store = await OtaStore.open(':memory:', STORAGE_KEY);
  await fleet.populate(store, (i) => (i % 2 ? ['odd'] : ['even']));
  link = await SmppLink.connect({ host: '127.0.0.1', port: fleet.network.port, ...CREDENTIALS });
  server = new OtaServer(store, link, { timeoutMs: 2000, worker: { idleMs: 10, sweepMs: 50 } });
  app = await buildOtaApi(server, {
    tokens: [ADMIN],
    eventsPollMs: 20,
    fleet: { tps: 10, maxImportBytes: 4096 },
  });
});
after(async () => {
  await app.close();
  await server.close();
  await link.close();
  await store.close();
  await fleet.stop();
});

type Json = Record<string, unknown> & { error?: { code: string; message: string } };
async function call(
  method: string,
  url: string,
  token: string | undefined,
  body?: unknown,
  type = 'application/json',
) {
  const response = await app.inject({
    method: method as 'GET',
    url,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': type }),
    },
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const json = String(response.headers['content-type'] ?? '').includes('json')
    ? (response.json() as Json)
    : {};
  return { status: response.statusCode, json, text: response.body, headers: response.headers };
}

const tokenOf = async (name: string, role: string) => {
  const made = await call('POST', '/tokens', ADMIN, { name, role });
  assert.equal(made.status, 201);
  return made.json.token as string;
};
const campaignBody = (select: unknown) => ({
  name: 'select file',
  select,
  steps: [{ tar: 'B00000', script: '00a40004022fe2' }],
  retry: { noPor: 0 },
  porTimeoutMs: 1500,
});

async function finished(id: string): Promise<Json> {
  for (let i = 0; i < 400; i++) {
    const { json } = await call('GET', `/campaigns/${id}`, ADMIN);
    const job = json.job as { state: string } | undefined;
    if (job && ['completed', 'cancelled', 'aborted', 'expired'].includes(job.state)) return json;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the campaign did not end');
}

describe('fleet API: tokens and roles', () => {
  test('tokens are stored as SHA-256 only; viewer reads, cannot start or create (403); operator cannot manage tokens', async () => {
    const viewer = await tokenOf('dash', 'viewer');
    const operator = await tokenOf('ops', 'operator');
    const rows = await store.engine.query<Record<string, unknown>>('SELECT * FROM api_tokens');
    const everything = JSON.stringify(rows);
    assert.ok(!everything.includes(viewer) && !everything.includes(operator), 'no token in clear');
    assert.equal((await call('GET', '/sims', viewer)).status, 200);
    const created = await call('POST', '/campaigns', operator, campaignBody({ tags: ['even'] }));
    assert.equal(created.status, 201);
    const start = await call('POST', `/campaigns/${created.json.id}/start`, viewer);
    assert.equal(start.status, 403);
    assert.equal(start.json.error?.code, 'forbidden');
    assert.equal((await call('POST', '/campaigns', viewer, campaignBody({ tags: ['even'] }))).status, 403);
    assert.equal(
      (await call('POST', '/send', viewer, { to: fleetIccid(0), tar: 'B00000', script: '00' })).status,
      403,
    );
    assert.equal((await call('GET', '/tokens', operator)).status, 403);
    assert.equal((await call('POST', `/campaigns/${created.json.id}/cancel`, operator)).status, 200);
    const listed = await call('GET', '/tokens', ADMIN);
    const id = (listed.json.tokens as { id: string; name: string }[]).find((t) => t.name === 'dash')!.id;
    assert.equal((await call('DELETE', `/tokens/${id}`, ADMIN)).status, 204);
    assert.equal((await call('GET', '/sims', viewer)).status, 401);
    assert.equal((await call('GET', '/sims', undefined)).status, 401);
    assert.equal((await call('GET', '/metrics', undefined)).status, 401);
    assert.equal((await call('POST', '/tokens', ADMIN, { name: 'x', role: 'root' })).status, 400);
  });
});

describe('fleet API: inventory and import', () => {
  test('list with filters and keyset pagination; a SIM with key sets, PSK flag and audit, never a key', async () => {
    const page = await call('GET', '/sims?tag=odd&limit=4', ADMIN);
    assert.equal(page.json.total, 6);
    assert.equal((page.json.sims as unknown[]).length, 4);
    const rest = await call('GET', `/sims?tag=odd&limit=4&after=${page.json.next}`, ADMIN);
    assert.equal((rest.json.sims as unknown[]).length, 2);
    assert.equal(rest.json.next, undefined);
    await store.sims.putPsk(fleetIccid(3), new Uint8Array(16).fill(0xab));
    await store.sims.recordAudit(fleetIccid(3), {
      auditedAt: Date.parse('2026-11-30T10:00:00Z'),
      objects: [{ label: 'device-cert', type: 'certificate' }],
      certificate: { serial: '1f2e', notAfter: Date.parse('2027-06-01T00:00:00Z') },
    });
    const shown = await call('GET', `/sims/${fleetIccid(3)}`, ADMIN);
    assert.equal(shown.status, 200);
    assert.equal(shown.json.psk, true);
    assert.deepEqual((shown.json.audit as Json).certificate, {
      serial: '1f2e',
      notAfter: '2027-06-01T00:00:00.000Z',
    });
    assert.deepEqual(shown.json.keySets, [{ kvn: 1, kic: '12', kid: '12', counter: '0', kik: false }]);
    const keys = fleet.sims[3]!.keys;
    for (const secret of [keys.kic, keys.kid, new Uint8Array(16).fill(0xab)])
      assert.ok(!shown.text.toLowerCase().includes(bytesToHex(secret).toLowerCase()));
    assert.equal((await call('GET', '/sims?limit=abc', ADMIN)).status, 400);
    assert.equal((await call('GET', '/sims/12x', ADMIN)).status, 400);
    assert.equal((await call('GET', '/sims/89882110000000009999', ADMIN)).status, 404);
  });

  test('POST /sims/import: a report; encrypted without a transport key 400; JSON 415; oversized 413', async () => {
    const csv = `iccid,msisdn,batch,kvn,kic,kid\n894900000000000001,4930000001,vendor-7,1,${'11'.repeat(16)},${'22'.repeat(16)}\n1,,,,,\n`;
    const report = await call('POST', '/sims/import', ADMIN, csv, 'text/csv');
    assert.equal(report.status, 200);
    assert.equal(report.json.imported, 1);
    assert.deepEqual(
      (report.json.rejected as { line: number }[]).map((r) => r.line),
      [3],
    );
    assert.equal((await call('POST', '/sims/import?atomic=true', ADMIN, csv, 'text/csv')).status, 422);
    assert.equal(
      (await call('POST', '/sims/import?encrypted=true', ADMIN, csv, 'text/csv')).json.error?.code,
      'no_transport_key',
    );
    assert.equal((await call('POST', '/sims/import', ADMIN, { csv })).status, 415);
    assert.equal(
      (await call('POST', '/sims/import', ADMIN, `iccid\n${'8'.repeat(19)}\n`.repeat(300), 'text/csv'))
        .status,
      413,
    );
    assert.equal(
      (await call('POST', '/sims/import', ADMIN, 'iccid,"x\n', 'text/csv')).json.error?.code,
      'invalid_file',
    );
  });
});

describe('fleet API: campaigns', () => {
  test('create, dry-run (nothing sent), start, run to the end through the SMSC; start twice 409', async () => {
    const created = await call('POST', '/campaigns', ADMIN, {
      ...campaignBody({ tags: ['even'] }),
      rollout: { waves: { initial: 2, factor: 2 } },
    });
    assert.equal(created.status, 201);
    assert.equal(created.json.state, 'draft');
    const sent = fleet.network.submits.length;
    const dry = await call('POST', `/campaigns/${created.json.id}/dry-run`, ADMIN);
    assert.equal(dry.status, 200);
    assert.deepEqual([dry.json.sims, dry.json.sms, dry.json.waves, dry.json.expectedSeconds], [6, 6, 2, 1]);
    assert.equal(fleet.network.submits.length, sent, 'a dry run sends nothing');
    assert.equal(await store.sims.counter(fleetIccid(0), 1), 0n, 'and takes no counter');
    const started = await call('POST', `/campaigns/${created.json.id}/start`, ADMIN);
    assert.equal(started.status, 200);
    assert.equal(started.json.state, 'started');
    assert.equal((await call('POST', `/campaigns/${created.json.id}/start`, ADMIN)).status, 409);
    const done = await finished(created.json.id as string);
    const job = done.job as { state: string; progress: { states: Record<string, number> } };
    assert.equal(job.state, 'completed');
    assert.equal(job.progress.states.done, 6);
    assert.equal(fleet.network.submits.length - sent, 6, 'one SMS per SIM');
    const chart = await call('GET', '/stats/outcomes?bucket=60', ADMIN);
    assert.ok((chart.json.buckets as { ok: number }[]).reduce((n, b) => n + b.ok, 0) >= 6);
    const metrics = await call('GET', '/metrics', ADMIN);
    assert.match(metrics.text, /iotsafe_job_items\{state="done"\} \d+/);
    assert.match(metrics.text, /iotsafe_sims \d+/);
  });

  test('pause, resume, cancel; a draft cannot pause; bad bodies 400; unknown campaign 404', async () => {
    const created = await call('POST', '/campaigns', ADMIN, {
      ...campaignBody({ tags: ['odd'] }),
      rollout: { waves: { initial: 1, factor: 1 } },
    });
    const id = created.json.id as string;
    assert.equal((await call('POST', `/campaigns/${id}/pause`, ADMIN)).status, 409);
    await call('POST', `/campaigns/${id}/start`, ADMIN);
    const paused = await call('POST', `/campaigns/${id}/pause`, ADMIN);
    assert.equal((paused.json.job as Json).state, 'paused');
    assert.equal(((await call('POST', `/campaigns/${id}/resume`, ADMIN)).json.job as Json).state, 'running');
    assert.equal(
      ((await call('POST', `/campaigns/${id}/cancel`, ADMIN)).json.job as Json).state,
      'cancelled',
    );
    for (const bad of [
      { ...campaignBody({ tags: ['odd'] }), steps: [] },
      { ...campaignBody({}), name: 'x' },
      { ...campaignBody({ tags: ['odd'] }), rollout: { abort: { failureRatio: 2 } } },
      { ...campaignBody({ tags: ['odd'] }), extra: 1 },
      { ...campaignBody({ certExpiresBefore: 'soon' }) },
    ]) {
      const refused = await call('POST', '/campaigns', ADMIN, bad);
      assert.equal(refused.status, 400, JSON.stringify(bad));
      assert.ok(refused.json.error?.message);
    }
    assert.equal((await call('POST', '/campaigns', ADMIN, '{"name":')).status, 400);
    assert.equal((await call('GET', '/campaigns/00000000-0000-0000-0000-000000000000', ADMIN)).status, 404);
  });
});

describe('fleet API: documents', () => {
  test('OpenAPI document (authenticated); the dashboard page public with a CSP', async () => {
    const doc = await call('GET', '/openapi.json', ADMIN);
    assert.equal(doc.status, 200);
    const paths = Object.keys(doc.json.paths as object);
    for (const path of [
      '/send',
      '/sims',
      '/sims/import',
      '/campaigns',
      '/campaigns/{id}/dry-run',
      '/tokens',
      '/jobs/{id}',
    ])
      assert.ok(paths.includes(path), path);
    const page = await call('GET', '/dashboard', undefined);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /script-src 'sha256-/);
    assert.match(page.text, /IoT SAFE fleet/);
  });
});
