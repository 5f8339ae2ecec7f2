// The APDU pump against scripted cards: each ISO 7816 follow-up rule (ISO/IEC 7816-3 §10.3.3, ETSI TS 102 221 §7.4.2.2).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApduPump, MemoryTransport, TransportError } from '@iotsafe/device';
import { bytesToHex, command, encodeCommandApdu, hexToBytes } from '@iotsafe/protocol';

/** A card that answers from a script and records what it was sent. */
function scripted(answers: string[]) {
  const sent: string[] = [];
  const card = {
    transmit: (c: Uint8Array) => {
      sent.push(bytesToHex(c));
      const next = answers.shift();
      if (next === undefined) throw new Error('script exhausted');
      return hexToBytes(next);
    },
  };
  return { pump: new ApduPump(new MemoryTransport(card)), sent };
}

const case3 = command(0x81, 0x2b, 0x80, 0x01, hexToBytes('9E021122'));
const case3Bytes = encodeCommandApdu(case3);

describe('APDU pump', () => {
  test('61xx is followed by GET RESPONSE on the command channel, and chained 61xx are concatenated', async () => {
    const { pump, sent } = scripted(['6104', 'AABBCCDD6102', 'EEFF9000']);
    const r = await pump.exchange(case3);
    assert.equal(bytesToHex(r.data), 'AABBCCDDEEFF');
    assert.equal(r.sw, 0x9000);
    assert.equal(r.exchanges, 3);
    assert.deepEqual(sent.slice(1), ['01C0000004', '01C0000002']);
  });
  test('overlapping callers take turns: nothing lands between a 61xx and its GET RESPONSE', async () => {
    const { pump, sent } = scripted(['6102', 'AABB9000', '9000']);
    const other = command(0x81, 0x84, 0, 0, new Uint8Array(0), 1);
    const [first, second] = await Promise.all([pump.exchange(case3), pump.exchange(other)]);
    assert.equal(bytesToHex(first.data), 'AABB');
    assert.equal(second.sw, 0x9000);
    assert.deepEqual(sent, [bytesToHex(case3Bytes), '01C0000002', '8184000001']);
  });
  test('GET RESPONSE can use the class of the command (8N)', async () => {
    const card = {
      transmit: (c: Uint8Array) =>
        c[1] === 0xc0 ? hexToBytes(c[0] === 0x81 ? '019000' : '6E00') : hexToBytes('6101'),
    };
    const pump = new ApduPump(new MemoryTransport(card), { getResponseClass: 'same' });
    assert.equal((await pump.exchange(case3)).sw, 0x9000);
  });
  test('9Fxx (GSM class) is treated like 61xx', async () => {
    const { pump, sent } = scripted(['9F02', '01029000']);
    assert.equal(bytesToHex((await pump.exchange(case3)).data), '0102');
    assert.equal(sent[1], '01C0000002');
  });
  test('6Cxx resends the same command with the Le the card asks for', async () => {
    const { pump, sent } = scripted(['6C44', `${'00'.repeat(0x44)}9000`]);
    const r = await pump.exchange(command(0x80, 0xcb, 0, 0, new Uint8Array(0), 256));
    assert.equal(r.data.length, 0x44);
    assert.deepEqual(sent, ['80CB000000', '80CB000044']);
  });
  test('91xx is success with a proactive command pending', async () => {
    const { pump } = scripted(['01029112']);
    const r = await pump.exchange(case3);
    assert.equal(r.sw, 0x9000);
    assert.equal(r.proactivePending, 0x12);
    assert.equal(bytesToHex(r.data), '0102');
  });
  test('6300 is returned as it is (the caller pages)', async () => {
    const { pump } = scripted(['C1006300']);
    assert.equal((await pump.exchange(case3)).sw, 0x6300);
  });
  test('a card that keeps asking for follow-ups, or answers without a status word, is a TransportError', async () => {
    const looping = { transmit: () => hexToBytes('6101') };
    await assert.rejects(
      new ApduPump(new MemoryTransport(looping), { maxFollowUps: 10 }).exchange(case3),
      TransportError,
    );
    const { pump } = scripted(['90']);
    await assert.rejects(pump.exchange(case3), TransportError);
  });
});
