// Seeded fuzzing of the card: random and mutated APDUs. Every answer must end in a valid status word,
// no exception may escape a handler (the runtime counts them), and the store may change only through
// a legal command that succeeded. Reproduce a failure with FUZZ_SEED=<seed printed in the message>.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytesToHex, hexToBytes, INS, isValidStatusWord } from '@iotsafe/protocol';
import { VirtualSim } from '@iotsafe/sim';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';
import { SeededRandom } from '../../../test/helpers/random.js';

const TOTAL = Number(process.env.FUZZ_APDUS ?? 1_000_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261128);

/** Valid commands of every kind: the mutation corpus. */
const CORPUS = [
  '0070000001',
  '0070800100',
  '00A4040007A0000005590010',
  '01A4040007A0000005590010',
  '00C0000010',
  '8084000010',
  '80CB000000',
  '80CB010000',
  '80CB010100',
  '80CBC30003830102',
  '80CBC10003840101',
  '80B0000003830102',
  '80B0010003830102',
  '80B9000003840101',
  '80B9000003840104',
  '80CD000003850101',
  '8024000303850105',
  '80D8800347344549438641049E5B7F778B7997617C8993B6406608EFE2D3F2D6751D6B3F5F5320FFFD6A7DC9A8F6C5C1474F64D668364AE2ED8DC4C1C6C4767423B013937B4499F52C4F89A0',
  '8024010300',
  '802A00010D840101A1010391020001920104',
  '802B8001229E20B94D27B9934D3E08A52E52D7DA7DABFAC484EFE37A5380EE9088F7ACE2EFCDE9',
  '802B0001069B0400000401',
  '802A010100',
  '802C00020D850101A1010391020001920104',
  `802D8002659E20${'11'.repeat(32)}330040${'22'.repeat(64)}`,
  '802C010200',
  '8046000006840104850105',
  '804800001FD1100102030405060708090A0B0C0D0E0F10D2080001020304050607D30120',
  '8048010018860110D2100102030405060708090A0B0C0D0E0F10D30130',
  '804A00002BD1160B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0BD50D000102030405060708090A0B0C91020001',
  '804A01000A860111D5010091020002',
].map((c) => hexToBytes(c));

const CLASSES = [0x00, 0x01, 0x02, 0x03, 0x80, 0x81, 0x82, 0x83, 0x40, 0xc0, 0x0c, 0x10, 0xff, 0x20];
const INSTRUCTIONS = [...Object.values(INS), 0x00, 0xff, 0xca, 0xe2, 0x50];
const MUTATING_INS = new Set<number>([INS.GENERATE_KEY_PAIR, INS.PUT_PUBLIC_KEY_UPDATE]);

function nextApdu(r: SeededRandom): Uint8Array {
  const kind = r.int(10);
  if (kind === 0) return r.bytes(r.int(270)); // noise
  if (kind <= 2) {
    // structured: plausible header, random TLV-ish data, random length bytes
    const data = r.bytes(r.int(60));
    const header = [
      r.pick(CLASSES),
      r.pick(INSTRUCTIONS),
      r.pick([0, 0, 1, 0x80, 0xc3, r.int(256)]),
      r.pick([0, 1, 2, r.int(256)]),
    ];
    const tail = r.int(3) === 0 ? [r.int(256)] : [];
    return Uint8Array.from([...header, ...(data.length ? [data.length, ...data] : []), ...tail]);
  }
  const apdu = Uint8Array.from(r.pick(CORPUS));
  if (kind === 3) return apdu; // the valid command itself, so the card reaches deep states
  const mutations = 1 + r.int(4);
  let out = apdu;
  for (let m = 0; m < mutations; m++) {
    const op = r.int(6);
    if (op === 0 && out.length) out[r.int(out.length)] ^= 1 << r.int(8);
    else if (op === 1 && out.length) out[r.int(out.length)] = r.int(256);
    else if (op === 2) out = out.subarray(0, r.int(out.length + 1));
    else if (op === 3) out = Uint8Array.from([...out, ...r.bytes(1 + r.int(8))]);
    else if (op === 4 && out.length > 4)
      out[4] = r.int(256); // Lc
    else if (out.length > 0) out[0] = r.pick(CLASSES);
  }
  return out;
}

function fuzz(personality: string, count: number, seed: number): void {
  const r = new SeededRandom(seed);
  const sim = VirtualSim.inMemory(TEST_PROFILE, { personality });
  const card = sim.card;
  for (let i = 0; i < count; i++) {
    if (i % 50_000 === 0) card.reset();
    const apdu = nextApdu(r);
    const version = sim.store.version;
    const response = card.transmit(apdu);
    const where = `${personality} seed ${seed} APDU #${i} ${bytesToHex(apdu)}`;
    if (response.length < 2) assert.fail(`no status word: ${where}`);
    const sw = (response[response.length - 2]! << 8) | response[response.length - 1]!;
    if (!isValidStatusWord(sw)) assert.fail(`invalid SW ${sw.toString(16)}: ${where}`);
    if (card.internalErrors > 0) assert.fail(`handler threw ${String(card.lastInternalError)}: ${where}`);
    if (sim.store.version !== version) {
      const legal = apdu.length > 1 && MUTATING_INS.has(apdu[1]!) && (sw === 0x9000 || sw >> 8 === 0x61);
      if (!legal) assert.fail(`store changed through SW ${sw.toString(16)}: ${where}`);
    }
    if (i % 100_000 === 0) assert.deepEqual(sim.checkConsistency(), [], where);
  }
  assert.deepEqual(sim.checkConsistency(), []);
}

const SHARES: [string, number][] = [
  ['reference', 0.4],
  ['zariot', 0.2],
  ['thales-mvp', 0.2],
  ['m33mu', 0.1],
  ['kigen', 0.1],
];

for (const [personality, share] of SHARES) {
  const count = Math.round(TOTAL * share);
  test(`${count} fuzzed APDUs through the ${personality} card`, { timeout: 600_000 }, () => {
    fuzz(personality, count, SEED + personality.length);
  });
}
