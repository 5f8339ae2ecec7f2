import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildAtr, VirtualSim } from '@iotsafe/sim';
import { send, TEST_PROFILE } from '../../../test/helpers/cards.js';

const SELECT_1 = '01A4040007A0000005590010';

function card(personality = 'reference') {
  return VirtualSim.inMemory(TEST_PROFILE, { personality }).card;
}

describe('ATR', () => {
  test('T=0 ATR has no TCK; T=1 ATR has a TCK that XORs to zero', () => {
    assert.equal(buildAtr('T=0')[0], 0x3b);
    const atr = buildAtr('T=1');
    assert.equal(
      atr.subarray(1).reduce((a, b) => a ^ b, 0),
      0,
    );
    assert.equal(card().reset()[0], 0x3b);
  });
});

describe('logical channels (MANAGE CHANNEL)', () => {
  test('opens channels 1..3 then refuses, closes, and reuses the lowest free one', () => {
    const c = card();
    assert.deepEqual(send(c, '0070000001'), { data: '01', sw: '9000' });
    assert.deepEqual(send(c, '0070000001'), { data: '02', sw: '9000' });
    assert.deepEqual(send(c, '0070000001'), { data: '03', sw: '9000' });
    assert.equal(send(c, '0070000001').sw, '6A81');
    assert.equal(send(c, '0070800200').sw, '9000');
    assert.equal(send(c, '0070000001').data, '02');
  });
  test('closing the basic channel, an unopened channel, or with bad P1 is 6A86', () => {
    const c = card();
    assert.equal(send(c, '0070800000').sw, '6A86');
    assert.equal(send(c, '0070800200').sw, '6A86');
    assert.equal(send(c, '0070400000').sw, '6A86');
  });
  test('commands on a channel that is not open get 6881', () => {
    const c = card();
    assert.equal(send(c, SELECT_1).sw, '6881');
    assert.equal(send(c, '8184000008').sw, '6881');
  });
  test('SELECT on an unopened channel opens it when the personality allows (m33mu/wolfSSL)', () => {
    const c = card('m33mu');
    assert.equal(send(c, SELECT_1).sw, '9000');
    assert.equal(send(c, '8184000008').data.length, 16);
  });
  test('channel 4+ CLA coding is understood and refused beyond the card channels', () => {
    assert.equal(send(card(), '40A4040007A0000005590010').sw, '6881');
  });
});

describe('SELECT', () => {
  test('by full AID or a 5-byte prefix answers a bare 9000; unknown AID is 6A82', () => {
    const c = card();
    send(c, '0070000001');
    assert.deepEqual(send(c, SELECT_1), { data: '', sw: '9000' });
    assert.equal(send(c, '01A4040005A000000559').sw, '9000');
    assert.equal(send(c, '01A4040007A0000000871002').sw, '6A82');
  });
  test('bad P1/P2 and lengths', () => {
    const c = card();
    assert.equal(send(c, '00A40000023F00').sw, '6A82');
    assert.equal(send(c, '00A4FF0007A0000005590010').sw, '6A86');
    assert.equal(send(c, '00A4040107A0000005590010').sw, '6A86');
    assert.equal(send(c, '00A4040002A000').sw, '6700');
  });
  test('a non multi-selectable applet refuses a second channel with 6985 (Kigen)', () => {
    const c = card('kigen');
    send(c, '0070000001');
    send(c, '0070000001');
    assert.equal(send(c, SELECT_1).sw, '9000');
    assert.equal(send(c, '02A4040007A0000005590010').sw, '6985');
  });
  test('with no applet selected, applet instructions get 6D00', () => {
    assert.equal(send(card(), '80CB000000').sw, '6D00');
  });
});

