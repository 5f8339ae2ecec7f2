// The client against the in-process test server (and scripted misbehaviour through its intercept
// hook): message types, separate responses, retransmission, RST, duplicates, tokens, NSTART.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import {
  CoapAbortError,
  CoapClient,
  CoapFormatError,
  type CoapMessage,
  CoapResetError,
  CoapsTransportRequiredError,
  CoapTimeoutError,
  emptyMessage,
  MessageType,
  ResponseCode,
  type TraceEvent,
  UdpTransport,
  uintOption,
} from '@iotsafe/coap';
import { type CoapTestServer, startCoapTestServer } from '../../../test/helpers/coap-test-server.js';

const FAST = { ackTimeout: 40, maxRetransmit: 4 };
let server: CoapTestServer;
let scripted: ((m: CoapMessage, send: (m: CoapMessage) => void) => boolean) | undefined;
let inFlight = 0;
let maxInFlight = 0;
const stored = new Map<string, string>();

before(async () => {
  server = await startCoapTestServer({
    transmission: FAST,
    intercept: (m, _peer, send) => scripted?.(m, send) ?? false,
    resources: {
      '/hello': { handle: () => ({ code: ResponseCode.Content, payload: 'world', contentFormat: 0 }) },
      '/late': { separateAfter: 30, handle: () => ({ code: ResponseCode.Content, payload: 'later' }) },
      '/store': {
        handle: (r) => {
          if (r.method === 3) stored.set('store', Buffer.from(r.payload).toString());
          if (r.method === 4) stored.delete('store');
          if (r.method === 2)
            return { code: ResponseCode.Created, options: [{ number: 8, value: Buffer.from('new') }] };
          return r.method === 1
            ? {
                code: stored.has('store') ? ResponseCode.Content : ResponseCode.NotFound,
                payload: stored.get('store') ?? '',
              }
            : { code: r.method === 4 ? ResponseCode.Deleted : ResponseCode.Changed };
        },
      },
      '/slow': {
        handle: async () => {
          maxInFlight = Math.max(maxInFlight, ++inFlight);
          await new Promise((r) => setTimeout(r, 15));
          inFlight--;
          return { code: ResponseCode.Content };
        },
      },
    },
  });
});
after(() => server.close());
beforeEach(() => {
  scripted = undefined;
});

async function client(options: ConstructorParameters<typeof CoapClient>[1] = {}) {
  return CoapClient.connect(`coap://127.0.0.1:${server.port}`, { transmission: FAST, ...options });
}

test('CON GET: piggybacked 2.05 with its payload and Content-Format', async () => {
  const c = await client();
  const r = await c.get('/hello');
  assert.equal(r.status, '2.05 Content');
  assert.equal(r.text(), 'world');
  assert.equal(r.contentFormat, 0);
  assert.equal(r.ok, true);
  assert.equal((await c.get('/missing')).code, ResponseCode.NotFound);
  await c.close();
});

test('NON GET is answered by a NON response matched by token', async () => {
  const events: TraceEvent[] = [];
  const c = await client({ trace: (e) => events.push(e) });
  const r = await c.get('/hello', { confirmable: false });
  assert.equal(r.text(), 'world');
  assert.deepEqual(
    events.map((e) => [e.kind, e.message?.type]),
    [
      ['send', MessageType.NON],
      ['receive', MessageType.NON],
    ],
  );
  await c.close();
});

test('PUT, POST and DELETE with their response codes and Location-Path', async () => {
  const c = await client();
  assert.equal(
    (await c.put('/store', 'v1', { contentFormat: 'text/plain;charset=utf-8' })).code,
    ResponseCode.Changed,
  );
  assert.equal((await c.get('/store')).text(), 'v1');
  const created = await c.post('/store', 'x');
  assert.equal(created.code, ResponseCode.Created);
  assert.deepEqual(created.locationPath, ['new']);
  assert.equal((await c.delete('/store')).code, ResponseCode.Deleted);
  assert.equal((await c.get('/store')).code, ResponseCode.NotFound);
  await c.close();
});

test('separate response: Empty ACK first, then a CON response that the client acknowledges', async () => {
  const events: TraceEvent[] = [];
  const c = await client({ trace: (e) => events.push(e) });
  const acksBefore = server.counters.acks;
  const r = await c.get('/late');
  assert.equal(r.text(), 'later');
  const received = events.filter((e) => e.kind === 'receive').map((e) => [e.message!.type, e.message!.code]);
  assert.deepEqual(received, [
    [MessageType.ACK, 0],
    [MessageType.CON, ResponseCode.Content],
  ]);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(server.counters.acks, acksBefore + 1);
  await c.close();
});

test('a lost request is retransmitted with the same message ID until answered', async () => {
  let dropped = 0;
  const ids = new Set<number>();
  scripted = (m) => {
    if (m.type !== MessageType.CON) return false;
    ids.add(m.messageId);
    return dropped++ < 2;
  };
  const events: TraceEvent[] = [];
  const c = await client({ trace: (e) => events.push(e) });
  assert.equal((await c.get('/hello')).text(), 'world');
  assert.equal(ids.size, 1);
  assert.deepEqual(
    events.filter((e) => e.kind === 'retransmit').map((e) => e.attempt),
    [1, 2],
  );
  scripted = undefined;
  await c.close();
});

