// The message codec against libcoap's own PDU tests (encoder and decoder vectors), the extended
// option lengths at every boundary, and a second implementation (coap-packet) on valid messages.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import {
  blockSize,
  CoapFormatError,
  type CoapMessage,
  decodeBlock,
  decodeMessage,
  decodeUint,
  encodeBlock,
  encodeMessage,
  encodeUint,
  firstUnrecognizedCritical,
  MessageType,
  sizeExponent,
} from '@iotsafe/coap';
import { SeededRandom } from '../../../test/helpers/random.js';

interface Vector {
  name: string;
  hex: string;
  type: number;
  code: number;
  messageId: number;
  token: string;
  options: [number, string][];
  payload: string;
}
const fixture = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/coap/libcoap-test-pdu.json', import.meta.url), 'utf8'),
) as { valid: Vector[]; malformed: { name: string; hex: string }[] };

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

test('decodes libcoap v4.3.1 test PDUs into the fields its tests assert', () => {
  for (const v of fixture.valid) {
    const m = decodeMessage(bytes(v.hex));
    assert.equal(m.type, v.type, v.name);
    assert.equal(m.code, v.code, v.name);
    assert.equal(m.messageId, v.messageId, v.name);
    assert.equal(hex(m.token), v.token, v.name);
    assert.deepEqual(
      m.options.map((o) => [o.number, hex(o.value)]),
      v.options,
      v.name,
    );
    assert.equal(hex(m.payload), v.payload, v.name);
  }
});

test('encodes the same fields into libcoap test PDU bytes exactly', () => {
  for (const v of fixture.valid) {
    const message: CoapMessage = {
      type: v.type as MessageType,
      code: v.code,
      messageId: v.messageId,
      token: bytes(v.token),
      options: v.options.map(([number, value]) => ({ number, value: bytes(value) })),
      payload: bytes(v.payload),
    };
    assert.equal(hex(encodeMessage(message)), v.hex, v.name);
  }
});

test('rejects every malformed libcoap test PDU with a CoapFormatError', () => {
  for (const v of fixture.malformed)
    assert.throws(() => decodeMessage(bytes(v.hex)), CoapFormatError, v.name);
});

test('format errors keep the header when it was readable, so a CON can be reset', () => {
  const error = (() => {
    try {
      decodeMessage(bytes('4a0a5b5b'));
    } catch (e) {
      return e as CoapFormatError;
    }
  })();
  assert.deepEqual(error?.header, { type: MessageType.CON, messageId: 0x5b5b });
  assert.throws(
    () => decodeMessage(bytes('80011234')),
    (e: CoapFormatError) => e.header === undefined,
  );
  assert.throws(() => decodeMessage(bytes('400112')), CoapFormatError);
});

test('semantic header rules: empty NON, non-empty RST, request in an ACK', () => {
  assert.throws(() => decodeMessage(bytes('50001234')), /Non-confirmable/);
  assert.throws(() => decodeMessage(bytes('70451234')), /Reset must be Empty/);
  assert.throws(() => decodeMessage(bytes('62011234abcd')), /cannot carry a request/);
  assert.throws(() => decodeMessage(bytes('4100123401')), /Empty message/);
});

test('option delta and length at each extended-encoding boundary round-trip (RFC 7252 §3.1)', () => {
  for (const n of [0, 12, 13, 14, 268, 269, 270, 1000, 65535]) {
    for (const length of [0, 12, 13, 268, 269, 1300]) {
      const message: CoapMessage = {
        type: MessageType.NON,
        code: 0x45,
        messageId: 7,
        token: bytes('01'),
        options: [{ number: n, value: new Uint8Array(length).fill(0xa5) }],
        payload: bytes('ff00'),
      };
      const wire = encodeMessage(message);
      const back = decodeMessage(wire);
      assert.equal(back.options[0]!.number, n);
      assert.equal(back.options[0]!.value.length, length);
      assert.equal(hex(back.payload), 'ff00');
      const nibble = (x: number) => (x < 13 ? x : x < 269 ? 13 : 14);
      assert.equal(wire[5], (nibble(n) << 4) | nibble(length), `header byte for ${n}/${length}`);
    }
  }
});

test('the encoder sorts options stably and refuses what the format cannot carry', () => {
  const wire = encodeMessage({
    type: MessageType.CON,
    code: 1,
    messageId: 1,
    token: new Uint8Array(0),
    options: [
      { number: 15, value: bytes('61') },
      { number: 11, value: bytes('78') },
      { number: 15, value: bytes('62') },
      { number: 11, value: bytes('79') },
    ],
    payload: new Uint8Array(0),
  });
  assert.deepEqual(
    decodeMessage(wire).options.map((o) => [o.number, hex(o.value)]),
    [
      [11, '78'],
      [11, '79'],
      [15, '61'],
      [15, '62'],
    ],
  );
  const base = {
    type: MessageType.CON,
    code: 1,
    messageId: 1,
    options: [],
    payload: new Uint8Array(0),
  } as const;
  assert.throws(() => encodeMessage({ ...base, token: new Uint8Array(9) }), RangeError);
  assert.throws(() => encodeMessage({ ...base, token: new Uint8Array(0), messageId: 70000 }), RangeError);
  assert.throws(() => encodeMessage({ ...base, code: 0, token: bytes('01') }), RangeError);
  assert.throws(
    () =>
      encodeMessage({
        ...base,
        token: new Uint8Array(0),
        options: [{ number: 65536, value: new Uint8Array(0) }],
      }),
    RangeError,
  );
});