describe('class and instruction checks', () => {
  test('unknown CLA 6E00, unknown INS 6D00, SM 6882/6982, chaining 6884, short APDU 6700', () => {
    const c = card();
    assert.equal(send(c, 'FF840000').sw, '6E00');
    assert.equal(send(c, '20840000').sw, '6E00');
    assert.equal(send(c, '00A40400').sw, '6700');
    assert.equal(send(c, '0C84000008').sw, '6882'); // nothing selected handles secure messaging
    send(c, '00A4040007A0000005590010');
    assert.equal(send(c, '80FE0000').sw, '6D00');
    assert.equal(send(c, '8484000008').sw, '6982'); // the applet does, but no secure channel is open
    assert.equal(send(c, '9084000008').sw, '6884');
    assert.equal(send(c, '8084').sw, '6700');
    assert.equal(send(c, '802A000105AABB').sw, '6700');
  });
  test('a personality that accepts only 8N refuses 0N with 6E00 (and the reverse)', () => {
    const z = card('zariot');
    send(z, '00A4040007A0000005590010');
    assert.equal(send(z, '0084000008').sw, '6E00');
    assert.equal(send(z, '8084000008').sw, '9000');
    const o = card('orange-partner');
    send(o, '00A4040007A0000005590010');
    assert.equal(send(o, '8084000008').sw, '6E00');
    assert.equal(send(o, '0084000008').sw, '9000');
  });
});

describe('T=0 transmission (ISO 7816-3 §10.3.3)', () => {
  test('case 2 with the right Le gives data; a wrong Le gives 6Cxx', () => {
    const c = card('zariot');
    send(c, '00A4040007A0000005590010');
    assert.equal(send(c, '80CB000000').sw.slice(0, 2), '6C');
    const right = send(c, '80CB000000').sw.slice(2);
    const answer = send(c, `80CB0000${right}`);
    assert.equal(answer.sw, '9000');
    assert.equal(answer.data.length / 2, Number.parseInt(right, 16));
  });
  test('case 3/4 commands with response data answer 61xx; GET RESPONSE fetches it, in parts too', () => {
    const c = card('zariot');
    send(c, '00A4040007A0000005590010');
    const first = send(c, '80CD000003850106');
    assert.deepEqual(first, { data: '', sw: '6147' });
    const part = send(c, '80C0000010');
    assert.equal(part.sw, '6137');
    const rest = send(c, '00C0000037');
    assert.equal(rest.sw, '9000');
    assert.equal(
      part.data + rest.data,
      `34454943864104${'9E5B7F778B7997617C8993B6406608EFE2D3F2D6751D6B3F5F5320FFFD6A7DC9A8F6C5C1474F64D668364AE2ED8DC4C1C6C4767423B013937B4499F52C4F89A0'}`,
    );
    assert.equal(send(c, '00C0000010').sw, '6985'); // nothing pending any more
  });
  test('GET RESPONSE with too large an Le is 6Cxx; another command discards pending data', () => {
    const c = card('zariot');
    send(c, '00A4040007A0000005590010');
    send(c, '80CD000003850106');
    assert.equal(send(c, '00C0000050').sw, '6C47');
    send(c, '8084000008');
    assert.equal(send(c, '00C0000047').sw, '6985');
    assert.equal(send(c, '00C0010047').sw, '6A86');
  });
});

describe('T=1 transmission', () => {
  test('data comes with the command; a short Le gives the first bytes and 61xx for the rest', () => {
    const c = card();
    send(c, '00A4040007A0000005590010');
    assert.equal(send(c, '80CD000003850106').data.length, 0x47 * 2);
    const part = send(c, '80CD00000385010610');
    assert.equal(part.sw, '6137');
    assert.equal(send(c, '80C0000037').sw, '9000');
  });
});

describe('reset', () => {
  test('closes channels and forgets selections', () => {
    const c = card();
    send(c, '0070000001');
    send(c, SELECT_1);
    c.reset();
    assert.equal(send(c, '8184000008').sw, '6881');
    assert.equal(send(c, '8084000008').sw, '6D00');
  });
});
