// URIs (RFC 7252 §6), content formats (§12.3), the derived times (§4.8.2), the observe freshness
// rule (RFC 7641 §3.4), duplicate detection (§4.5) and the retransmission schedule (§4.2).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  COAPS_PORT,
  CoapError,
  CoapFormatError,
  CoapTimeoutError,
  CoapUriError,
  contentFormatName,
  DEFAULT_TRANSMISSION,
  DuplicateCache,
  decodeString,
  derivedTimes,
  describeCode,
  isFresher,
  parseCoapUri,
  parseContentFormat,
  retransmit,
  transmissionParameters,
} from '@iotsafe/coap';

const summary = (uri: string) => {
  const u = parseCoapUri(uri);
  return {
    host: u.host,
    port: u.port,
    secure: u.secure,
    options: u.options.map((o) => [o.number, decodeString(o.value)]),
  };
};

test('the three equivalent URIs of RFC 7252 §6.3 give the same request options', () => {
  const a = summary('coap://example.com:5683/~sensors/temp.xml');
  assert.deepEqual(a, {
    host: 'example.com',
    port: 5683,
    secure: false,
    options: [
      [3, 'example.com'],
      [11, '~sensors'],
      [11, 'temp.xml'],
    ],
  });
  assert.deepEqual(summary('coap://EXAMPLE.com/%7Esensors/temp.xml').options, a.options);
  assert.deepEqual(summary('coap://EXAMPLE.com:/%7esensors/temp.xml').options, a.options);
});

test('URI to options per RFC 7252 §6.4: IP literals, empty segments, query, coaps default port', () => {
  assert.deepEqual(summary('coap://127.0.0.1/').options, []);
  assert.deepEqual(summary('coap://[::1]:6000/a//b/?x=1&y').options, [
    [11, 'a'],
    [11, ''],
    [11, 'b'],
    [11, ''],
    [15, 'x=1'],
    [15, 'y'],
  ]);
  assert.equal(summary('coap://[::1]:6000/').host, '::1');
  assert.deepEqual(summary('coaps://10.0.0.1/a%2Fb'), {
    host: '10.0.0.1',
    port: COAPS_PORT,
    secure: true,
    options: [[11, 'a/b']],
  });
  for (const bad of [
    'http://x/',
    'coap://x/#frag',
    'coap:///path',
    'coap://x/%zz',
    'not a uri',
    'coap://u@x/',
  ])
    assert.throws(() => parseCoapUri(bad), CoapUriError, bad);
});

test('content formats from numbers, media types and short names, and back', () => {
  assert.equal(parseContentFormat('application/json'), 50);
  assert.equal(parseContentFormat('json'), 50);
  assert.equal(parseContentFormat('60'), 60);
  assert.equal(parseContentFormat('text/plain;charset=utf-8'), 0);
  assert.equal(parseContentFormat('application/cose; cose-type="cose-sign1"'), 18);
  assert.equal(contentFormatName(40), 'application/link-format');
  assert.equal(contentFormatName(286), 'application/pkcs10');
  assert.equal(contentFormatName(9999), undefined);
  assert.throws(() => parseContentFormat('image/gif'), RangeError);
  assert.throws(() => parseContentFormat('70000'), RangeError);
  assert.equal(describeCode(0x45), '2.05 Content');
  assert.equal(describeCode(0x5f), '2.31 Continue');
  assert.equal(describeCode(0x69), '3.09');
});

test('derived times with the default parameters are those of RFC 7252 §4.8.2', () => {
  const t = derivedTimes(DEFAULT_TRANSMISSION);
  assert.equal(t.maxTransmitSpan, 45_000);
  assert.equal(t.maxTransmitWait, 93_000);
  assert.equal(t.maxRtt, 202_000);
  assert.equal(t.exchangeLifetime, 247_000);
  assert.equal(t.nonLifetime, 145_000);
  assert.throws(() => transmissionParameters({ ackRandomFactor: 0.9 }), RangeError);
  assert.throws(() => transmissionParameters({ maxRetransmit: 1.5 }), RangeError);
});

test('observe freshness (RFC 7641 §3.4): the 2^23 window either way, and 128 seconds', () => {
  assert.equal(isFresher(5, 0, 6, 1), true);
  assert.equal(isFresher(6, 0, 5, 1), false);
  assert.equal(isFresher(5, 0, 5, 1), false); // a duplicate
  assert.equal(isFresher(0xfffffe, 0, 1, 1), true); // wrapped around 2^24
  assert.equal(isFresher(1, 0, 0xfffffe, 1), false);
  assert.equal(isFresher(0, 0, 2 ** 23 - 1, 1), true);
  assert.equal(isFresher(0, 0, 2 ** 23, 1), false);
  assert.equal(isFresher(6, 0, 5, 128_001), true); // older number, but after 128 s
  assert.equal(isFresher(6, 0, 5, 128_000), false);
});

test('duplicate cache: remembered until the lifetime ends, with the stored reply', () => {
  let now = 0;
  const cache = new DuplicateCache<number>(() => now);
  cache.remember(1, 1000, Uint8Array.of(0x60));
  cache.remember(2, 1000);
  assert.deepEqual(cache.lookup(1)?.reply, Uint8Array.of(0x60));
  assert.ok(cache.lookup(2));
  now = 1000;
  assert.equal(cache.lookup(1), undefined);
  for (let i = 0; i < 100; i++) cache.remember(100 + i, 10);
  now = 2000;
  for (let i = 0; i < 20; i++) cache.remember(1000 + i, 10);
  assert.ok(cache.size < 100, `expired entries swept (size ${cache.size})`);
});

test('retransmission: initial timeout in [T, 1.5T], doubling, MAX_RETRANSMIT times, then give up', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const sends: number[] = [];
  let gaveUp = -1;
  let clock = 0;
  const p = transmissionParameters({ ackTimeout: 1000, maxRetransmit: 4 });
  retransmit(
    p,
    () => sends.push(clock),
    () => {
      gaveUp = clock;
    },
    () => 0.5, // initial timeout 1,250 ms
  );
  for (let step = 0; step < 40_000 && gaveUp < 0; step += 250) {
    clock += 250;
    t.mock.timers.tick(250);
  }
  assert.deepEqual(sends, [0, 1250, 3750, 8750, 18750]);
  assert.equal(gaveUp, 38750); // 1250 × (2^5 − 1): within MAX_TRANSMIT_WAIT = 1000 × 31 × 1.5
  const stopped: number[] = [];
  const r = retransmit(
    p,
    () => stopped.push(1),
    () => assert.fail('stopped'),
    () => 0,
  );
  r.stop();
  t.mock.timers.tick(100_000);
  assert.equal(stopped.length, 1);
});

test('each CoapError is named after its class and keeps its cause and response code', () => {
  const cause = new Error('socket');
  const timeout = new CoapTimeoutError('no ACK', { responseCode: 0x84, cause });
  assert.ok(timeout instanceof CoapError);
  assert.equal(timeout.name, 'CoapTimeoutError');
  assert.equal(timeout.responseCode, 0x84);
  assert.equal(timeout.cause, cause);
  const format = new CoapFormatError('short', { type: 0, messageId: 7 });
  assert.equal(format.name, 'CoapFormatError');
  assert.deepEqual(format.header, { type: 0, messageId: 7 });
  assert.equal(new CoapError('x').name, 'CoapError');
});
