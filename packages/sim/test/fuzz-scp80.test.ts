// Seeded fuzzing of the SCP80 receiving entity: command packets whose SPI, KIc and KID are mutated,
// each built correctly under the algorithms its mutated KIc/KID name with the key set's key bytes (as
// an attacker who has broken the 56-bit DES half of a key would build it). None may run with a weaker
// algorithm than its key set's, or below the TAR's minimum security level (cipher, CC, higher counter).
// Scale with FUZZ_SCP80_PACKETS, reproduce with FUZZ_SEED (both printed on failure).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type ChecksumAlgorithm,
  type CipherAlgorithm,
  checksumAlgorithm,
  cipherAlgorithm,
  commandPacketUserData,
  concatBytes,
  decodeSpi,
  encodeCommandPacket,
  encodeSmsDeliver,
  encodeSmsPpDownload,
  hexToBytes,
} from '@iotsafe/protocol';
import { CardError, type KeySet, OtaReceiver, scp80KeySet } from '@iotsafe/sim';
import { SeededRandom } from '../../../test/helpers/random.js';

const TOTAL = Number(process.env.FUZZ_SCP80_PACKETS ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const AES = 0x88;
const DES = 0x80;

/** The key sets, and the KIc/KID low nibble (TS 102 225 §5.1.2) and algorithms each is for. */
const SETS: {
  kvn: number;
  type: number;
  length: number;
  nibble: number;
  cipher: CipherAlgorithm;
  checksum: ChecksumAlgorithm;
}[] = [
  { kvn: 1, type: AES, length: 16, nibble: 0x2, cipher: 'aes-cbc', checksum: 'aes-cmac' },
  { kvn: 2, type: DES, length: 16, nibble: 0x5, cipher: '3des-2key', checksum: '3des-2key-mac' },
  { kvn: 3, type: DES, length: 24, nibble: 0x9, cipher: '3des-3key', checksum: '3des-3key-mac' },
  { kvn: 4, type: DES, length: 8, nibble: 0x1, cipher: 'des-cbc', checksum: 'des-mac' },
  { kvn: 5, type: AES, length: 32, nibble: 0x2, cipher: 'aes-cbc', checksum: 'aes-cmac' },
];
/** Cipher strength order, so "weaker" can be told: single DES < 3DES 2-key < 3-key < AES. */
const STRENGTH: Record<string, number> = {
  'des-ecb': 0,
  'des-cbc': 1,
  'des-mac': 1,
  '3des-2key': 2,
  '3des-2key-mac': 2,
  '3des-3key': 3,
  '3des-3key-mac': 3,
  'aes-cbc': 4,
  'aes-cmac': 4,
};

/** The key bytes as an attacker would use them under another algorithm (cut or repeated to size). */
function keyFor(algorithm: string, key: Uint8Array): Uint8Array {
  const size = algorithm.startsWith('des')
    ? 8
    : algorithm.startsWith('3des-2key')
      ? 16
      : algorithm.startsWith('3des-3key')
        ? 24
        : key.length === 8
          ? 16
          : key.length;
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = key[i % key.length]!;
  return out;
}

const named = <T>(read: () => T): T | undefined => {
  try {
    return read();
  } catch {
    return undefined;
  }
};

function flipBits(r: SeededRandom, byte: number): number {
  let b = byte;
  for (let k = 1 + r.int(2); k > 0; k--) b ^= 1 << r.int(8);
  return b;
}

test(`${TOTAL} SCP80 packets with mutated SPI, KIc and KID: none runs with a weaker algorithm than its key set's`, {
  timeout: 600_000,
}, (t) => {
  const r = new SeededRandom(SEED);
  const keySets: KeySet[] = SETS.map((s) =>
    scp80KeySet(s.kvn, { kic: r.bytes(s.length), kid: r.bytes(s.length) }, s.type),
  );
  const ran: { kvn: number; spi: Uint8Array; kic: number; kid: number }[] = [];
  let current: { spi: Uint8Array; kic: number; kid: number } | undefined;
  const receiver = new OtaReceiver({
    targets: new Map([
      [
        '000000',
        {
          open: () => (_apdu, _level, keySet) => {
            ran.push({ kvn: keySet.keyVersion, ...current! });
            return { data: new Uint8Array(0), sw: 0x9000 };
          },
        },
      ],
    ]),
    keySets: () => keySets,
    commitCounter: (set, counter) => {
      set.otaCounter = counter;
    },
  });
  const tally = { ran: 0, weakerWellFormed: 0, refused: 0 };
  for (let i = 0; i < TOTAL; i++) {
    const s = r.int(SETS.length);
    const spec = SETS[s]!;
    const set = keySets[s]!;
    let spi = Uint8Array.of(0x16, r.pick([0x19, 0x39, 0x01, 0x21, 0x09]));
    let kic = (spec.kvn << 4) | spec.nibble;
    let kid = kic;
    if (r.int(10) < 8) {
      const what = r.int(6);
      if (what === 0) spi = Uint8Array.of(flipBits(r, spi[0]!), spi[1]!);
      else if (what === 1) spi = Uint8Array.of(r.int(256), flipBits(r, spi[1]!));
      else if (what === 2) kic = (kic & 0xf0) | r.int(16);
      else if (what === 3) kid = (kid & 0xf0) | r.int(16);
      else if (what === 4) kic = kid = (kic & 0xf0) | r.int(16);
      else [spi, kic, kid] = [Uint8Array.of(flipBits(r, spi[0]!), spi[1]!), r.int(256), r.int(256)];
    }
    const counter = r.int(20) === 0 ? BigInt(r.int(1000)) : (set.otaCounter ?? 0n) + 1n;
    const cipher = named(() => cipherAlgorithm(kic));
    const checksum = named(() => checksumAlgorithm(kid));
    const input = { spi, kic, kid, tar: hexToBytes('000000'), counter, data: hexToBytes('80CA00CF00') };
    const keys = {
      kic: keyFor(cipher ?? 'aes-cbc', set.keys[0]!.value),
      kid: keyFor(checksum ?? 'aes-cmac', set.keys[1]!.value),
    };
    let packet = named(() => encodeCommandPacket(input, keys));
    const wellFormed = packet !== undefined;
    if (!packet) {
      // an algorithm this stack does not encode (proprietary, DS, reserved PoR): the header as mutated,
      // over a body the card cannot check
      packet = encodeCommandPacket({ ...input, spi: Uint8Array.of(0x00, 0x00), kic: 0, kid: 0 }, {});
      packet.set(spi, 3);
      packet.set([kic, kid], 5);
    }
    const decoded = named(() => decodeSpi(spi));
    const weaker =
      decoded !== undefined &&
      ((decoded.ciphered && cipher !== undefined && STRENGTH[cipher]! < STRENGTH[spec.cipher]!) ||
        (decoded.integrity === 'cc' &&
          checksum !== undefined &&
          STRENGTH[checksum]! < STRENGTH[spec.checksum]!));
    if (wellFormed && weaker && kic >> 4 === spec.kvn && kid >> 4 === spec.kvn) tally.weakerWellFormed++;
    current = { spi, kic, kid };
    const before = ran.length;
    const envelope = encodeSmsPpDownload(
      encodeSmsDeliver({
        originator: { digits: '447700900123', toa: 0x91 },
        pid: 0x7f,
        dcs: 0xf6,
        timestamp: hexToBytes('22705200000000'),
        userData: commandPacketUserData(packet)[0]!,
        userDataHeader: true,
      }),
    ).subarray(5);
    try {
      receiver.receive(envelope);
    } catch (error) {
      if (!(error instanceof CardError)) throw error;
    }
    const where = () =>
      `seed ${SEED}, packet #${i}: ${Buffer.from(concatBytes(packet!)).toString('hex')} on key set ${spec.kvn}`;
    if (ran.length === before) {
      tally.refused++;
      continue;
    }
    tally.ran++;
    const run = ran.at(-1)!;
    const spiRun = decodeSpi(run.spi);
    const ok =
      run.kvn === spec.kvn &&
      spiRun.ciphered &&
      spiRun.integrity === 'cc' &&
      (spiRun.counter === 'higher' || spiRun.counter === 'next') &&
      cipherAlgorithm(run.kic) === spec.cipher &&
      checksumAlgorithm(run.kid) === spec.checksum;
    if (!ok)
      assert.fail(`ran with ${cipher}/${checksum} and SPI ${Buffer.from(spi).toString('hex')}: ${where()}`);
  }
  t.diagnostic(JSON.stringify({ ...tally, refusals: Object.fromEntries(receiver.refusals) }));
  // the fuzzer proves something only if it both ran packets and tried real downgrades
  assert.ok(tally.ran > TOTAL / 20, JSON.stringify(tally));
  assert.ok(tally.weakerWellFormed > TOTAL / 50, JSON.stringify(tally));
});