test('uint option values are minimal big-endian (RFC 7252 §3.2)', () => {
  assert.equal(hex(encodeUint(0)), '');
  assert.equal(hex(encodeUint(1)), '01');
  assert.equal(hex(encodeUint(256)), '0100');
  assert.equal(hex(encodeUint(0xffffffff)), 'ffffffff');
  assert.equal(decodeUint(bytes('00000001')), 1);
  assert.throws(() => encodeUint(-1), RangeError);
  assert.throws(() => decodeUint(bytes('0102030405')), CoapFormatError);
});

test('block option values as in RFC 7959 §2.2 and the figures of §3', () => {
  // "2:0/1/128": NUM 0, M 1, SZX 3 → 0x0b; "1:2/0/64": NUM 2, M 0, SZX 2 → 0x22
  assert.equal(hex(encodeBlock({ num: 0, more: true, szx: 3 })), '0b');
  assert.equal(hex(encodeBlock({ num: 2, more: false, szx: 2 })), '22');
  assert.equal(hex(encodeBlock({ num: 0, more: false, szx: 0 })), '');
  assert.deepEqual(decodeBlock(bytes('0b')), { num: 0, more: true, szx: 3 });
  assert.deepEqual(decodeBlock(bytes('fffffe')), { num: 0xfffff, more: true, szx: 6 });
  assert.throws(() => decodeBlock(bytes('07')), /SZX 7/);
  assert.throws(() => decodeBlock(bytes('01020304')), CoapFormatError);
  assert.throws(() => encodeBlock({ num: 0x100000, more: false, szx: 0 }), RangeError);
  assert.equal(blockSize(6), 1024);
  assert.equal(sizeExponent(16), 0);
  assert.throws(() => sizeExponent(2048), RangeError);
  assert.throws(() => sizeExponent(100), RangeError);
});

test('unrecognised critical options are found, elective ones ignored (RFC 7252 §5.4.1)', () => {
  const o = (number: number, length = 0) => ({ number, value: new Uint8Array(length) });
  assert.equal(firstUnrecognizedCritical([o(11), o(12, 1), o(2048)]), undefined); // 2048 even: elective
  assert.equal(firstUnrecognizedCritical([o(11), o(2049)]), 2049);
  assert.equal(firstUnrecognizedCritical([o(7, 3)]), 7); // Uri-Port of 3 bytes: out of bounds
  assert.equal(firstUnrecognizedCritical([o(3, 1), o(3, 1)]), 3); // Uri-Host repeated
  assert.equal(firstUnrecognizedCritical([o(11, 1), o(11, 1)]), undefined); // Uri-Path repeats
});

test('encoding agrees byte for byte with coap-packet, decoding reads its output back', () => {
  const coapPacket = createRequire(import.meta.url)('coap-packet') as {
    generate(p: object, maxLength?: number): Buffer;
    parse(b: Buffer): {
      code: string;
      messageId: number;
      token: Buffer;
      options: { name: string | number; value: Buffer }[];
      payload: Buffer;
    };
  };
  const r = new SeededRandom(7252);
  const numbers = [1, 3, 4, 6, 7, 8, 11, 12, 14, 15, 17, 20, 23, 27, 28, 35, 39, 60, 258, 2049, 3000, 65000];
  for (let i = 0; i < 2000; i++) {
    const options = Array.from({ length: r.int(6) }, () => ({
      number: r.pick(numbers),
      value: r.bytes(r.pick([0, 1, 12, 13, 40, 268, 269, 300])),
    }));
    const message: CoapMessage = {
      type: r.pick([MessageType.CON, MessageType.NON, MessageType.ACK]),
      code: r.pick([0x01, 0x02, 0x45, 0x84, 0xa0]),
      messageId: r.int(0x10000),
      token: r.bytes(r.int(9)),
      options,
      payload: r.bytes(r.pick([0, 1, 100])),
    };
    if (message.type === MessageType.ACK && message.code < 0x20) message.code = 0x44;
    const ours = encodeMessage(message);
    const theirs = coapPacket.generate(
      {
        code: `${message.code >> 5}.${String(message.code & 31).padStart(2, '0')}`,
        messageId: message.messageId,
        token: Buffer.from(message.token),
        confirmable: message.type === MessageType.CON,
        ack: message.type === MessageType.ACK,
        options: options.map((o) => ({ name: String(o.number), value: Buffer.from(o.value) })),
        payload: Buffer.from(message.payload),
      },
      0xffff,
    );
    assert.equal(hex(ours), hex(theirs), `message #${i}`);
    const back = decodeMessage(theirs);
    assert.deepEqual(
      back.options.map((o) => [o.number, hex(o.value)]),
      [...options].sort((a, b) => a.number - b.number).map((o) => [o.number, hex(o.value)]),
    );
  }
});
