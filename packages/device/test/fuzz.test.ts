// Seeded fuzzing of everything that parses what a card (or anyone on the wire) sends: the TLV readers,
// the response parsers, and the client itself talking to a card that answers garbage. Only typed
// errors may come out: FormatError, StatusWordError, TransportError.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byId, IoTSafe, MemoryTransport, TransportError } from '@iotsafe/device';
import {
  bytesToHex,
  decodeApplicationInfo,
  decodeBerTlvs,
  decodeIotTlvs,
  decodeKeyPairGenerated,
  decodeObjectList,
  decodePublicKeyData,
  decodeSignatureResponse,
  ecdsaDerToRaw,
  encodeApplicationInfo,
  encodeKeyPairGenerated,
  FormatError,
  paddedIdentifier,
  parseCommandApdu,
  parseResponseApdu,
  StatusWordError,
  wrapDescriptor,
} from '@iotsafe/protocol';
import { VirtualSim } from '@iotsafe/sim';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';
import { SeededRandom } from '../../../test/helpers/random.js';

const SEED = Number(process.env.FUZZ_SEED ?? 7);

function mutate(r: SeededRandom, input: Uint8Array): Uint8Array {
  let out = Uint8Array.from(input);
  for (let m = 1 + r.int(3); m > 0; m--) {
    const op = r.int(4);
    if (op === 0 && out.length) out[r.int(out.length)] ^= 1 << r.int(8);
    else if (op === 1) out = out.subarray(0, r.int(out.length + 1));
    else if (op === 2) out = Uint8Array.from([...out, ...r.bytes(1 + r.int(6))]);
    else if (out.length) out[r.int(out.length)] = r.int(256);
  }
  return out;
}

const SEEDS = [
  wrapDescriptor({
    objectClass: 'file',
    id: Uint8Array.of(2),
    label: 'cert',
    access: 1,
    state: 1,
    fileUsage: 2,
    fileSize: 600,
  }),
  encodeApplicationInfo({
    simAllianceVersion: 16,
    proprietaryId: paddedIdentifier('x'),
    maxFiles: 1,
    maxPrivateKeys: 1,
    maxPublicKeys: 1,
    maxSecrets: 1,
    cryptoFunctions: 15,
    hashAlgorithms: 7,
    signatureAlgorithms: 4,
    keyAgreementAlgorithms: 1,
    kdfAlgorithms: 3,
    maxSessions: 1,
  }),
  encodeKeyPairGenerated({
    privateKeyId: Uint8Array.of(1),
    publicKeyId: Uint8Array.of(1),
    publicKey: new Uint8Array(65).fill(4),
  }),
  Uint8Array.from([0x33, 0x00, 0x40, ...new Uint8Array(64).fill(9)]),
  Uint8Array.from([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]),
];

const PARSERS: [string, (b: Uint8Array) => unknown][] = [
  ['decodeIotTlvs', (b) => decodeIotTlvs(b)],
  ['decodeIotTlvs fixed3', (b) => decodeIotTlvs(b, 'fixed3')],
  ['decodeBerTlvs', decodeBerTlvs],
  ['decodeObjectList', decodeObjectList],
  ['decodeApplicationInfo', decodeApplicationInfo],
  ['decodeKeyPairGenerated', decodeKeyPairGenerated],
  ['decodePublicKeyData', decodePublicKeyData],
  ['decodeSignatureResponse', (b) => decodeSignatureResponse(b, 32)],
  ['ecdsaDerToRaw', (b) => ecdsaDerToRaw(b, 32)],
  ['parseCommandApdu', parseCommandApdu],
  ['parseResponseApdu', parseResponseApdu],
];

test('response and TLV parsers throw only FormatError on 400,000 random and mutated inputs', () => {
  const r = new SeededRandom(SEED);
  for (let i = 0; i < 400_000; i++) {
    const input = r.int(3) === 0 ? r.bytes(r.int(80)) : mutate(r, r.pick(SEEDS));
    const [name, parse] = PARSERS[i % PARSERS.length]!;
    try {
      parse(input);
    } catch (error) {
      if (!(error instanceof FormatError))
        assert.fail(`${name} threw ${String(error)} on ${bytesToHex(input)} (seed ${SEED}, #${i})`);
    }
  }
});

test('the client facing a card that corrupts its answers fails only with typed errors', async () => {
  const r = new SeededRandom(SEED + 1);
  const operations: ((c: IoTSafe) => Promise<unknown>)[] = [
    (c) => c.applicationInfo(),
    (c) => c.listObjects(),
    (c) => c.readFile(byId('02')),
    (c) => c.generateKeyPair(byId('01')),
    (c) => c.readPublicKey(byId('01')),
    (c) => c.sign(byId('01'), { digest: new Uint8Array(32) }),
    (c) => c.verify(byId('01'), { digest: new Uint8Array(32) }, new Uint8Array(64)),
    (c) => c.random(32),
    (c) => c.computeDH(byId('01'), byId('06')),
    (c) => c.hkdfExtract({ ikm: new Uint8Array(32), salt: new Uint8Array(32) }),
  ];
  for (let i = 0; i < 3000; i++) {
    const sim = VirtualSim.inMemory(TEST_PROFILE, {
      personality: r.pick(['reference', 'zariot', 'thales-mvp']),
    });
    const corruption = 0.05 + r.int(50) / 100;
    const card = {
      transmit: (apdu: Uint8Array) => {
        const honest = sim.card.transmit(apdu);
        if (r.int(100) / 100 >= corruption) return honest;
        return r.int(4) === 0 ? r.bytes(r.int(3)) : mutate(r, honest);
      },
    };
    try {
      const client = await IoTSafe.connect(new MemoryTransport(card));
      await r.pick(operations)(client);
    } catch (error) {
      const typed =
        error instanceof FormatError || error instanceof StatusWordError || error instanceof TransportError;
      if (!typed)
        assert.fail(`client threw ${String(error)} (seed ${SEED + 1}, #${i})\n${(error as Error).stack}`);
    }
  }
});
