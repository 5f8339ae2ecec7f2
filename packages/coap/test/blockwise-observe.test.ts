// Block-wise transfers (RFC 7959) and observe (RFC 7641) against the in-process test server:
// size negotiation both ways, bodies that arrive whole, notifications in freshness order.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  CoapBlockwiseError,
  CoapClient,
  type CoapMessage,
  CoapResponseError,
  decodeBlock,
  findOption,
  MessageType,
  OptionNumber,
  ResponseCode,
  type TraceEvent,
  uintOption,
} from '@iotsafe/coap';
import { type CoapTestServer, startCoapTestServer } from '../../../test/helpers/coap-test-server.js';

const FAST = { ackTimeout: 40 };
const big = (n: number, seed: string) => {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += 32) createHash('sha256').update(`${seed}${i}`).digest().copy(out, i);
  return out;
};
let body = big(5000, 'a');
let uploaded: Buffer | undefined;
let temperature = 20;

let server: CoapTestServer;
let small: CoapTestServer;
before(async () => {
  const resources = {
    '/big': {
      handle: () => ({ code: ResponseCode.Content, payload: body, contentFormat: 42 }),
      observable: true,
    },
    '/upload': {
      handle: (r: { payload: Uint8Array }) => {
        uploaded = Buffer.from(r.payload);
        return {
          code: ResponseCode.Changed,
          payload: Buffer.from(createHash('sha256').update(r.payload).digest('hex')),
        };
      },
    },
    '/echo': { handle: (r: { payload: Uint8Array }) => ({ code: ResponseCode.Changed, payload: r.payload }) },
    '/temperature': {
      observable: true,
      handle: () => ({ code: ResponseCode.Content, payload: `${temperature} C` }),
    },
  };
  server = await startCoapTestServer({ transmission: FAST, resources });
  small = await startCoapTestServer({ transmission: FAST, resources, maxBlockSize: 128 });
});
after(async () => {
  await server.close();
  await small.close();
});

function blocksSeen(events: TraceEvent[], number: number) {
  return events
    .filter((e) => e.kind === 'send' && e.message && e.message.code !== 0)
    .map((e) => findOption(e.message!.options, number))
    .filter((v) => v !== undefined)
    .map((v) => decodeBlock(v!));
}

test('Block2: a 5,000-byte body in 1,024-byte blocks, whole and in order', async () => {
  const events: TraceEvent[] = [];
  const c = await CoapClient.connect(`coap://127.0.0.1:${server.port}`, {
    transmission: FAST,
    trace: (e) => events.push(e),
  });
  const r = await c.get('/big');
  assert.ok(Buffer.from(r.payload).equals(body));
  assert.equal(r.messages, 5);
  assert.equal(r.contentFormat, 42);
  assert.deepEqual(
    blocksSeen(events, OptionNumber.Block2).map((b) => b.num),
    [1, 2, 3, 4],
  );
  await c.close();
});

test('Block2 early negotiation: --block-size 64 asks for 64-byte blocks from the first request', async () => {
  const events: TraceEvent[] = [];
  const c = await CoapClient.connect(`coap://127.0.0.1:${server.port}`, {
    transmission: FAST,
    blockSize: 64,
    trace: (e) => events.push(e),
  });
  const r = await c.get('/big');
  assert.ok(Buffer.from(r.payload).equals(body));
  assert.equal(r.messages, Math.ceil(5000 / 64));
  assert.ok(blocksSeen(events, OptionNumber.Block2).every((b) => b.szx === 2));
  await c.close();
});

test('Block2: a server that wants smaller blocks (128) than asked (1,024) is followed', async () => {
  const c = await CoapClient.connect(`coap://127.0.0.1:${small.port}`, { transmission: FAST });
  const r = await c.get('/big', { blockSize: 1024 });
  assert.ok(Buffer.from(r.payload).equals(body));
  assert.equal(r.messages, Math.ceil(5000 / 128));
  await c.close();
});