test('no ACK at all: MAX_RETRANSMIT retransmissions, then a CoapTimeoutError', async () => {
  scripted = (m) => m.type === MessageType.CON;
  const events: TraceEvent[] = [];
  const c = await client({
    trace: (e) => events.push(e),
    transmission: { ...FAST, ackTimeout: 10, maxRetransmit: 3 },
  });
  await assert.rejects(c.get('/hello'), CoapTimeoutError);
  assert.equal(events.filter((e) => e.kind === 'retransmit').length, 3);
  assert.equal(events.filter((e) => e.kind === 'timeout').length, 1);
  scripted = undefined;
  await c.close();
});

test('a RST answering a request is a CoapResetError; ping is answered by a RST', async () => {
  scripted = (m, send) => {
    if (m.code !== 1) return false;
    send(emptyMessage(MessageType.RST, m.messageId));
    return true;
  };
  const c = await client();
  await assert.rejects(c.get('/hello'), CoapResetError);
  scripted = undefined;
  assert.ok((await c.ping()) >= 0);
  await c.close();
});

test('a duplicated separate response is delivered once and acknowledged each time (§4.5)', async () => {
  let acks = 0;
  scripted = (m, send) => {
    if (m.type === MessageType.ACK) {
      acks++;
      return true;
    }
    if (m.code !== 1) return false;
    send(emptyMessage(MessageType.ACK, m.messageId));
    const response = {
      type: MessageType.CON,
      code: ResponseCode.Content,
      messageId: 0x7777,
      token: m.token,
      options: [],
      payload: Buffer.from('once'),
    } as const;
    send(response);
    send(response);
    return true;
  };
  const events: TraceEvent[] = [];
  const c = await client({ trace: (e) => events.push(e) });
  assert.equal((await c.get('/hello')).text(), 'once');
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(events.filter((e) => e.kind === 'duplicate').length, 1);
  assert.equal(acks, 2);
  scripted = undefined;
  await c.close();
});

test('a response whose token matches nothing is rejected with a RST', async () => {
  const resets: number[] = [];
  scripted = (m, send) => {
    if (m.type === MessageType.RST) {
      resets.push(m.messageId);
      return true;
    }
    if (m.code !== 1) return false;
    send(emptyMessage(MessageType.ACK, m.messageId));
    send({
      type: MessageType.CON,
      code: 0x45,
      messageId: 0x1111,
      token: Buffer.from('stranger'),
      options: [],
      payload: new Uint8Array(0),
    });
    send({
      type: MessageType.NON,
      code: 0x45,
      messageId: 0x1112,
      token: m.token,
      options: [],
      payload: Buffer.from('mine'),
    });
    return true;
  };
  const c = await client();
  assert.equal((await c.get('/hello')).text(), 'mine');
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(resets, [0x1111]);
  scripted = undefined;
  await c.close();
});

test('a response with an unrecognised critical option is rejected (RFC 7252 §5.4.1)', async () => {
  scripted = (m, send) => {
    if (m.code !== 1) return false;
    send({
      type: MessageType.ACK,
      code: 0x45,
      messageId: m.messageId,
      token: m.token,
      options: [uintOption(2049, 1)],
      payload: new Uint8Array(0),
    });
    return true;
  };
  const c = await client();
  await assert.rejects(
    c.get('/hello'),
    (e: CoapFormatError) => e instanceof CoapFormatError && /2049/.test(e.message),
  );
  scripted = undefined;
  await c.close();
});

test('NSTART limits outstanding requests: 1 by default, more when configured', async () => {
  const c = await client();
  maxInFlight = 0;
  await Promise.all(Array.from({ length: 5 }, () => c.get('/slow')));
  assert.equal(maxInFlight, 1);
  await c.close();
  const wide = await client({ transmission: { ...FAST, nstart: 4 } });
  maxInFlight = 0;
  await Promise.all(Array.from({ length: 8 }, () => wide.get('/slow')));
  assert.equal(maxInFlight, 4);
  await wide.close();
});

test('close() and an AbortSignal end pending requests with a CoapAbortError', async () => {
  scripted = (m) => m.code === 1;
  const c = await client({ transmission: { ackTimeout: 1000 } });
  const pending = c.get('/hello');
  const controller = new AbortController();
  const aborted = c.get('/hello', { signal: controller.signal });
  controller.abort();
  await assert.rejects(aborted, CoapAbortError);
  await c.close();
  await assert.rejects(pending, CoapAbortError);
  await assert.rejects(c.get('/hello'), CoapAbortError);
  scripted = undefined;
});

test('coaps:// without a DTLS transport is a CoapsTransportRequiredError; any DatagramTransport plugs in', async () => {
  await assert.rejects(CoapClient.connect('coaps://127.0.0.1/x'), CoapsTransportRequiredError);
  // A stand-in for the DTLS client: whatever implements DatagramTransport carries coaps.
  let opened: { host: string; port: number } | undefined;
  const c = await CoapClient.connect(`coaps://127.0.0.1:${server.port}`, {
    secureTransport: async (peer) => {
      opened = peer;
      return UdpTransport.connect(peer);
    },
  });
  assert.deepEqual(opened, { host: '127.0.0.1', port: server.port });
  assert.equal((await c.get('/hello')).text(), 'world');
  await c.close();
});
