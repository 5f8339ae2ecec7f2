// Seeded fuzzing of SCP03 sessions on the card: a command wrapped by the host, one bit of it flipped
// (header, Lc, data, MAC or Le), sent to the card. Every one is refused, or runs exactly the command the
// host authenticated (its answer verifies under the host's R-MAC and is the expected answer; Le is
// outside the C-MAC, Amd D §6.2.4, so a flipped Le may change how much comes back). A refusal
// on the session's channel ends the session (the original is refused after it); a flip that names
// another logical channel is that channel's command and leaves the session alone. Nothing changes on
// the card. Scale with FUZZ_SCP03_FLIPS, reproduce with FUZZ_SEED (both printed on failure).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bytesToHex,
  decodeClass,
  IOTSAFE_AID,
  type ResponseApdu,
  type Scp03HostSession,
} from '@iotsafe/protocol';
import { VirtualSim } from '@iotsafe/sim';
import { GP_TEST_KEYS, TEST_PROFILE } from '../../../test/helpers/cards.js';
import { SeededRandom } from '../../../test/helpers/random.js';
import { exchange, openRawScp03, wrapHex } from '../../../test/helpers/scp03-card.js';

const TOTAL = Number(process.env.FUZZ_SCP03_FLIPS ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const ISD = Uint8Array.of(0xa0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00);
const LEVELS = [0x11, 0x13, 0x33]; // each with R-MAC, so what ran is proven by the answer

interface Target {
  name: string;
  channel: number;
  aid: Uint8Array;
  /** Commands that succeed under the session; `fixed` when the answer is the same every time. */
  commands: { plain: string; fixed: boolean }[];
}

const TARGETS: Target[] = [
  {
    name: 'the ISD on the basic channel',
    channel: 0,
    aid: ISD,
    commands: [
      { plain: '80F28002024F0000', fixed: true }, // GET STATUS ISD (case 4)
      { plain: '80F24002024F0000', fixed: true }, // GET STATUS applications
      { plain: '80CA00CF00', fixed: true }, // GET DATA KDD (case 2)
      { plain: '80CA9F7F00', fixed: true }, // GET DATA CPLC
      { plain: '80CA00E000', fixed: true }, // key information
    ],
  },
  {
    name: 'the IoT SAFE applet on channel 1',
    channel: 1,
    aid: IOTSAFE_AID,
    commands: [
      { plain: '81CB000000', fixed: true }, // application information
      { plain: '81CBC30003830102', fixed: true }, // file info (case 3 with an implied answer)
      { plain: '81B00000038301020A', fixed: true }, // READ FILE, 10 bytes
      { plain: '8184000020', fixed: false }, // GET RANDOM 32
    ],
  },
];

const hex = (sw: number) => sw.toString(16).toUpperCase().padStart(4, '0');
/** The channel a CLA names (its channel bits where the class is not one this card defines). */
const channelOf = (cla: number) => decodeClass(cla)?.channel ?? (cla & 0x40 ? 4 + (cla & 0x0f) : cla & 0x03);

function fuzz(target: Target, count: number, seed: number) {
  const r = new SeededRandom(seed);
  // i = 60: R-MAC and R-ENC available, random card challenges (cheaper to reopen than pseudo-random ones)
  const sim = VirtualSim.inMemory(TEST_PROFILE, { isdKeys: { keys: GP_TEST_KEYS, i: 0x60 } });
  if (target.channel !== 0) sim.card.transmit(Uint8Array.of(0x00, 0x70, 0x00, 0x00, 0x01));
  const open = () =>
    openRawScp03(sim.card, {
      keys: GP_TEST_KEYS,
      level: r.pick(LEVELS),
      channel: target.channel,
      select: target.aid,
    });
  // the expected answers, from one clean session
  let host = open();
  const expected = target.commands.map((c) =>
    bytesToHex(host.unwrap(exchange(sim.card, wrapHex(host, c.plain), target.channel)).data),
  );
  const before = {
    version: sim.store.version,
    isd: JSON.stringify(sim.isd, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
  };
  const tally = { refusedEnded: 0, otherChannel: 0, ranExactly: 0 };
  const check = (
    host: Scp03HostSession,
    index: number,
    response: ResponseApdu,
    where: () => string,
    le?: number,
  ) => {
    let answer: string;
    try {
      answer = bytesToHex(host.unwrap(response).data); // the R-MAC must verify under the host's MCV
    } catch (error) {
      assert.fail(`${(error as Error).message}: ${where()}`);
    }
    const fixed = target.commands[index]!.fixed;
    const want = expected[index]!;
    const ok =
      le === undefined
        ? fixed
          ? answer === want
          : answer.length === 64
        : fixed
          ? answer.startsWith(want) || want.startsWith(answer) // a flipped Le changes only the length
          : answer.length === 2 * le;
    if (!ok) assert.fail(`not the authenticated command's answer (${answer}): ${where()}`);
  };
  for (let i = 0; i < count; i++) {
    const index = r.int(target.commands.length);
    const wrapped = wrapHex(host, target.commands[index]!.plain);
    const flipped = Uint8Array.from(wrapped);
    const bit = r.int(flipped.length * 8);
    flipped[bit >> 3]! ^= 1 << (bit & 7);
    const where = () =>
      `${target.name}, seed ${seed}, flip #${i} of bit ${bit}: ${bytesToHex(flipped)} (was ${bytesToHex(wrapped)})`;
    const response = exchange(sim.card, flipped, target.channel);
    const leByte = bit >> 3 === flipped.length - 1 && wrapped.length - 5 !== wrapped[4];
    if (response.sw === 0x9000) {
      check(host, index, response, where, leByte ? flipped.at(-1)! || 256 : undefined);
      tally.ranExactly++;
    } else if (channelOf(flipped[0]!) !== target.channel) {
      // another channel's command: the session here is untouched, the original runs
      check(host, index, exchange(sim.card, wrapped, target.channel), where);
      tally.otherChannel++;
    } else {
      const original = exchange(sim.card, wrapped, target.channel);
      if (original.sw !== 0x6982)
        assert.fail(
          `the session survived a refused ${hex(response.sw)} (then ${hex(original.sw)}): ${where()}`,
        );
      tally.refusedEnded++;
      host = open();
    }
    if (sim.card.internalErrors > 0)
      assert.fail(`handler threw ${String(sim.card.lastInternalError)}: ${where()}`);
  }
  assert.equal(sim.store.version, before.version, 'the applet store changed');
  assert.equal(
    JSON.stringify(sim.isd, (_k, v) => (typeof v === 'bigint' ? String(v) : v)).replace(
      /"sequenceCounter":\d+/g,
      '',
    ),
    before.isd.replace(/"sequenceCounter":\d+/g, ''),
  );
  // every kind of outcome was reached, or the fuzzer proves little
  assert.ok(tally.refusedEnded > 0 && tally.otherChannel > 0 && tally.ranExactly > 0, JSON.stringify(tally));
  return tally;
}

for (const [n, target] of TARGETS.entries()) {
  const count = Math.round(TOTAL / TARGETS.length);
  test(`${count} SCP03 commands with one bit flipped, to ${target.name}`, { timeout: 600_000 }, (t) => {
    const tally = fuzz(target, count, SEED + n);
    t.diagnostic(JSON.stringify(tally));
  });
}