test('Block1: a 10,000-byte upload, the server negotiating 1,024 down to 128 after the first block', async () => {
  const events: TraceEvent[] = [];
  const payload = big(10_000, 'u');
  const c = await CoapClient.connect(`coap://127.0.0.1:${small.port}`, {
    transmission: FAST,
    trace: (e) => events.push(e),
  });
  const r = await c.put('/upload', payload);
  assert.equal(r.code, ResponseCode.Changed);
  assert.ok(uploaded?.equals(payload));
  assert.equal(r.text(), createHash('sha256').update(payload).digest('hex'));
  const sizes = blocksSeen(events, OptionNumber.Block1).map((b) => 1 << (b.szx + 4));
  assert.equal(sizes[0], 1024);
  assert.ok(sizes.slice(1).every((s) => s === 128));
  assert.equal(sizes.length, 1 + Math.ceil((10_000 - 1024) / 128));
  const first = events.find((e) => e.kind === 'send')!.message!;
  assert.ok(findOption(first.options, OptionNumber.Size1), 'Size1 announces the total (RFC 7959 §4)');
  await c.close();
});

test('Block1 and Block2 together: a large POST whose response is large too (RFC 7959 §3.3)', async () => {
  const payload = big(3000, 'e');
  const c = await CoapClient.connect(`coap://127.0.0.1:${server.port}`, {
    transmission: FAST,
    blockSize: 256,
  });
  const r = await c.post('/echo', payload);
  assert.ok(Buffer.from(r.payload).equals(payload));
  await c.close();
});

test('Block2: a representation that changes mid-transfer (ETag) is a CoapBlockwiseError', async () => {
  const c = await CoapClient.connect(`coap://127.0.0.1:${server.port}`, {
    transmission: FAST,
    blockSize: 512,
  });
  const original = body;
  const swap = setInterval(() => {
    body = big(5000, String(Math.random()));
  }, 1);
  await assert.rejects(c.get('/big'), CoapBlockwiseError);
  clearInterval(swap);
  body = original;
  await c.close();
});

test('observe: registration, notifications in order, proactive deregistration', async () => {
  const c = await CoapClient.connect(`coap://127.0.0.1:${server.port}`, { transmission: FAST });
  temperature = 20;
  const observation = await c.observe('/temperature');
  assert.equal(observation.registered, true);
  assert.equal(observation.initial.text(), '20 C');
  assert.equal(server.observers('/temperature'), 1);
  const seen: string[] = [];
  const iterate = (async () => {
    for await (const n of observation) seen.push(n.text());
  })();
  for (const t of [21, 22, 23]) {
    temperature = t;
    const next = new Promise((resolve) => observation.once('notification', resolve));
    await server.notify('/temperature');
    await next;
  }
  const cancelled = await observation.cancel();
  assert.equal(cancelled?.observe, undefined);
  await iterate;
  assert.deepEqual(seen, ['20 C', '21 C', '22 C', '23 C']);
  assert.equal(server.observers('/temperature'), 0);
  await c.close();
});

test('observe: a large representation arrives whole in each notification (Block2)', async () => {
  const c = await CoapClient.connect(`coap://127.0.0.1:${server.port}`, {
    transmission: FAST,
    blockSize: 256,
  });
  const observation = await c.observe('/big');
  assert.ok(Buffer.from(observation.initial.payload).equals(body));
  const original = body;
  body = big(2000, 'b');
  const next = new Promise<import('@iotsafe/coap').CoapResponse>((resolve) =>
    observation.once('notification', resolve),
  );
  await server.notify('/big');
  assert.ok(Buffer.from((await next).payload).equals(body));
  body = original;
  await observation.cancel();
  await c.close();
});

