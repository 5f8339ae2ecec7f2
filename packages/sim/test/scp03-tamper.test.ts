// Tampered commands in an open SCP03 session (GPCS 10.2.3, Amd D §5.6): whatever layer refuses a
// command — the runtime (length, class, chaining, the SM indication) or the secure channel (MAC) —
// the session on that channel ends, so the untampered original is refused after it. A flip that makes
// the CLA address another logical channel is that channel's command and leaves the session alone; a
// flipped Le (outside the MAC) runs exactly the authenticated command.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bytesToHex, IOTSAFE_AID, parseCommandApdu, type Scp03HostSession } from '@iotsafe/protocol';
import { VirtualSim } from '@iotsafe/sim';
import { GP_TEST_KEYS, TEST_PROFILE } from '../../../test/helpers/cards.js';
import { exchange, openRawScp03, wrapHex } from '../../../test/helpers/scp03-card.js';

const ISD = Uint8Array.of(0xa0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00);
const hex = (sw: number) => sw.toString(16).toUpperCase().padStart(4, '0');

interface Target {
  name: string;
  channel: number;
  aid: Uint8Array;
  /** A command that succeeds with data under the session, and its expected plain answer (a prefix). */
  plain: string;
  /** A second command to prove the session still works. */
  again: string;
}

const TARGETS: Target[] = [
  { name: 'the ISD', channel: 0, aid: ISD, plain: '80F28002024F0000', again: '80CA00CF00' },
  {
    name: 'the IoT SAFE applet on channel 1',
    channel: 1,
    aid: IOTSAFE_AID,
    plain: '81CB000000',
    again: '81CB000000',
  },
];

function setUp(target: Target) {
  const sim = VirtualSim.inMemory(TEST_PROFILE, { isdKeys: { keys: GP_TEST_KEYS } });
  if (target.channel !== 0)
    assert.equal(bytesToHex(sim.card.transmit(Uint8Array.of(0, 0x70, 0, 0, 1))), '019000');
  const host = openRawScp03(sim.card, {
    keys: GP_TEST_KEYS,
    level: 0x33,
    channel: target.channel,
    select: target.aid,
  });
  return { sim, host };
}

/** Sends a wrapped command untampered and checks the session accepts it (R-MAC verified). */
function accepted(sim: VirtualSim, host: Scp03HostSession, target: Target, plainHex = target.again) {
  const response = exchange(sim.card, wrapHex(host, plainHex), target.channel);
  assert.equal(hex(response.sw), '9000');
  return host.unwrap(response);
}

interface Tamper {
  what: string;
  /** Byte index (negative from the end) and XOR mask. */
  at: number;
  mask: number;
  /** The SW the tampered command gets (any refusal when undefined). */
  sw?: string;
  /** The flipped CLA names another logical channel: refused there, the session here untouched. */
  otherChannel?: boolean;
}

const TAMPERS: Tamper[] = [
  { what: 'Lc + 1 (the Le byte read as data)', at: 4, mask: 0x01, sw: '6982' },
  { what: 'Lc + 2', at: 4, mask: 0x02, sw: '6700' },
  { what: 'Lc high bit', at: 4, mask: 0x80, sw: '6700' },
  { what: 'CLA chaining bit (b5)', at: 0, mask: 0x10, sw: '6884' },
  { what: 'CLA b6 (a class this card does not define)', at: 0, mask: 0x20, sw: '6E00' },
  { what: 'CLA b4 (ISO SM indication, not GP)', at: 0, mask: 0x08 },
  { what: 'CLA b3 (SM indication removed)', at: 0, mask: 0x04, sw: '6982' },
  { what: 'CLA b8 (interindustry class)', at: 0, mask: 0x80 },
  { what: 'a MAC bit', at: -2, mask: 0x01, sw: '6982' },
  { what: 'CLA b1 (another logical channel)', at: 0, mask: 0x01, otherChannel: true },
  { what: 'CLA b7 (further class, channel 4+)', at: 0, mask: 0x40, otherChannel: true },
];

