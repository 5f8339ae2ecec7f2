// SCP81 codecs: the Administration Session Triggering Parameters (GP Amd B Table 3-3) against pySim's
// and OTAMan's vectors, and the HTTP messages of the admin dialog against the 2019 reference trace
// (test/fixtures/scp80-vectors.json: scp81-trigger-tlvs, scp81-reference-http-session).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ADMIN_PROTOCOL,
  bytesToHex,
  decodeAdminTrigger,
  encodeAdminRequest,
  encodeAdminResponse,
  encodeAdminTrigger,
  encodeTimerValue,
  FormatError,
  formatTargetedApplication,
  fromUtf8,
  HttpFormatError,
  hexToBytes,
  parseHttpRequest,
  parseHttpResponse,
  parseTargetedApplication,
  utf8,
} from '@iotsafe/protocol';
import { scp80Expected } from '../../../test/helpers/vectors.js';

const h = hexToBytes;
const hex = (b: Uint8Array) => bytesToHex(b).toLowerCase();
const trigger = scp80Expected('scp81-trigger-tlvs');
const dialog = scp80Expected<{ steps: { headers?: Record<string, string>; body?: string }[] }>(
  'scp81-reference-http-session',
).steps;

/** A trigger around one session TLV, as the vectors give them on their own. */
const around = (tlv: string) => {
  const inner = h(tlv);
  return new Uint8Array([0x81, inner.length + 2, 0x83, inner.length, ...inner]);
};

describe('admin session triggering parameters', () => {
  test("OTAMan's full trigger: connection, security (no identity: KVN 01 KID 01), retry, empty HTTP fields", () => {
    const t = decodeAdminTrigger(h(trigger.otaman_full_trigger_81!.hex), 'bcd');
    assert.equal(hex(t.connection!), '02028182');
    assert.deepEqual(
      { ...t.security, pskIdentity: [...t.security!.pskIdentity] },
      {
        pskIdentity: [],
        keyVersion: 1,
        keyId: 1,
      },
    );
    assert.equal(t.retry!.counter, 0xb000);
    assert.deepEqual(t.retry!.delay, { hours: 1, minutes: 2, seconds: 3 });
    assert.deepEqual(t.http, {}, 'empty 8A/8B/8C: the SD keeps its own');
  });
  test("pySim's 85 (identity DEADBEEF, KVN 00, KID 40) and OTAMan's 85, 86 and 89", () => {
    const pysim = decodeAdminTrigger(around(trigger.security_params_85!.hex)).security!;
    assert.equal(hex(pysim.pskIdentity), 'deadbeef');
    assert.deepEqual([pysim.keyVersion, pysim.keyId], [0x00, 0x40]);
    const security = decodeAdminTrigger(around(trigger.otaman_security_85!.hex)).security!;
    assert.equal(fromUtf8(security.pskIdentity), 'Test123');
    assert.deepEqual([security.keyVersion, security.keyId], [1, 1]);
    const retry = decodeAdminTrigger(around(trigger.otaman_retry_86!.hex), 'swapped-bcd').retry!;
    assert.deepEqual(retry.delay, { hours: 10, minutes: 20, seconds: 30 }, 'swapped nibbles: 01 → 10');
    assert.deepEqual(decodeAdminTrigger(around(trigger.otaman_http_post_89!.hex)).http, {
      host: 'megafon.ru',
      agentId: 'v1.0',
      uri: '/sd',
    });
  });
  test('81 00 is "use the stored parameters" both ways; a full trigger reads back', () => {
    assert.equal(hex(encodeAdminTrigger()), '8100');
    assert.deepEqual(decodeAdminTrigger(h('8100')), {});
    const full = {
      connection: h('3503030000'),
      security: { pskIdentity: utf8('8944000000000000001'), keyVersion: 0x40, keyId: 0x01 },
      retry: { counter: 3, delay: { hours: 0, minutes: 10, seconds: 0 } },
      http: { host: 'admin.example', agentId: '//se-id/iccid/8944', uri: '/ram?sim=1' },
    };
    assert.deepEqual(decodeAdminTrigger(encodeAdminTrigger(full)), full);
    assert.equal(hex(encodeTimerValue({ hours: 0, minutes: 10, seconds: 0 }, 'bcd')), '2503001000');
    assert.equal(hex(encodeTimerValue({ hours: 0, minutes: 10, seconds: 0 }, 'swapped-bcd')), '2503000100');
  });
  test('malformed triggers are FormatErrors', () => {
    for (const bad of [
      '8200',
      '8101',
      '810583038500ff',
      '8107830586050000250301',
      '8104830289',
      '810b830989078a05616263640a',
    ]) {
      assert.throws(() => decodeAdminTrigger(h(bad)), FormatError, bad);
    }
  });
});