/** A server that answers the registration, then sends notifications with the given sequence numbers. */
async function scriptedObservation(sequences: (number | 'error')[], type: MessageType) {
  let sendFrom: ((m: CoapMessage) => void) | undefined;
  let token: Uint8Array | undefined;
  const acked: number[] = [];
  const s = await startCoapTestServer({
    resources: {},
    intercept: (m, _peer, send) => {
      if (m.type === MessageType.ACK) {
        acked.push(m.messageId);
        return true;
      }
      if (m.code !== 1) return true;
      token = m.token;
      sendFrom = send;
      send({
        type: MessageType.ACK,
        code: 0x45,
        messageId: m.messageId,
        token: m.token,
        options: [uintOption(6, 1)],
        payload: Buffer.from('n1'),
      });
      return true;
    },
  });
  const c = await CoapClient.connect(`coap://127.0.0.1:${s.port}`, { transmission: FAST });
  const observation = await c.observe('/x');
  const delivered: string[] = [];
  observation.on('notification', (n) => delivered.push(n.text()));
  let id = 0x100;
  for (const sequence of sequences) {
    const m: CoapMessage =
      sequence === 'error'
        ? {
            type,
            code: ResponseCode.NotFound,
            messageId: id++,
            token: token!,
            options: [],
            payload: new Uint8Array(0),
          }
        : {
            type,
            code: 0x45,
            messageId: id++,
            token: token!,
            options: [uintOption(6, sequence)],
            payload: Buffer.from(`n${sequence}`),
          };
    sendFrom!(m);
    if (sequence === 2) sendFrom!(m); // a duplicated datagram
  }
  await new Promise((resolve) => setTimeout(resolve, 60));
  return { c, s, observation, delivered, acked };
}

test('observe: reordered and duplicated notifications are used only when fresher (RFC 7641 §3.4)', async () => {
  const { c, s, observation, delivered, acked } = await scriptedObservation(
    [3, 2, 5, 4, 0x800006],
    MessageType.CON,
  );
  // 2 is older than 3 and 4 older than 5; 0x800006 − 5 ≥ 2^23 so it counts as older too.
  assert.deepEqual(delivered, ['n3', 'n5']);
  assert.equal(observation.stale, 3);
  assert.equal(acked.length, 6, 'all 6 CON datagrams are acknowledged, the duplicate with the cached ACK');
  await c.close();
  await s.close();
});

test('observe: an error notification ends the observation with its code', async () => {
  const { c, s, observation, delivered } = await scriptedObservation([2, 'error', 3], MessageType.NON);
  assert.deepEqual(delivered, ['n2']);
  assert.equal(observation.ended, true);
  assert.ok(observation.reason instanceof CoapResponseError);
  assert.equal(observation.reason?.responseCode, ResponseCode.NotFound);
  await c.close();
  await s.close();
});

test('observe: after a reactive cancel the next notification is answered with a RST', async () => {
  const c = await CoapClient.connect(`coap://127.0.0.1:${server.port}`, { transmission: FAST });
  const observation = await c.observe('/temperature');
  await observation.cancel({ proactive: false });
  assert.equal(server.observers('/temperature'), 1);
  const resets = server.counters.resets;
  await server.notify('/temperature');
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.equal(server.counters.resets, resets + 1);
  assert.equal(server.observers('/temperature'), 0);
  await c.close();
});

test("the transport's maxDatagramSize (a DTLS PMTU) picks the block size: 600 bytes → 256-byte blocks", async () => {
  const { UdpTransport } = await import('@iotsafe/coap');
  const udp = await UdpTransport.connect({ host: '127.0.0.1', port: server.port });
  const transport = Object.assign(udp, { maxDatagramSize: 600 });
  const events: TraceEvent[] = [];
  const c = await CoapClient.connect('coap://127.0.0.1', {
    transport,
    transmission: FAST,
    trace: (e) => events.push(e),
  });
  const payload = big(2000, 'p');
  assert.equal((await c.put('/upload', payload)).code, ResponseCode.Changed);
  assert.ok(uploaded?.equals(payload));
  assert.ok(blocksSeen(events, OptionNumber.Block1).every((b) => b.szx === 4));
  assert.ok(events.every((e) => e.datagram.length <= 600));
  await c.close();
  await udp.close();
});
