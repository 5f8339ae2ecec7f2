// `iotsafe coap get|put|post|delete|observe` against libcoap's coap-server (Debian libcoap3-bin) on
// 127.0.0.1, run as a user runs it: text and --json output (validated against docs/json.md), block-wise
// transfers, observe until --count and until SIGINT, --trace with retransmissions against a silent
// peer, and the usage errors (DTLS flags on coap://, a PSK and a key at once, bad formats). coaps:// is
// tested in coaps.test.ts.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, runCliAsync, startCli } from '../../../test/helpers/cli.js';
import { type LibcoapServer, libcoapAvailable, startLibcoapServer } from '../../../test/helpers/libcoap.js';
import { checkJson } from './json-schemas.js';

const available = libcoapAvailable();
const skip = available === true ? false : available;
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-coap-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface ResponseJson {
  code: string;
  status: string;
  contentFormat: string | number | null;
  options: string[];
  payload?: string;
  payloadHex?: string;
  messages: number;
}

describe('iotsafe coap against libcoap coap-server', { skip }, () => {
  let server: LibcoapServer;
  let base: string;
  before(async () => {
    server = await startLibcoapServer(['-d', '10']);
    base = `coap://127.0.0.1:${server.port}`;
  });
  after(() => server?.stop());

  test('GET: the payload on stdout, the status on stderr; a block-wise GET in 256-byte blocks as JSON', async () => {
    const time = await runCliAsync(['coap', 'get', `${base}/time`]);
    assert.equal(time.code, 0, time.stderr);
    assert.match(time.stdout, /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d\n$/);
    assert.match(time.stderr, /2\.05 Content/);
    const r = await runCliAsync([
      '--json',
      '--trace',
      'coap',
      'get',
      `${base}/example_data`,
      '--block-size',
      '256',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const body = checkJson('coap get', r.stdout) as ResponseJson;
    assert.equal(body.code, '2.05');
    assert.equal(body.payload?.length, 1500);
    assert.equal(body.messages, 6); // 1,500 bytes in 256-byte blocks
    assert.equal((r.stderr.match(/^-> CON 0\.01 GET .*Block2:\d+\/0\/256/gm) ?? []).length, 6);
    assert.doesNotMatch(r.stderr, /a123456789/, 'the trace shows sizes, not payloads');
  });

  test('PUT from a file with a Content-Format by name, GET it back as JSON, POST, DELETE', async () => {
    const file = join(dir, 'reading.json');
    writeFileSync(file, JSON.stringify({ temperature: 21.5 }));
    const put = await runCliAsync([
      'coap',
      'put',
      `${base}/readings`,
      '--payload-file',
      file,
      '--content-format',
      'json',
    ]);
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stderr, /2\.01 Created/);
    const got = await runCliAsync(['--json', 'coap', 'get', `${base}/readings`]);
    const body = checkJson('coap get', got.stdout) as ResponseJson;
    assert.equal(body.contentFormat, 'application/json');
    assert.deepEqual(JSON.parse(body.payload!), { temperature: 21.5 });
    const out = join(dir, 'out.json');
    const saved = await runCliAsync(['coap', 'get', `${base}/readings`, '--out', out]);
    assert.equal(saved.code, 0, saved.stderr);
    assert.equal(readFileSync(out, 'utf8'), JSON.stringify({ temperature: 21.5 }));
    const post = await runCliAsync([
      '--json',
      'coap',
      'post',
      `${base}/readings`,
      '--payload',
      '22.0',
      '--content-format',
      '0',
    ]);
    assert.equal(post.code, 0, post.stdout);
    checkJson('coap post', post.stdout);
    const del = await runCliAsync(['--json', 'coap', 'delete', `${base}/readings`]);
    assert.equal((checkJson('coap delete', del.stdout) as ResponseJson).code, '2.02');
    const gone = await runCliAsync(['--json', 'coap', 'get', `${base}/readings`]);
    assert.equal(gone.code, 1, 'a 4.04 exits 1, its response printed');
    assert.equal((checkJson('coap get', gone.stdout) as ResponseJson).code, '4.04');
  });

  test('observe: --count 2 as JSON, deregistered at the end', async () => {
    const r = await runCliAsync(['--json', 'coap', 'observe', `${base}/time`, '--count', '2']);
    assert.equal(r.code, 0, r.stderr);
    const result = checkJson('coap observe', r.stdout) as { notifications: ResponseJson[]; ended: string };
    assert.equal(result.ended, 'count');
    assert.equal(result.notifications.length, 2);
    for (const n of result.notifications) assert.ok(n.options.some((o) => o.startsWith('Observe:')));
  });

  test('observe until SIGINT: each notification as it comes, then a clean exit', async () => {
    const observing = await startCli(
      ['coap', 'observe', `${base}/time`],
      {},
      /\(observe \d+\)\n[^\n]+\n[\s\S]*\(observe \d+\)/,
    );
    assert.equal(await observing.signal('SIGINT'), 0, observing.output());
    assert.ok(observing.stdout().split('\n').length >= 3, observing.output());
    assert.match(observing.output(), /2\.05 Content \(observe \d+\)/);
  });
});

describe('iotsafe coap without a server', () => {
  test('a silent peer: --trace shows the retransmissions, then a timeout error (exit 1)', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    const { port } = silent.address();
    try {
      const r = await runCliAsync([
        '--json',
        '--trace',
        'coap',
        'get',
        `coap://127.0.0.1:${port}/x`,
        '--timeout',
        '4500',
      ]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const error = (checkJson('error', r.stdout) as { error: { code: string; message: string } }).error;
      assert.equal(error.code, 'timeout');
      assert.match(error.message, /within 4500 ms/);
      assert.match(r.stderr, /^-> CON 0\.01 GET .*Uri-Path:"x"/m);
      assert.match(r.stderr, /retransmission 1: CON 0\.01 GET/);
      assert.match(r.stderr, /… waiting for 127\.0\.0\.1:\d+ to answer GET \/x \(\d+ s\)/, 'a progress line');
    } finally {
      silent.close();
    }
  });

  test('usage errors name what to do', () => {
    const cases: [string[], RegExp][] = [
      [
        [
          'coap',
          'get',
          'coaps://127.0.0.1:5684/x',
          '--psk-label',
          'psk',
          '--key-id',
          '01',
          '--psk-identity',
          'i',
        ],
        /a PSK .* or a key and certificate .*, not both/,
      ],
      [
        ['coap', 'get', 'coaps://127.0.0.1:5684/x', '--psk-label', 'psk'],
        /both --psk-label .* and --psk-identity/,
      ],
      [['coap', 'get', 'coap://127.0.0.1:5683/x', '--psk-label', 'psk'], /--psk-label: for coaps:\/\/ only/],
      [
        ['coap', 'put', 'coap://127.0.0.1:5683/x', '--payload', 'a', '--content-format', 'nonsense'],
        /unknown content format/,
      ],
      [['coap', 'get', 'coap://127.0.0.1:5683/x', '--block-size', '100'], /--block-size takes 16/],
      [['coap', 'put', 'coap://127.0.0.1:5683/x', '--payload', 'a', '--payload-file', 'f'], /not both/],
      [['coap', 'get', 'http://127.0.0.1/x'], /coap:\/\/HOST:PORT/],
    ];
    for (const [args, message] of cases) {
      const r = runCli(['--json', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}`);
      assert.match((checkJson('error', r.stdout) as { error: { message: string } }).error.message, message);
    }
  });
});