describe('the admin dialog over HTTP/1.1', () => {
  test('the card POST of the reference trace: X-Admin-* headers, the result chunked as one chunk', () => {
    const post = encodeAdminRequest({
      uri: '/Download?req=1',
      host: 'admin.host',
      agentId: '//se-id/eid/89049032;//aa-id/aid/A000000151/000000',
      scriptStatus: 'ok',
      body: h(dialog[2]!.body!),
    });
    const head =
      'POST /Download?req=1 HTTP/1.1\r\nHost: admin.host\r\n' +
      `X-Admin-Protocol: ${ADMIN_PROTOCOL}\r\n` +
      'X-Admin-From: //se-id/eid/89049032;//aa-id/aid/A000000151/000000\r\n' +
      'X-Admin-Script-Status: ok\r\n' +
      'Content-Type: application/vnd.globalplatform.card-content-mgt-response;version=1.0\r\n' +
      'Transfer-Encoding: chunked\r\n\r\n8\r\n';
    // the reference trace's chunked body: 8\r\n<af80 2302 6a88 0000>\r\n0\r\n\r\n
    assert.equal(
      hex(post),
      hex(new Uint8Array([...utf8(head), ...h('af8023026a880000'), ...utf8('\r\n0\r\n\r\n')])),
    );
    const resume = fromUtf8(encodeAdminRequest({ uri: '/a?b', host: 'h', resume: true }));
    assert.match(resume, /X-Admin-Resume: true\r\nContent-Length: 0\r\n\r\n$/);
    assert.throws(() => encodeAdminRequest({ uri: '/a b', host: 'h' }), HttpFormatError);
    assert.throws(() => encodeAdminRequest({ uri: '/a\r\nX: y', host: 'h' }), HttpFormatError);
  });
  test("the reference server's answers: 200 with Content-Length, then 204", () => {
    const step = dialog[1]!;
    const head = Object.entries({ ...step.headers })
      .map(([k, v]) => `${k}: ${v}`)
      .join('\r\n');
    const wire = new Uint8Array([...utf8(`HTTP/1.1 200 OK\r\n${head}\r\n\r\n`), ...h(step.body!)]);
    const parsed = parseHttpResponse(wire)!;
    assert.equal(parsed.consumed, wire.length);
    assert.equal(parsed.response.status, 200);
    assert.equal(parsed.response.headers.get('x-admin-next-uri'), '/Download?req=1');
    assert.equal(hex(parsed.response.body), 'ae80220580ca0085000000');
    const end = parseHttpResponse(
      utf8(`HTTP/1.1 204 No Content\r\nX-Admin-Protocol: ${ADMIN_PROTOCOL}\r\n\r\n`),
    )!;
    assert.equal(end.response.status, 204);
    assert.equal(end.response.body.length, 0);
  });
  test('chunked with extensions and trailers, bare LF, 100 Continue first, a body to the close; byte by byte too', () => {
    const cases: [string, string][] = [
      [
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n',
        'abcde',
      ],
      ['HTTP/1.1 200 OK\nContent-Length: 2\n\nok', 'ok'],
      ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx', 'x'],
    ];
    for (const [text, body] of cases) {
      const wire = utf8(text);
      assert.equal(fromUtf8(parseHttpResponse(wire)!.response.body), body);
      for (let cut = 0; cut < wire.length; cut++)
        assert.equal(parseHttpResponse(wire.subarray(0, cut)), undefined);
    }
    const close = utf8('HTTP/1.1 200 OK\r\n\r\nto the end');
    assert.equal(parseHttpResponse(close), undefined);
    assert.equal(fromUtf8(parseHttpResponse(close, true)!.response.body), 'to the end');
    const two = utf8('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 204 No Content\r\n\r\n');
    const first = parseHttpResponse(two)!;
    assert.equal(parseHttpResponse(two.subarray(first.consumed))!.response.status, 204);
  });
  test('malformed, ambiguous and oversized responses are HttpFormatErrors', () => {
    const bad = [
      'HTTP/2 200 OK\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nab',
      'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n',
      'HTTP/1.1 200 OK\r\n Folded: yes\r\n\r\n',
      'HTTP/1.1 200 OK\r\nNo colon\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc',
      'HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n',
      `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(9000)}\r\n\r\n`,
    ];
    for (const text of bad)
      assert.throws(() => parseHttpResponse(utf8(text)), HttpFormatError, JSON.stringify(text.slice(0, 40)));
    assert.throws(
      () => parseHttpResponse(utf8('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab'), true),
      HttpFormatError,
    );
  });
  test('X-Admin-Targeted-Application: //aid/<RID>/<PIX>', () => {
    assert.equal(hex(parseTargetedApplication('//aid/A000000151/000000')), 'a000000151000000');
    assert.equal(formatTargetedApplication(h('A0000005590010')), '//aid/A000000559/0010');
    for (const bad of ['//aid/A0000001/51', 'aid/A000000151/00', '//aid/A000000151/0', '//aid/A00000015G/00'])
      assert.throws(() => parseTargetedApplication(bad), HttpFormatError, bad);
  });
});

