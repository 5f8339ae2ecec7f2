// The OTA API refuses what it must, and sends nothing to the SMSC when it does: unauthenticated and
// wrong-token requests, oversized and malformed bodies, scripts that fan out to too many SMS, slow
// (slowloris) headers and bodies, and requests over the global or per-SIM rate limit.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { buildOtaApi, OtaApiConfigError, serveOtaApi } from '@iotsafe/ota';
import type { FastifyInstance } from 'fastify';
import { ICCID, MSISDN, type Rig, startRig } from './rig.js';

const TOKEN = 'test-token-4f1d9a0c2b7e';
const auth = { authorization: `Bearer ${TOKEN}` };
const SELECT = '00a40004022fe200b000000a';
const good = { to: ICCID, tar: 'B00000', script: SELECT };

let rig: Rig;
let served: Awaited<ReturnType<Rig['openServer']>>;
before(async () => {
  rig = await startRig();
  served = await rig.openServer({ server: { timeoutMs: 2000 } });
});
after(async () => {
  await served.close();
  await rig.stop();
});

const api = (options: Parameters<typeof buildOtaApi>[1] = {}) =>
  buildOtaApi(served.server, { tokens: [TOKEN], ...options });

/** A success ({counter, status…}) or an error ({error: {code, message}}). */
interface Reply {
  error?: { code: string; message: string };
  status?: number;
  [field: string]: unknown;
}

