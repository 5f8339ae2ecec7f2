// The CoAP client over a bad link (the seeded lossy proxy): at 0 %, 10 % and 30 % loss each way,
// with duplication and reordering, every request completes within the retransmission bound and
// every body arrives intact and once; an MTU below the block size; a NAT rebinding mid-session.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  CoapClient,
  type CoapResponse,
  CoapTimeoutError,
  ResponseCode,
  type TraceEvent,
  type TransmissionParameters,
} from '@iotsafe/coap';
import { type CoapTestServer, startCoapTestServer } from '../../../test/helpers/coap-test-server.js';
import { type LibcoapServer, libcoapAvailable, startLibcoapServer } from '../../../test/helpers/libcoap.js';
import { type Impairment, startLossyUdpProxy } from '../../../test/helpers/lossy-udp-proxy.js';
import { SeededRandom } from '../../../test/helpers/random.js';

const digest = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const body = (n: number, seed: string) => {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += 32) createHash('sha256').update(`${seed}${i}`).digest().copy(out, i);
  return out;
};

let server: CoapTestServer;
/** Each POSTed body, as many times as the server's handler ran for it. */
const posted = new Map<string, number>();
const download = body(8000, 'download');

before(async () => {
  server = await startCoapTestServer({
    transmission: { ackTimeout: 20, maxRetransmit: 8 },
    resources: {
      '/record': {
        handle: (r) => {
          const key = digest(r.payload);
          posted.set(key, (posted.get(key) ?? 0) + 1);
          return { code: ResponseCode.Changed, payload: key };
        },
      },
      '/download': { handle: () => ({ code: ResponseCode.Content, payload: download }) },
      '/counter': {
        observable: true,
        handle: () => ({ code: ResponseCode.Content, payload: String(counter) }),
      },
    },
  });
});
after(() => server.close());
let counter = 0;

interface Run {
  transmissions: Map<number, number>;
  timeouts: number;
  duplicatesSeen: number;
}

/** A client through a fresh proxy; counts transmissions per message ID from the trace. */
async function throughProxy(
  seed: number,
  impairment: Impairment,
  transmission: Partial<TransmissionParameters>,
  target = server.port,
) {
  const proxy = await startLossyUdpProxy({
    target: { host: '127.0.0.1', port: target },
    seed,
    toServer: impairment,
    toClient: impairment,
  });
  const run: Run = { transmissions: new Map(), timeouts: 0, duplicatesSeen: 0 };
  const random = new SeededRandom(seed);
  const client = await CoapClient.connect(`coap://127.0.0.1:${proxy.port}`, {
    transmission,
    random: () => random.next() / 0x1_0000_0000,
    trace: (e: TraceEvent) => {
      if ((e.kind === 'send' || e.kind === 'retransmit') && e.message?.type === 0)
        run.transmissions.set(e.message.messageId, (run.transmissions.get(e.message.messageId) ?? 0) + 1);
      if (e.kind === 'timeout') run.timeouts++;
      if (e.kind === 'duplicate') run.duplicatesSeen++;
    },
  });
  return { proxy, client, run };
}

async function postMany(client: CoapClient, count: number, tag: string) {
  const sent: string[] = [];
  for (let i = 0; i < count; i++) {
    const payload = Buffer.from(`${tag} reading ${i} ${'x'.repeat(i % 50)}`);
    const r = await client.post('/record', payload);
    assert.equal(r.code, ResponseCode.Changed);
    assert.equal(r.text(), digest(payload), 'the response belongs to this request');
    sent.push(digest(payload));
  }
  return sent;
}

for (const [loss, maxRetransmit] of [
  [0, 4],
  [0.1, 4],
  [0.3, 10],
] as const) {
  describe(`loss ${loss * 100} % each way (MAX_RETRANSMIT ${maxRetransmit})`, () => {
    test('40 POSTs complete, each handled once; an 8,000-byte Block2 download arrives intact', async () => {
      const transmission = { ackTimeout: 20, maxRetransmit };
      const { proxy, client, run } = await throughProxy(1000 + loss * 100, { loss }, transmission);
      const sent = await postMany(client, 40, `loss${loss}`);
      for (const key of sent) assert.equal(posted.get(key), 1, 'the server handled each POST exactly once');
      const got = await client.get('/download', { blockSize: 512 });
      assert.equal(digest(got.payload), digest(download));
      assert.equal(run.timeouts, 0);
      for (const [id, n] of run.transmissions)
        assert.ok(n <= 1 + maxRetransmit, `message ${id}: ${n} transmissions`);
      const c = proxy.counters;
      if (loss === 0) assert.equal(c.toServer.dropped + c.toClient.dropped, 0);
      else assert.ok(c.toServer.dropped > 0 && c.toClient.dropped > 0, JSON.stringify(c));
      await client.close();
      await proxy.close();
    });
  });
}