for (const target of TARGETS) {
  describe(`SCP03 with ${target.name}: a tampered command`, () => {
    for (const t of TAMPERS) {
      test(`${t.what}: ${t.otherChannel ? "another channel's command, the session goes on" : 'refused, and the session ends'}`, () => {
        const { sim, host } = setUp(target);
        const wrapped = wrapHex(host, target.plain);
        const tampered = Uint8Array.from(wrapped);
        const at = t.at < 0 ? tampered.length + t.at : t.at;
        tampered[at]! ^= t.mask;
        const refused = exchange(sim.card, tampered, target.channel);
        assert.notEqual(hex(refused.sw), '9000', 'the tampered command ran');
        if (t.sw) assert.equal(hex(refused.sw), t.sw);
        const original = exchange(sim.card, wrapped, target.channel);
        if (t.otherChannel) {
          assert.equal(hex(original.sw), '9000');
          host.unwrap(original);
          accepted(sim, host, target);
        } else {
          assert.equal(hex(original.sw), '6982', 'the session survived the tampered command');
          // a new session opens as usual
          const fresh = openRawScp03(sim.card, {
            keys: GP_TEST_KEYS,
            level: 0x33,
            channel: target.channel,
            select: target.aid,
          });
          accepted(sim, fresh, target);
        }
        assert.equal(sim.card.internalErrors, 0);
      });
    }
    test('a flipped Le is outside the MAC: exactly the authenticated command runs', () => {
      const { sim, host } = setUp(target);
      const wrapped = wrapHex(host, target.plain);
      wrapped[wrapped.length - 1]! ^= 0x01;
      const response = exchange(sim.card, wrapped, target.channel);
      assert.equal(hex(response.sw), '9000');
      assert.ok(host.unwrap(response).data.length > 0);
      accepted(sim, host, target);
    });
    test('an INITIALIZE UPDATE with the SM indication (6E00) and an EXTERNAL AUTHENTICATE (6985) end it too', () => {
      for (const bad of ['8450000008A0A1A2A3A4A5A6A7', `8482330010${'00'.repeat(16)}`]) {
        const { sim, host } = setUp(target);
        const cla = (parseCommandApdu(Buffer.from(bad, 'hex')).cla | target.channel).toString(16);
        const sent = exchange(sim.card, Buffer.from(cla + bad.slice(2), 'hex'), target.channel);
        assert.ok(['6E00', '6985'].includes(hex(sent.sw)), hex(sent.sw));
        assert.equal(hex(exchange(sim.card, wrapHex(host, target.again), target.channel).sw), '6982');
      }
    });
  });
}

describe('SCP03: commands the runtime answers itself carry no secure messaging', () => {
  test('ENVELOPE (a GET DATA whose INS became C2) is 6882, and ends the session', () => {
    const target = TARGETS[0]!;
    const { sim, host } = setUp(target);
    const wrapped = wrapHex(host, '80CA00CF00');
    wrapped[1] = 0xc2;
    assert.equal(hex(exchange(sim.card, wrapped, 0).sw), '6882');
    assert.equal(hex(exchange(sim.card, wrapHex(host, '80CA00CF00'), 0).sw), '6982');
  });
  test('SELECT and MANAGE CHANNEL with the SM indication are 6882, and end the session', () => {
    const target = TARGETS[1]!;
    for (const ins of [0xa4, 0x70]) {
      const { sim, host } = setUp(target);
      const wrapped = wrapHex(host, '8124000303850105');
      wrapped[0] = 0x05; // interindustry class with SM, channel 1
      wrapped[1] = ins;
      assert.equal(hex(exchange(sim.card, wrapped, 1).sw), '6882');
      assert.equal(hex(exchange(sim.card, wrapHex(host, target.again), 1).sw), '6982');
    }
  });
});
