// Seeded fuzzing of what the card's admin agent reads from the network and the SMS the HTTP/1.1
// response parser (mutated admin-server responses: Content-Length, chunked, 204, 100 Continue, bodies to
// the close) and the Administration Session Triggering Parameters. Each input gives a response or an
// HttpFormatError (a trigger or a FormatError); a response never claims more bytes than it was given,
// and every prefix of its bytes gives nothing or the same response; the admin server's request parser
// gets the card's POSTs mutated the same way. FUZZ_SCP81_INPUTS (default 100,000
// per codec) and FUZZ_SEED scale and reproduce it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bytesToHex,
  decodeAdminTrigger,
  encodeAdminRequest,
  encodeAdminTrigger,
  FormatError,
  HttpFormatError,
  hexToBytes,
  parseHttpRequest,
  parseHttpResponse,
  utf8,
} from '@iotsafe/protocol';
import { SeededRandom } from '../../../test/helpers/random.js';

const SEED = Number(process.env.FUZZ_SEED ?? 8112);
const INPUTS = Number(process.env.FUZZ_SCP81_INPUTS ?? 100_000);
const LIMITS = { maxHeaderBytes: 1024, maxBodyBytes: 2048 };

function response(r: SeededRandom): Uint8Array {
  const body = r.bytes(r.pick([0, 11, 14, 100, 300]));
  const admin = 'X-Admin-Protocol: globalplatform-remote-admin/1.0\r\nX-Admin-Next-URI: /admin?step=3\r\n';
  switch (r.int(5)) {
    case 0:
      return new Uint8Array([
        ...utf8(`HTTP/1.1 200 OK\r\n${admin}Content-Length: ${body.length}\r\n\r\n`),
        ...body,
      ]);
    case 1: {
      const chunks: number[] = [];
      for (let at = 0; at < body.length; at += 100) {
        const part = body.subarray(at, at + 100);
        chunks.push(
          ...utf8(`${part.length.toString(16)}${r.int(4) === 0 ? ';ext=1' : ''}\r\n`),
          ...part,
          13,
          10,
        );
      }
      return new Uint8Array([
        ...utf8(`HTTP/1.1 200 OK\r\n${admin}Transfer-Encoding: chunked\r\n\r\n`),
        ...chunks,
        ...utf8(r.int(3) === 0 ? '0\r\nX-Trailer: t\r\n\r\n' : '0\r\n\r\n'),
      ]);
    }
    case 2:
      return utf8('HTTP/1.1 204 No Content\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\n\r\n');
    case 3:
      return new Uint8Array([
        ...utf8('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\nContent-Length: 3\n\n'),
        1,
        2,
        3,
      ]);
    default:
      return new Uint8Array([...utf8(`HTTP/1.1 200 OK\r\n${admin}\r\n`), ...body]); // to the close
  }
}

function mutate(r: SeededRandom, input: Uint8Array): Uint8Array {
  const out = Uint8Array.from(input);
  switch (r.int(5)) {
    case 0:
      for (let n = 1 + r.int(3); n > 0 && out.length > 0; n--) out[r.int(out.length)] = r.int(256);
      return out;
    case 1:
      return out.subarray(0, r.int(out.length + 1));
    case 2:
      return new Uint8Array([...out, ...r.bytes(1 + r.int(40))]);
    case 3:
      if (out.length > 0)
        out[r.int(out.length)] = r.pick([0x0d, 0x0a, 0x3a, 0x20, 0x09, 0x3b, 0x30, 0x66, 0x00, 0x7f]);
      return out;
    default:
      return out;
  }
}

const same = (a: ReturnType<typeof parseHttpResponse>, b: ReturnType<typeof parseHttpResponse>) =>
  a !== undefined &&
  b !== undefined &&
  a.consumed === b.consumed &&
  a.response.status === b.response.status &&
  bytesToHex(a.response.body) === bytesToHex(b.response.body);

