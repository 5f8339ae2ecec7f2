// The lossy-link proxy itself: what it does to a stream of datagrams, counted, and the same for the
// same seed; the MTU clamp; rebinding (a NAT timeout) seen by the server as a new source port.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { test } from 'node:test';
import { startLossyUdpProxy } from '../../../test/helpers/lossy-udp-proxy.js';

async function udp(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return s;
}
const settle = (ms = 80) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `count` numbered datagrams through a proxy and returns what the server got, in order. */
async function run(
  seed: number,
  impairment: Parameters<typeof startLossyUdpProxy>[0]['toServer'],
  count = 400,
) {
  const server = await udp();
  const got: number[] = [];
  const ports = new Set<number>();
  server.on('message', (d, from) => {
    got.push(d.readUInt32BE(0));
    ports.add(from.port);
  });
  const proxy = await startLossyUdpProxy({
    target: { host: '127.0.0.1', port: server.address().port },
    seed,
    toServer: impairment,
  });
  const client = await udp();
  for (let i = 0; i < count; i++) {
    const d = Buffer.alloc(8 + (i % 4) * 200);
    d.writeUInt32BE(i, 0);
    client.send(d, proxy.port, '127.0.0.1');
    if (i % 20 === 19) await settle(5);
  }
  await settle(150);
  await proxy.close();
  client.close();
  server.close();
  return { got, counters: proxy.counters, ports };
}

test('loss, duplication and reordering happen at about the set rates and are all counted', async () => {
  const { got, counters } = await run(1, { loss: 0.1, duplicate: 0.1, reorder: 0.1 });
  const c = counters.toServer;
  assert.equal(c.received, 400);
  assert.equal(got.length, c.forwarded);
  assert.equal(c.forwarded, c.received - c.dropped + c.duplicated);
  for (const [name, n] of Object.entries({
    dropped: c.dropped,
    duplicated: c.duplicated,
    reordered: c.reordered,
  }))
    assert.ok(n > 15 && n < 70, `${name}: ${n} of 400 at 10 %`);
  const unique = new Set(got);
  assert.equal(unique.size, 400 - c.dropped);
  assert.ok(
    got.some((v, i) => i > 0 && v < got[i - 1]!),
    'some datagrams arrive after a later one',
  );
});

test('the same seed drops the same datagrams', async () => {
  const a = await run(42, { loss: 0.3 }, 200);
  const b = await run(42, { loss: 0.3 }, 200);
  const c = await run(43, { loss: 0.3 }, 200);
  assert.deepEqual(a.got, b.got);
  assert.notDeepEqual(a.got, c.got);
});

test('datagrams above the MTU are dropped and counted as oversize', async () => {
  const { got, counters } = await run(3, { mtu: 300 }, 100);
  assert.equal(counters.toServer.oversize, 50); // sizes 8, 208, 408, 608 in turn
  assert.ok(got.every((i) => i % 4 < 2));
});

test('rebinding: the server sees a new source port, and replies to the old one are lost', async () => {
  const server = await udp();
  const seen: number[] = [];
  let lastFrom: { port: number; address: string } | undefined;
  server.on('message', (d, from) => {
    seen.push(from.port);
    lastFrom = from;
    server.send(d, from.port, from.address);
  });
  const proxy = await startLossyUdpProxy({
    target: { host: '127.0.0.1', port: server.address().port },
    seed: 5,
  });
  const client = await udp();
  const echoes: string[] = [];
  client.on('message', (d) => echoes.push(d.toString()));
  client.send('one', proxy.port, '127.0.0.1');
  await settle();
  const oldMapping = lastFrom!;
  await proxy.rebind();
  client.send('two', proxy.port, '127.0.0.1');
  await settle();
  server.send('late', oldMapping.port, oldMapping.address); // the server still answers the old address
  await settle();
  assert.equal(new Set(seen).size, 2, `source ports seen by the server: ${seen}`);
  assert.deepEqual(echoes, ['one', 'two']);
  assert.equal(proxy.counters.rebinds, 1);
  assert.equal(proxy.counters.toOldMapping, 1);
  await proxy.close();
  client.close();
  server.close();
});