test('duplication and reordering (30 % each way): every request answered once, duplicates absorbed', async () => {
  const { proxy, client, run } = await throughProxy(
    77,
    { duplicate: 0.3, reorder: 0.3 },
    { ackTimeout: 20, nstart: 4 },
  );
  const before = server.counters.duplicates;
  // Four at a time (NSTART 4), so reordering mixes exchanges.
  const batches = Array.from({ length: 10 }, (_, b) => postMany(client, 4, `dup${b}`));
  const sent = (await Promise.all(batches)).flat();
  for (const key of sent) assert.equal(posted.get(key), 1);
  assert.ok(
    server.counters.duplicates > before,
    'the server saw duplicated requests and answered from its cache',
  );
  assert.ok(proxy.counters.toServer.duplicated > 0 && proxy.counters.toClient.reordered > 0);
  assert.equal(run.timeouts, 0);
  await client.close();
  await proxy.close();
});

test('observe at 10 % loss with duplication: CON notifications arrive in order, none twice', async () => {
  const { proxy, client } = await throughProxy(
    9,
    { loss: 0.1, duplicate: 0.2 },
    { ackTimeout: 20, maxRetransmit: 6 },
  );
  counter = 0;
  const observation = await client.observe('/counter');
  const values: number[] = [Number(observation.initial.text())];
  observation.on('notification', (n: CoapResponse) => values.push(Number(n.text())));
  for (counter = 1; counter <= 20; counter++) {
    await server.notify('/counter');
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
  // The last notification is retransmitted until acknowledged, so it arrives.
  for (let i = 0; i < 100 && values.at(-1) !== 20; i++)
    await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(values.at(-1), 20);
  for (let i = 1; i < values.length; i++) assert.ok(values[i]! > values[i - 1]!, `in order, once: ${values}`);
  await observation.cancel({ proactive: false });
  await client.close();
  await proxy.close();
});

test('an MTU below the block size: 1,024-byte blocks never get through, 256-byte blocks do', async () => {
  const { proxy, client } = await throughProxy(11, { mtu: 600 }, { ackTimeout: 10, maxRetransmit: 2 });
  const payload = body(3000, 'mtu');
  await assert.rejects(client.put('/record', payload), CoapTimeoutError);
  assert.ok(proxy.counters.toServer.oversize >= 3);
  const r = await client.put('/record', payload, { blockSize: 256 });
  assert.equal(r.text(), digest(payload));
  await client.close();
  await proxy.close();
});

test('a NAT rebinding mid-session: requests go on; notifications to the old address are lost', async () => {
  const proxy = await startLossyUdpProxy({
    target: { host: '127.0.0.1', port: server.port },
    seed: 3,
    natTimeout: 150,
  });
  const client = await CoapClient.connect(`coap://127.0.0.1:${proxy.port}`, {
    transmission: { ackTimeout: 20 },
  });
  const observation = await client.observe('/counter');
  const seen: string[] = [];
  observation.on('notification', (n: CoapResponse) => seen.push(n.text()));
  await new Promise((resolve) => setTimeout(resolve, 200)); // idle longer than the NAT timeout
  assert.equal(
    (await client.post('/record', 'after the rebinding')).text(),
    digest(Buffer.from('after the rebinding')),
  );
  assert.equal(proxy.counters.rebinds, 1);
  counter = 99;
  await server.notify('/counter');
  for (let i = 0; i < 50 && proxy.counters.toOldMapping === 0; i++)
    await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(proxy.counters.toOldMapping >= 1, 'the server notified the old mapping');
  assert.deepEqual(seen, [], 'so this client never hears of it: it must re-register (or use DTLS CID)');
  await observation.cancel({ proactive: false });
  await client.close();
  await proxy.close();
});

const available = libcoapAvailable();
describe('libcoap coap-server through the lossy proxy', {
  skip: available === true ? false : available,
}, () => {
  let peer: LibcoapServer;
  before(async () => {
    peer = await startLibcoapServer();
  });
  after(() => peer?.stop());

  test('at 10 % loss each way: a 6,000-byte Block1 PUT and its Block2 GET come back intact', async () => {
    const { proxy, client, run } = await throughProxy(
      21,
      { loss: 0.1 },
      { ackTimeout: 100, maxRetransmit: 6 },
      peer.port,
    );
    const payload = body(6000, 'libcoap');
    const put = await client.put('/example_data', payload, { blockSize: 256 });
    assert.ok(put.ok, put.status);
    const back = await client.get('/example_data', { blockSize: 256 });
    assert.equal(digest(back.payload), digest(payload));
    assert.equal(run.timeouts, 0);
    assert.ok(proxy.counters.toServer.dropped + proxy.counters.toClient.dropped > 0);
    await client.close();
    await proxy.close();
  });
});