async function post(app: FastifyInstance, body: unknown, headers: Record<string, string> = auth) {
  const response = await app.inject({
    method: 'POST',
    url: '/send',
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: response.statusCode,
    headers: response.headers,
    json: response.json() as Reply,
  };
}

/** Runs `fn` and asserts the SMSC got no submit_sm meanwhile. */
async function nothingSent<T>(fn: () => Promise<T>): Promise<T> {
  const before = rig.network.submits.length + rig.network.refused.length;
  const result = await fn();
  assert.equal(rig.network.submits.length + rig.network.refused.length, before, 'nothing reached the SMSC');
  return result;
}

interface JobView {
  id: string;
  state: string;
  progress: { states: Record<string, number> };
  result?: { status?: number; counter?: string; attempts?: number; data?: string; outcome?: string };
}

/** Polls GET /jobs/:id until the job has ended. */
async function jobEnd(app: FastifyInstance, id: string): Promise<JobView> {
  for (let i = 0; i < 200; i++) {
    const r = await app.inject({ method: 'GET', url: `/jobs/${id}`, headers: auth });
    assert.equal(r.statusCode, 200, r.body);
    const view = r.json() as JobView;
    if (!['running', 'paused'].includes(view.state)) return view;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`job ${id} did not end`);
}

const isApiError = (json: Reply, code: string) =>
  typeof json.error?.message === 'string' && json.error.code === code;

describe('the OTA API: authentication', () => {
  test('no token, a wrong one, another scheme: 401 with WWW-Authenticate, nothing sent', async () => {
    const app = await api();
    await nothingSent(async () => {
      for (const headers of [
        {} as Record<string, string>,
        { authorization: 'Bearer wrong-token-000000000' },
        { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
        { authorization: `Bearer ${TOKEN}x` },
        { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
        { authorization: 'Bearer' },
      ]) {
        const r = await post(app, good, headers);
        assert.equal(r.status, 401, JSON.stringify(headers));
        assert.ok(isApiError(r.json, 'unauthorized'));
        assert.match(String(r.headers['www-authenticate']), /^Bearer realm=/);
        assert.ok(!JSON.stringify(r.json).includes(TOKEN), 'the token is never echoed');
      }
    });
    const ok = await post(app, good, { authorization: `bearer ${TOKEN}` });
    assert.equal(ok.status, 202, JSON.stringify(ok.json));
    const ended = await jobEnd(app, String(ok.json.job));
    assert.equal(ended.result?.status, 0, JSON.stringify(ended));
    for (const url of [`/jobs/${ok.json.job}`, `/jobs/${ok.json.job}/events`, `/sims/${ICCID}/ledger`]) {
      const refused = await app.inject({ method: 'GET', url });
      assert.equal(refused.statusCode, 401, url);
    }
    await app.close();
  });

  test('no token and no --insecure-no-auth, a short token, no-auth off loopback: refused to start', async () => {
    await assert.rejects(buildOtaApi(served.server), OtaApiConfigError);
    await assert.rejects(buildOtaApi(served.server, { tokens: ['short'] }), OtaApiConfigError);
    await assert.rejects(
      serveOtaApi(served.server, { insecureNoAuth: true, host: '0.0.0.0' }),
      OtaApiConfigError,
    );
    const open = await serveOtaApi(served.server, { insecureNoAuth: true, host: '127.0.0.1' });
    try {
      const r = await fetch(`${open.url}/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(good),
      });
      assert.equal(r.status, 202);
    } finally {
      await open.stop();
    }
  });

  test('the URL is the address bound', async () => {
    const any = await serveOtaApi(served.server, { tokens: [TOKEN], host: '0.0.0.0' });
    try {
      assert.equal(any.url, `http://0.0.0.0:${any.port}`);
    } finally {
      await any.stop();
    }
    const six = await serveOtaApi(served.server, { tokens: [TOKEN], host: '::1' }).catch(() => undefined);
    if (six) {
      assert.equal(six.url, `http://[::1]:${six.port}`);
      await six.stop();
    }
  });
});

describe('the OTA API: jobs', () => {
  test('POST /send answers 202 with a job; GET /jobs/:id gives the PoR; the ledger has the attempt', async () => {
    const app = await api({ rateLimit: { global: 1000, perSim: 1000 } });
    const r = await post(app, good);
    assert.equal(r.status, 202);
    assert.equal(r.headers.location, `/jobs/${r.json.job}`);
    const view = await jobEnd(app, String(r.json.job));
    assert.equal(view.state, 'completed');
    assert.equal(view.result?.outcome, 'ok');
    assert.equal(view.result?.attempts, 1);
    assert.match(view.result?.data ?? '', /^029000/i, 'two results, the last one 9000 (compact format)');
    const ledger = await app.inject({ method: 'GET', url: `/sims/${MSISDN}/ledger?limit=5`, headers: auth });
    const attempts = ledger.json().attempts as { job: string; state: string; counter: string; sms: number }[];
    const mine = attempts.find((a) => a.job === r.json.job);
    assert.equal(mine?.state, 'por');
    assert.equal(mine?.counter, view.result?.counter);
    assert.equal(mine?.sms, 1);
    await app.close();
  });

  test('server-sent events: progress until an end event; a job that has ended cannot be paused (409)', async () => {
    const open = await serveOtaApi(served.server, { tokens: [TOKEN], eventsPollMs: 20 });
    try {
      const sent = await fetch(`${open.url}/send`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify(good),
      });
      const { job } = (await sent.json()) as { job: string };
      const events = await fetch(`${open.url}/jobs/${job}/events`, { headers: auth });
      assert.equal(events.status, 200);
      assert.match(events.headers.get('content-type') ?? '', /^text\/event-stream/);
      const text = await events.text(); // the stream ends after its end event
      const names = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
      assert.equal(names[0], 'progress');
      assert.equal(names[names.length - 1], 'end');
      const progress = [...text.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!));
      assert.equal(progress[progress.length - 2].state, 'completed');
      assert.equal(progress[progress.length - 2].result.status, 0);
      const pause = await fetch(`${open.url}/jobs/${job}/pause`, { method: 'POST', headers: auth });
      assert.equal(pause.status, 409);
      const unknown = await fetch(`${open.url}/jobs/00000000-0000-4000-8000-000000000000`, { headers: auth });
      assert.equal(unknown.status, 404);
      const malformed = await fetch(`${open.url}/jobs/..%2f..`, { headers: auth });
      assert.equal(malformed.status, 400);
    } finally {
      await open.stop();
    }
  });
});

describe('the OTA API: malformed and oversized input', () => {
  test('every malformed body is a 4xx with a JSON error, and nothing is sent', async () => {
    const app = await api({ rateLimit: { global: 1000, perSim: 1000 } });
    const cases: [string, unknown, number, string][] = [
      ['null', 'null', 400, 'invalid_request'],
      ['an array', '[]', 400, 'invalid_request'],
      ['a string', '"send"', 400, 'invalid_request'],
      ['an empty object', {}, 400, 'invalid_request'],
      ['broken JSON', '{"to": ', 400, 'invalid_json'],
      ['empty body', '', 400, 'invalid_json'],
      ['a number for "to"', { ...good, to: 4917 }, 400, 'invalid_request'],
      ['a "+" alone', { ...good, to: '+' }, 400, 'invalid_request'],
      ['TAR of 2 bytes', { ...good, tar: 'B000' }, 400, 'invalid_request'],
      ['odd-length script', { ...good, script: '00a' }, 400, 'invalid_request'],
      ['empty script', { ...good, script: '' }, 400, 'invalid_request'],
      ['kvn as a string', { ...good, kvn: '1' }, 400, 'invalid_request'],
      ['kvn 1.5', { ...good, kvn: 1.5 }, 400, 'invalid_request'],
      ['kvn 16', { ...good, kvn: 16 }, 400, 'invalid_request'],
      ['SPI of 3 bytes', { ...good, spi: '161900' }, 400, 'invalid_request'],
      ['a reserved PoR mode in the SPI', { ...good, spi: '1603' }, 400, 'invalid_request'],
      ['an unknown field', { ...good, priority: 1 }, 400, 'invalid_request'],
      [
        'a __proto__ key',
        `{"to":"${ICCID}","tar":"B00000","script":"00","__proto__":{"x":1}}`,
        400,
        'invalid_json',
      ],
      ['an unknown SIM', { ...good, to: '4900000000' }, 404, 'unknown_sim'],
      ['a key set it does not have', { ...good, kvn: 9 }, 404, 'unknown_key_set'],
    ];
    await nothingSent(async () => {
      for (const [what, body, status, code] of cases) {
        const r = await post(app, body);
        assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json)}`);
        assert.ok(isApiError(r.json, code), `${what}: ${JSON.stringify(r.json)}`);
      }
      const text = await app.inject({
        method: 'POST',
        url: '/send',
        headers: { ...auth, 'content-type': 'text/plain' },
        payload: 'x',
      });
      assert.equal(text.statusCode, 415);
      assert.equal(text.json().error.code, 'unsupported_media_type');
      const other = await app.inject({ method: 'GET', url: '/keys', headers: auth });
      assert.equal(other.statusCode, 404);
      assert.equal(other.json().error.code, 'not_found');
    });
    await app.close();
  });

  test('a body over the limit: 413; a script over the SMS limit: 413 too_many_sms; nothing sent', async () => {
    const app = await api({ maxBodyBytes: 8192 });
    await nothingSent(async () => {
      const big = await post(app, { ...good, script: '00'.repeat(5000) });
      assert.equal(big.status, 413);
      assert.ok(isApiError(big.json, 'body_too_large'));
      // 17 SMS of RFM commands: under the body limit, over the default 16 SMS per script
      const many = await post(app, { ...good, script: '00d6000080'.concat('ab'.repeat(128)).repeat(17) });
      assert.equal(many.status, 413, JSON.stringify(many.json));
      assert.ok(isApiError(many.json, 'too_many_sms'));
      assert.match(many.json.error?.message ?? '', /needs \d+ SMS; the limit is 16/);
    });
    await app.close();
  });
});

describe('the OTA API: rate limits', () => {
  test('per SIM (by ICCID or MSISDN alike) and in all: 429 with Retry-After, nothing sent', async () => {
    const app = await api({ rateLimit: { perSim: 2, global: 4, windowMs: 60_000 } });
    const first = await post(app, good);
    const second = await post(app, { ...good, to: MSISDN });
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    await jobEnd(app, String(first.json.job));
    await jobEnd(app, String(second.json.job));
    const third = await nothingSent(() => post(app, good));
    assert.equal(third.status, 429);
    assert.ok(isApiError(third.json, 'rate_limited'));
    assert.ok(Number(third.headers['retry-after']) >= 1);
    const other = await nothingSent(() => post(app, { ...good, to: '4900000000' }));
    assert.equal(other.status, 404, `another SIM has its own budget: ${JSON.stringify(other.json)}`);
    const fifth = await nothingSent(() => post(app, { ...good, to: '4900000001' }));
    assert.equal(fifth.status, 429, 'the global budget (4) is spent');
    assert.match(fifth.json.error?.message ?? '', /in all/);
    await app.close();
  });
});

describe('the OTA API: slow clients', () => {
  let open: Awaited<ReturnType<typeof serveOtaApi>>;
  before(async () => {
    open = await serveOtaApi(served.server, {
      tokens: [TOKEN],
      headersTimeoutMs: 300,
      requestTimeoutMs: 600,
    });
  });
  after(() => open.stop());

  /** Writes `chunks` one every 100 ms; resolves with what the server answered when it hung up. */
  const trickle = (chunks: string[]) =>
    new Promise<{ answer: string; ms: number }>((resolve) => {
      const socket = connect(open.port, '127.0.0.1');
      const started = Date.now();
      let answer = '';
      let at = 0;
      const timer = setInterval(() => {
        if (at < chunks.length && socket.writable) socket.write(chunks[at++]!);
      }, 100);
      socket.on('data', (d) => {
        answer += d;
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        clearInterval(timer);
        resolve({ answer, ms: Date.now() - started });
      });
    });

  test('an oversized body over a real connection: 413, not a reset, whether its length is declared or not', async () => {
    const body = JSON.stringify({ ...good, script: '00'.repeat(20_000) });
    const declared = await fetch(`${open.url}/send`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body,
    });
    assert.equal(declared.status, 413);
    assert.equal(((await declared.json()) as { error: { code: string } }).error.code, 'body_too_large');
    const chunked = await fetch(`${open.url}/send`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: new Blob([body]).stream(),
      duplex: 'half',
    } as RequestInit);
    assert.equal(chunked.status, 413);
  });

  test('headers sent a byte at a time (slowloris): 408 and the connection closed', async () => {
    const headers = `POST /send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nX-Slow: ${'a'.repeat(200)}`;
    const { answer } = await nothingSent(() => trickle([...headers]));
    assert.match(answer, /^HTTP\/1\.1 408/);
  });

  test('a body that never finishes: 408 and the connection closed', async () => {
    const head = `POST /send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n`;
    const { answer } = await nothingSent(() => trickle([head, ...'{"to": "'.split(''), ...'1'.repeat(100)]));
    assert.match(answer, /^HTTP\/1\.1 408/);
  });
});