test(`${INPUTS} mutated admin server responses: a response or an HttpFormatError, prefixes consistent`, () => {
  const r = new SeededRandom(SEED);
  let parsed = 0;
  for (let i = 0; i < INPUTS; i++) {
    const input = mutate(r, response(r));
    const ended = r.int(4) === 0;
    try {
      const result = parseHttpResponse(input, ended, LIMITS);
      if (!result) continue;
      parsed++;
      assert.ok(result.consumed <= input.length && result.consumed > 0);
      assert.ok(result.response.status >= 200 && result.response.status <= 599);
      assert.ok(result.response.body.length <= LIMITS.maxBodyBytes);
      if (!ended) {
        const cut = r.int(input.length + 1);
        const prefix = parseHttpResponse(input.subarray(0, cut), false, LIMITS);
        assert.ok(prefix === undefined || same(prefix, result), `prefix ${cut} of input ${i} differs`);
      }
    } catch (error) {
      if (error instanceof HttpFormatError) continue;
      assert.fail(`seed ${SEED}, input ${i} ${bytesToHex(input)}: ${(error as Error).stack}`);
    }
  }
  assert.ok(parsed > INPUTS / 10, `only ${parsed} responses parsed`);
});

test(`${INPUTS} mutated triggering parameters: decoded (and stable when re-encoded) or FormatError`, () => {
  const r = new SeededRandom(SEED + 1);
  const real = ['811F831D8404020281828504000201018607B000250301020389068A008B008C00', '8100'].map(hexToBytes);
  let decoded = 0;
  for (let i = 0; i < INPUTS; i++) {
    const base =
      r.int(3) === 0
        ? r.pick(real)
        : encodeAdminTrigger({
            ...(r.int(2) ? { connection: r.bytes(r.int(20)) } : {}),
            ...(r.int(2)
              ? { security: { pskIdentity: r.bytes(r.int(30)), keyVersion: 0x40, keyId: 1 } }
              : {}),
            ...(r.int(2)
              ? {
                  retry: {
                    counter: r.int(0x10000),
                    delay: { hours: r.int(24), minutes: r.int(60), seconds: r.int(60) },
                  },
                }
              : {}),
            ...(r.int(2) ? { http: { host: 'admin.example', uri: '/ram?x=1' } } : {}),
          });
    const input = mutate(r, base);
    try {
      const trigger = decodeAdminTrigger(input);
      decoded++;
      assert.deepEqual(decodeAdminTrigger(encodeAdminTrigger(trigger)), trigger);
    } catch (error) {
      if (error instanceof FormatError) continue;
      assert.fail(`seed ${SEED + 1}, input ${i} ${bytesToHex(input)}: ${(error as Error).stack}`);
    }
  }
  assert.ok(decoded > INPUTS / 10, `only ${decoded} triggers decoded`);
});

test(`${INPUTS} mutated card requests at the admin server: a request or an HttpFormatError, prefixes consistent`, () => {
  const r = new SeededRandom(SEED + 1);
  let parsed = 0;
  for (let i = 0; i < INPUTS; i++) {
    const body = r.int(3) === 0 ? undefined : r.bytes(r.pick([1, 8, 100, 300]));
    const input = mutate(
      r,
      encodeAdminRequest({
        uri: `/admin?s=${r.int(1000)}`,
        host: 'admin.example',
        agentId: '//se-id/iccid/89',
        ...(body ? { body, scriptStatus: 'ok' as const } : {}),
        resume: r.int(4) === 0,
        bodyEncoding: r.pick(['chunked', 'content-length'] as const),
      }),
    );
    try {
      const result = parseHttpRequest(input, LIMITS);
      if (!result) continue;
      parsed++;
      assert.ok(result.consumed <= input.length && result.consumed > 0);
      assert.ok(result.request.body.length <= LIMITS.maxBodyBytes);
      const cut = r.int(input.length + 1);
      const prefix = parseHttpRequest(input.subarray(0, cut), LIMITS);
      assert.ok(
        prefix === undefined ||
          (prefix.consumed === result.consumed &&
            bytesToHex(prefix.request.body) === bytesToHex(result.request.body)),
        `prefix ${cut} of input ${i} differs`,
      );
    } catch (error) {
      if (error instanceof HttpFormatError) continue;
      assert.fail(`seed ${SEED}, input ${i} ${bytesToHex(input)}: ${(error as Error).stack}`);
    }
  }
  assert.ok(parsed > INPUTS / 10, `only ${parsed} requests parsed`);
});