describe("the admin server's side: the card's requests read, bounded; its answers", () => {
  test('the reference POST read back (chunked result, status, headers), and the first POST without a body', () => {
    const post = encodeAdminRequest({
      uri: '/Download?req=1',
      host: 'admin.host',
      agentId: '//se-id/eid/89049032',
      scriptStatus: 'ok',
      body: h(dialog[2]!.body!),
    });
    const read = parseHttpRequest(post)!;
    assert.equal(read.consumed, post.length);
    assert.equal(read.request.method, 'POST');
    assert.equal(read.request.target, '/Download?req=1');
    assert.equal(read.request.headers.get('x-admin-script-status'), 'ok');
    assert.equal(read.request.headers.get('x-admin-protocol'), ADMIN_PROTOCOL);
    assert.equal(hex(read.request.body), 'af8023026a880000');
    for (let cut = 0; cut < post.length; cut++)
      assert.equal(parseHttpRequest(post.subarray(0, cut)), undefined);
    const first = encodeAdminRequest({ uri: '/ram?sim=1', host: 'h', bodyEncoding: 'content-length' });
    const both = new Uint8Array([...first, ...post]);
    const one = parseHttpRequest(both)!;
    assert.equal(one.request.body.length, 0);
    assert.equal(parseHttpRequest(both.subarray(one.consumed))!.request.target, '/Download?req=1');
    const counted = encodeAdminRequest({
      uri: '/a?b',
      host: 'h',
      body: h('af800000'),
      bodyEncoding: 'content-length',
    });
    assert.equal(hex(parseHttpRequest(counted)!.request.body), 'af800000');
  });

  test('refused: both framings, other codings, bad lengths, oversized heads and bodies, no request line', () => {
    const bad = [
      'POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n',
      'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\nxx',
      'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: 99999\r\n\r\n',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFF\r\n',
      'POST /a b HTTP/1.1\r\n\r\n',
      'GARBAGE\r\n\r\n',
      'POST / HTTP/1.1\r\n folded\r\n\r\n',
      `POST / HTTP/1.1\r\nX: ${'a'.repeat(9000)}\r\n\r\n`,
    ];
    for (const text of bad)
      assert.throws(
        () => parseHttpRequest(utf8(text), { maxBodyBytes: 4096 }),
        HttpFormatError,
        text.slice(0, 60),
      );
    assert.throws(() => parseHttpRequest(utf8(`POST / HTTP/1.1\r\nX: ${'a'.repeat(9000)}`)), HttpFormatError);
  });

  test('200 with the script, Next-URI and target, by Content-Length or in chunks; 204; the card parses each', () => {
    const script = h('ae80220580ca0085000000');
    const counted = encodeAdminResponse({
      script,
      nextUri: '/admin?s=1',
      targetedApplication: '//aid/A000000559/0010',
    });
    const parsed = parseHttpResponse(counted)!;
    assert.equal(parsed.response.status, 200);
    assert.equal(parsed.response.headers.get('content-length'), '11');
    assert.equal(parsed.response.headers.get('x-admin-next-uri'), '/admin?s=1');
    assert.equal(parsed.response.headers.get('x-admin-targeted-application'), '//aid/A000000559/0010');
    assert.equal(hex(parsed.response.body), hex(script));
    const chunked = encodeAdminResponse({ script, nextUri: '/a?b', bodyEncoding: 'chunked', chunkSize: 4 });
    assert.match(fromUtf8(chunked), /Transfer-Encoding: chunked\r\n\r\n4\r\n/);
    assert.equal(hex(parseHttpResponse(chunked)!.response.body), hex(script));
    assert.equal(
      fromUtf8(encodeAdminResponse({})),
      `HTTP/1.1 204 No Content\r\nX-Admin-Protocol: ${ADMIN_PROTOCOL}\r\n\r\n`,
    );
    assert.throws(() => encodeAdminResponse({ script, nextUri: '/a\r\nX: y' }), HttpFormatError);
  });
});
