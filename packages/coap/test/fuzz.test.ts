// Seeded fuzzing of what the client reads from the network. FUZZ_ITERATIONS (default 100,000) and
// FUZZ_SEED scale and reproduce it; a failure prints the seed and the input.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import {
  CoapClient,
  CoapError,
  CoapFormatError,
  type CoapMessage,
  type DatagramTransport,
  decodeMessage,
  encodeBlock,
  encodeMessage,
  MessageType,
  uintOption,
} from '@iotsafe/coap';
import { SeededRandom } from '../../../test/helpers/random.js';

const SEED = Number(process.env.FUZZ_SEED ?? 7959);
const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 100_000);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A valid message with the options a response carries, to mutate. */
function validMessage(r: SeededRandom): CoapMessage {
  const options = [];
  for (let i = r.int(5); i > 0; i--)
    options.push(
      r.pick([
        () => uintOption(6, r.int(1 << 24)),
        () => ({ number: 23, value: encodeBlock({ num: r.int(64), more: r.int(2) === 1, szx: r.int(7) }) }),
        () => uintOption(12, r.pick([0, 40, 50, 60])),
        () => ({ number: 4, value: r.bytes(1 + r.int(8)) }),
        () => ({ number: r.int(3000), value: r.bytes(r.pick([0, 3, 13, 270])) }),
      ])(),
    );
  return {
    type: r.pick([MessageType.CON, MessageType.NON, MessageType.ACK]),
    code: r.pick([0x45, 0x44, 0x5f, 0x84, 0xa0]),
    messageId: r.int(0x10000),
    token: r.bytes(r.int(9)),
    options,
    payload: r.bytes(r.pick([0, 1, 20, 300])),
  };
}

function mutate(r: SeededRandom, input: Uint8Array): Uint8Array {
  const out = Uint8Array.from(input);
  switch (r.int(4)) {
    case 0:
      for (let n = 1 + r.int(4); n > 0 && out.length > 0; n--) out[r.int(out.length)] = r.int(256);
      return out;
    case 1:
      return out.subarray(0, r.int(out.length + 1));
    case 2:
      return Buffer.concat([out, r.bytes(1 + r.int(20))]);
    default:
      if (out.length > 4)
        out[4 + r.int(out.length - 4)] = r.pick([0x0d, 0xd0, 0xe0, 0x0e, 0xff, 0xf0, 0x0f, 0xdd, 0xee]);
      return out;
  }
}

test(`decodeMessage: ${ITERATIONS.toLocaleString('en-US')} random and mutated datagrams, CoapFormatError or a message that re-encodes to itself`, () => {
  const r = new SeededRandom(SEED);
  let decoded = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const input = i % 3 === 0 ? r.bytes(r.int(64)) : mutate(r, encodeMessage(validMessage(r)));
    if (i % 3 === 0 && input.length > 0) input[0] = (input[0]! & 0x3f) | 0x40; // version 1 mostly
    let message: CoapMessage;
    try {
      message = decodeMessage(input);
    } catch (error) {
      if (!(error instanceof CoapFormatError))
        assert.fail(`threw ${String(error)} (seed ${SEED}, #${i}, ${hex(input)})`);
      continue;
    }
    decoded++;
    assert.equal(hex(encodeMessage(message)), hex(input), `re-encoding (seed ${SEED}, #${i})`);
  }
  assert.ok(decoded > ITERATIONS / 10, `a fair share decodes (${decoded})`);
});

/** A transport the test drives: whatever the client sends is recorded, datagrams are injected. */
class ScriptedTransport extends EventEmitter implements DatagramTransport {
  readonly remote = { address: '127.0.0.1', port: 5683 };
  sent: Uint8Array[] = [];
  async send(datagram: Uint8Array) {
    this.sent.push(datagram);
  }
  async close() {}
}

test(`the client fed ${ITERATIONS.toLocaleString('en-US')} hostile datagrams: requests settle with a CoapError or a response, nothing escapes`, async () => {
  const r = new SeededRandom(SEED + 1);
  const transport = new ScriptedTransport();
  const client = new CoapClient(transport, {
    transmission: { ackTimeout: 5, maxRetransmit: 1, nstart: 8 },
    responseTimeout: 20,
  });
  const escaped: unknown[] = [];
  const onUncaught = (e: unknown) => escaped.push(e);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  let settled = 0;
  let responses = 0;
  const pending = new Set<Promise<void>>();
  const start = () => {
    const p = (
      r.int(4) === 0 ? client.observe('/o').then((o) => o.cancel({ proactive: false })) : client.get('/x')
    )
      .then(() => {
        responses++;
      })
      .catch((error) => {
        if (!(error instanceof CoapError)) escaped.push(error);
      })
      .finally(() => {
        settled++;
        pending.delete(p);
      });
    pending.add(p);
  };
  try {
    for (let i = 0; i < ITERATIONS; i++) {
      if (pending.size < 8) start();
      // Aim at what the client has sent: its message IDs and tokens, so mutations reach deep.
      const last = transport.sent.at(-1 - r.int(Math.min(8, transport.sent.length || 1)));
      let datagram: Uint8Array;
      if (last && r.int(2) === 0) {
        const request = decodeMessage(last);
        const reply = validMessage(r);
        reply.messageId = request.messageId;
        reply.token = request.token;
        if (reply.type === MessageType.ACK && r.int(4) === 0) reply.code = 0;
        if (reply.code === 0) reply.token = new Uint8Array(0);
        if (reply.code === 0) reply.options = [];
        if (reply.code === 0) reply.payload = new Uint8Array(0);
        const bytes = encodeMessage(reply);
        datagram = r.int(3) === 0 ? mutate(r, bytes) : bytes;
      } else datagram = r.int(2) === 0 ? r.bytes(r.int(40)) : mutate(r, encodeMessage(validMessage(r)));
      transport.emit('message', datagram);
      if (transport.sent.length > 1000) transport.sent = transport.sent.slice(-16);
      if (i % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await client.close();
    await Promise.all(pending);
  } finally {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  }
  assert.deepEqual(escaped.map(String), [], `seed ${SEED + 1}`);
  assert.ok(settled > 100 && responses > 10, `requests settled: ${settled}, with a response: ${responses}`);
});
