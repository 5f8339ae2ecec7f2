// The SCP80 receiving entity on the virtual SIM: RAM to the ISD over SMS-PP ENVELOPEs, the PoR in the
// ENVELOPE response; a new IoT SAFE certificate loaded in concatenated SMS; every refusal with its PoR
// status and nothing executed; counters persisted across a restart; fuzzed envelopes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  commandPacketUserData,
  compactPersonalizationScript,
  concatBytes,
  decodeCompactResponse,
  decodeResponsePacket,
  decodeSendShortMessage,
  decodeSmsSubmit,
  decodeSpi,
  encodeCommandApdu,
  encodeCommandPacket,
  encodeKeyData,
  encodePersoScript,
  encodePutKeySet,
  encodeSmsDeliver,
  encodeSmsPpDownload,
  hexToBytes,
  IOTSAFE_AID,
  parseResponseApdu,
  storeDataBlocks,
} from '@iotsafe/protocol';
import { scp80KeySet, VirtualSim } from '@iotsafe/sim';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';

const h = hexToBytes;
const KIC = new Uint8Array(16).fill(0x11);
const KID = new Uint8Array(16).fill(0x22);
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-ota-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function withOtaKeys(sim: VirtualSim): VirtualSim {
  sim.isd.keySets.push(scp80KeySet(1, { kic: KIC, kid: KID, kik: new Uint8Array(16).fill(0x33) }));
  return sim;
}

interface Send {
  spi?: string;
  tar?: string;
  counter: bigint;
  script: Uint8Array;
  kic?: number;
  /** The KID byte; the KIc byte by default. */
  kid?: number;
  keys?: { kic: Uint8Array; kid: Uint8Array };
}

function envelopes(s: Send): Uint8Array[] {
  const packet = encodeCommandPacket(
    {
      spi: h(s.spi ?? '1619'),
      kic: s.kic ?? 0x12,
      kid: s.kid ?? s.kic ?? 0x12,
      tar: h(s.tar ?? '000000'),
      counter: s.counter,
      data: s.script,
    },
    s.keys ?? { kic: KIC, kid: KID },
  );
  return commandPacketUserData(packet, 0x42).map((part) => envelopeOf(part));
}

function envelopeOf(userData: Uint8Array, originator = '1234'): Uint8Array {
  return encodeSmsPpDownload(
    encodeSmsDeliver({
      originator: { digits: originator, toa: 0x81 },
      pid: 0x7f,
      dcs: 0xf6,
      timestamp: h('22705200000000'),
      userData,
      userDataHeader: true,
    }),
  );
}

/** Sends one ENVELOPE and returns its response data (following 61xx) and SW. */
function transmit(sim: VirtualSim, envelope: Uint8Array): { data: Uint8Array; sw: number } {
  let r = parseResponseApdu(sim.card.transmit(envelope));
  if (r.sw >> 8 === 0x61)
    r = parseResponseApdu(sim.card.transmit(Uint8Array.of(0x00, 0xc0, 0, 0, r.sw & 0xff)));
  return r;
}

function por(sim: VirtualSim, s: Send) {
  let last: { data: Uint8Array; sw: number } = { data: new Uint8Array(0), sw: 0 };
  for (const e of envelopes(s)) last = transmit(sim, e);
  assert.equal(last.sw, 0x9000);
  const security = { spi: decodeSpi(h(s.spi ?? '1619')), kic: s.kic ?? 0x12, kid: s.kid ?? s.kic ?? 0x12 };
  return decodeResponsePacket(last.data, security, s.keys ?? { kic: KIC, kid: KID });
}

const getStatus = concatBytes(h('80f28002024f00'), h('00c0000000'));

describe('RAM over SCP80 (TAR 000000, the ISD)', () => {
  test('GET STATUS + GET RESPONSE: a ciphered, checksummed PoR with the compact response', () => {
    const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE));
    const answer = por(sim, { counter: 1n, script: getStatus });
    assert.equal(answer.status, 0);
    assert.equal(answer.secured, true);
    assert.equal(answer.counter, 1n);
    const compact = decodeCompactResponse(answer.data);
    assert.equal(compact.executed, 2);
    assert.equal(compact.sw, 0x9000);
    assert.ok(compact.data.length > 0, 'the registry entries');
  });

  test('a new IoT SAFE certificate in concatenated SMS, parts reordered and one duplicated', () => {
    const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE));
    const certificate = new Uint8Array(300).map((_, i) => (i * 13) & 0xff);
    const perso = encodePersoScript([
      {
        op: 'content',
        objectClass: 'file',
        ref: { id: Uint8Array.of(0x02) },
        content: { kind: 'file', content: certificate },
      },
    ]);
    const script = compactPersonalizationScript(IOTSAFE_AID, perso);
    const parts = envelopes({ counter: 5n, script });
    assert.ok(parts.length >= 3, `${parts.length} SMS`);
    const order = [parts.length - 1, 0, 0, ...parts.slice(1, -1).map((_, n) => n + 1)];
    let last: { data: Uint8Array; sw: number } = { data: new Uint8Array(0), sw: 0 };
    for (const n of order) last = transmit(sim, parts[n]!);
    const answer = decodeResponsePacket(
      last.data,
      { spi: decodeSpi(h('1619')), kic: 0x12, kid: 0x12 },
      { kic: KIC, kid: KID },
    );
    assert.equal(answer.status, 0);
    const compact = decodeCompactResponse(answer.data);
    assert.equal(compact.sw, 0x9000);
    assert.equal(compact.executed, 1 + storeDataBlocks(perso, 200).length);
    const file = sim.containers().find((c) => c.objectClass === 'file' && c.id[0] === 0x02)!;
    assert.deepEqual((file as { content?: Uint8Array }).content, certificate);
  });

  test('PUT KEY over OTA: a new key set KVN 2 protected by the KIK; packets under it are then accepted', () => {
    const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE));
    const kik = new Uint8Array(16).fill(0x33);
    const next = {
      enc: new Uint8Array(16).fill(0x71),
      mac: new Uint8Array(16).fill(0x72),
      dek: new Uint8Array(16).fill(0x73),
    };
    const putKey = encodeCommandApdu({
      cla: 0x80,
      ins: 0xd8,
      p1: 0x00,
      p2: 0x81,
      data: encodePutKeySet(0x02, kik, next),
    });
    const answer = por(sim, { counter: 1n, script: putKey });
    const compact = decodeCompactResponse(answer.data);
    assert.equal(compact.sw, 0x9000);
    assert.equal(compact.data[0], 0x02, 'the answer starts with the new KVN');
    const under2 = por(sim, {
      counter: 1n,
      kic: 0x22,
      keys: { kic: next.enc, kid: next.mac },
      script: getStatus,
    });
    assert.equal(under2.status, 0, under2.statusText);
    // the same PUT KEY with keys wrapped by another KIK fails on the key check values, nothing added
    const wrong = encodeCommandApdu({
      cla: 0x80,
      ins: 0xd8,
      p1: 0x00,
      p2: 0x81,
      data: encodePutKeySet(0x03, new Uint8Array(16), next),
    });
    assert.notEqual(decodeCompactResponse(por(sim, { counter: 2n, script: wrong }).data).sw, 0x9000);
    assert.equal(
      sim.isd.keySets.some((k) => k.keyVersion === 3),
      false,
    );
  });

  test('PUT KEY over OTA under a 3DES key set: new keys wrapped by the 3DES KIK (3DES-ECB)', () => {
    const DES = 0x80;
    const [kic, kid, kik] = [0x41, 0x42, 0x43].map((b) => new Uint8Array(16).fill(b)) as [
      Uint8Array,
      Uint8Array,
      Uint8Array,
    ];
    const sim = VirtualSim.inMemory(TEST_PROFILE);
    sim.isd.keySets.push(scp80KeySet(1, { kic, kid, kik }, DES));
    const next = [0x51, 0x52, 0x53].map((b) => new Uint8Array(16).fill(b)) as [
      Uint8Array,
      Uint8Array,
      Uint8Array,
    ];
    const putKey = (kvn: number, wrapWith: Uint8Array) =>
      encodeCommandApdu({
        cla: 0x80,
        ins: 0xd8,
        p1: 0x00,
        p2: 0x81,
        data: concatBytes(Uint8Array.of(kvn), ...next.map((k) => encodeKeyData(wrapWith, DES, k, 'des3'))),
      });
    // KIc/KID 15: 3DES with two keys, outer CBC, KVN 1 (TS 102 225 §5.1.2)
    const answer = por(sim, { counter: 1n, kic: 0x15, keys: { kic, kid }, script: putKey(0x02, kik) });
    const compact = decodeCompactResponse(answer.data);
    assert.equal(compact.sw, 0x9000);
    assert.equal(compact.data[0], 0x02);
    assert.equal(compact.data.length, 1 + 3 * 3, 'the KVN and a 3-byte 3DES KCV per key');
    const under2 = por(sim, {
      counter: 1n,
      kic: 0x25,
      keys: { kic: next[0], kid: next[1] },
      script: getStatus,
    });
    assert.equal(under2.status, 0, under2.statusText);
    // wrapped with another key: the KCVs do not match, nothing is added
    const wrong = por(sim, {
      counter: 2n,
      kic: 0x15,
      keys: { kic, kid },
      script: putKey(0x03, new Uint8Array(16)),
    });
    assert.notEqual(decodeCompactResponse(wrong.data).sw, 0x9000);
    assert.equal(
      sim.isd.keySets.some((k) => k.keyVersion === 3),
      false,
    );
  });

  test('DELETE over OTA removes the IoT SAFE instance', () => {
    const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE));
    const answer = por(sim, { counter: 1n, script: h('80e40000094f07a0000005590010') });
    assert.equal(decodeCompactResponse(answer.data).sw, 0x9000);
    assert.equal(sim.isd.application, undefined);
  });

  test('a locked applet takes a script in a checksummed packet, not one with only a CRC (6982)', () => {
    // an ISD that lets RC-only packets through (MSL and required level lowered): the applet decides
    const sim = withOtaKeys(
      VirtualSim.inMemory(TEST_PROFILE, { otaMinimumSecurityLevel: 0x01, isdRequiredLevel: 0 }),
    );
    const perso = (ops: Parameters<typeof encodePersoScript>[0]) =>
      compactPersonalizationScript(IOTSAFE_AID, encodePersoScript(ops));
    const write = (text: string) =>
      perso([
        {
          op: 'content',
          objectClass: 'file',
          ref: { id: Uint8Array.of(0x03) },
          content: { kind: 'file', content: new TextEncoder().encode(text) },
        },
      ]);
    const file = () =>
      new TextDecoder().decode(
        (
          sim.containers().find((c) => c.objectClass === 'file' && c.id[0] === 0x03) as {
            content?: Uint8Array;
          }
        ).content,
      );
    assert.equal(
      decodeCompactResponse(por(sim, { counter: 1n, script: perso([{ op: 'lock', scope: 'ota' }]) }).data).sw,
      0x9000,
    );
    assert.equal(sim.store.personalizationLocked, 'ota');
    const admitted = decodeCompactResponse(por(sim, { counter: 2n, script: write('over SCP80') }).data);
    assert.equal(admitted.sw, 0x9000, 'SPI 16 19: ciphered, cryptographic checksum');
    assert.equal(file(), 'over SCP80');
    const refused = decodeCompactResponse(
      por(sim, { spi: '1101', kid: 0x15, counter: 3n, script: write('RC') }).data,
    );
    assert.equal(refused.sw, 0x6982, 'SPI 11: a CRC authenticates nobody');
    assert.equal(refused.executed, 2, 'the ISD took the INSTALL [for personalization]; the applet refused');
    assert.equal(file(), 'over SCP80');
    assert.equal(sim.store.personalizationLocked, 'ota');
  });

  test('execution stops at the first error: the count includes it and its SW is reported', () => {
    const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE));
    const answer = por(sim, { counter: 1n, script: concatBytes(h('80e40000024f01'), getStatus) });
    const compact = decodeCompactResponse(answer.data);
    assert.equal(compact.executed, 1);
    assert.notEqual(compact.sw, 0x9000);
  });
});

describe('refusals: the PoR status, and nothing executed', () => {
  const certificateBefore = (sim: VirtualSim) =>
    (sim.containers().find((c) => c.objectClass === 'file' && c.id[0] === 0x02) as { content?: Uint8Array })
      .content;
  const deleteApp = h('80e40000094f07a0000005590010'); // DELETE the IoT SAFE instance: visible if it runs

  const cases: { name: string; status: number; send: Send; before?: Send }[] = [
    {
      name: 'wrong CC (KID key) → 01',
      status: 0x01,
      send: { counter: 1n, script: deleteApp, keys: { kic: KIC, kid: new Uint8Array(16) } },
    },
    {
      name: 'counter not above the last → 02',
      status: 0x02,
      before: { counter: 9n, script: getStatus },
      send: { counter: 9n, script: deleteApp },
    },
    {
      name: 'counter more than one above with SPI 1E → 03',
      status: 0x03,
      before: { counter: 3n, script: getStatus },
      send: { spi: '1e19', counter: 5n, script: deleteApp },
    },
    { name: 'unknown TAR → 09', status: 0x09, send: { tar: 'b00099', counter: 1n, script: deleteApp } },
    {
      name: 'below the minimum security level (CC only) → 0A',
      status: 0x0a,
      send: { spi: '1219', counter: 1n, script: deleteApp },
    },
    // The key set's stored algorithm decides (AES here): a packet naming a weaker one is a security error,
    // even when it is correctly formed under it (3DES with the 16 AES key bytes, DES with the first 8).
    ...(
      [
        ['KIc and KID 15 (3DES, 2 keys) on an AES key set', 0x15, 0x15],
        ['KIc and KID 11 (single DES: 56 bits of the key) on an AES key set', 0x11, 0x11],
        ['KIc 12 (AES) with KID 11 (DES CBC-MAC) on an AES key set', 0x12, 0x11],
        ['KIc 1D (DES-ECB) with KID 12 (AES-CMAC) on an AES key set', 0x1d, 0x12],
      ] as const
    ).map(([what, kic, kid]) => ({
      name: `${what} → 06`,
      status: 0x06,
      send: { kic, kid, counter: 1n, script: deleteApp },
    })),
    {
      name: 'ciphered without a CC (SPI 14) → 0A',
      status: 0x0a,
      send: { spi: '1419', counter: 1n, script: deleteApp },
    },
    {
      name: 'a CRC32 redundancy check instead of a CC (SPI 15, KID 15 = CRC32) → 0A',
      status: 0x0a,
      send: { spi: '1519', kid: 0x15, counter: 1n, script: deleteApp },
    },
    {
      name: 'no security at all (SPI 00) → 0A',
      status: 0x0a,
      send: { spi: '0019', counter: 1n, script: deleteApp },
    },
    {
      name: 'a counter without replay check (SPI 0E) where a higher counter is required → 0A',
      status: 0x0a,
      send: { spi: '0e19', counter: 1n, script: deleteApp },
    },
    {
      name: 'no key set with that KVN → 06',
      status: 0x06,
      send: { kic: 0x72, counter: 1n, script: deleteApp },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE));
      if (c.before) assert.equal(por(sim, c.before).status, 0);
      const counterBefore = sim.isd.keySets.find((k) => k.keyVersion === 1)!.otaCounter;
      const answer = por(sim, c.send);
      assert.equal(answer.status, c.status, answer.statusText);
      assert.equal(answer.secured, false, 'error PoRs go unsecured');
      assert.equal(sim.isd.application !== undefined, true, 'the DELETE did not run');
      assert.equal(sim.isd.keySets.find((k) => k.keyVersion === 1)!.otaCounter, counterBefore);
      assert.ok(certificateBefore(sim));
    });
  }

  test('a digital signature (SPI 17, which this card does not do) → 06, nothing run', () => {
    const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE));
    const packet = encodeCommandPacket(
      { spi: h('1419'), kic: 0x12, kid: 0x12, tar: h('000000'), counter: 1n, data: deleteApp },
      { kic: KIC, kid: KID },
    );
    packet[3] = 0x17;
    const r = transmit(sim, envelopeOf(commandPacketUserData(packet)[0]!));
    const security = { spi: decodeSpi(h('1419')), kic: 0x12, kid: 0x12 };
    assert.equal(decodeResponsePacket(r.data, security, { kic: KIC, kid: KID }).status, 0x06);
    assert.ok(sim.isd.application);
  });

  test('a PoR the card cannot build (SPI2 asks for a digital signature, or a CRC the KID does not code) → 06, nothing run', () => {
    for (const spi of ['161d', '1615']) {
      const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE));
      const answer = transmit(sim, envelopes({ spi, counter: 1n, script: deleteApp })[0]!);
      assert.equal(answer.sw, 0x9000);
      const security = { spi: decodeSpi(h('1601')), kic: 0x12, kid: 0x12 };
      assert.equal(decodeResponsePacket(answer.data, security, {}).status, 0x06);
      assert.ok(sim.isd.application, 'the DELETE did not run');
      assert.equal(sim.isd.keySets.find((k) => k.keyVersion === 1)!.otaCounter, undefined);
      assert.equal(sim.card.internalErrors, 0);
    }
  });

  test('a counter without replay check (where the TAR allows it) never lowers the stored counter', () => {
    const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE, { otaMinimumSecurityLevel: 0x06 }));
    const captured = envelopes({ counter: 5n, script: getStatus });
    assert.equal(por(sim, { counter: 10n, script: getStatus }).status, 0);
    assert.equal(por(sim, { spi: '0e19', counter: 3n, script: getStatus }).status, 0);
    assert.equal(sim.isd.keySets.find((k) => k.keyVersion === 1)!.otaCounter, 10n);
    const replay = transmit(sim, captured[0]!);
    const security = { spi: decodeSpi(h('1619')), kic: 0x12, kid: 0x12 };
    assert.equal(decodeResponsePacket(replay.data, security, { kic: KIC, kid: KID }).status, 0x02);
  });

  test('a ciphertext that is not whole blocks → 05', () => {
    const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE));
    const packet = encodeCommandPacket(
      { spi: h('1619'), kic: 0x12, kid: 0x12, tar: h('000000'), counter: 1n, data: deleteApp },
      { kic: KIC, kid: KID },
    );
    const cut = packet.slice(0, packet.length - 8); // half an AES block gone; CPL made to agree
    cut[0] = (cut.length - 2) >> 8;
    cut[1] = (cut.length - 2) & 0xff;
    const r = transmit(sim, envelopeOf(commandPacketUserData(cut)[0]!));
    const answer = decodeResponsePacket(
      r.data,
      { spi: decodeSpi(h('1619')), kic: 0x12, kid: 0x12 },
      { kic: KIC, kid: KID },
    );
    assert.equal(answer.status, 0x05);
    assert.ok(sim.isd.application);
  });

  test('a captured SMS replayed is refused (02) after it ran once', () => {
    const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE));
    const captured = envelopes({ counter: 7n, script: getStatus });
    const first = transmit(sim, captured[0]!);
    const replay = transmit(sim, captured[0]!);
    const security = { spi: decodeSpi(h('1619')), kic: 0x12, kid: 0x12 };
    assert.equal(decodeResponsePacket(first.data, security, { kic: KIC, kid: KID }).status, 0);
    assert.equal(decodeResponsePacket(replay.data, security, { kic: KIC, kid: KID }).status, 0x02);
  });

  test('malformed ENVELOPEs and UDHs are status words, never crashes; 5,000 fuzzed ENVELOPEs', () => {
    const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE));
    assert.equal(transmit(sim, h('80c2000003d10100')).sw, 0x6a80);
    const good = envelopes({ counter: 1n, script: new Uint8Array(200).fill(0x41) });
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let n = 0; n < 5000; n++) {
      const e = good[rand(good.length)]!.slice();
      for (let k = rand(4); k >= 0; k--) e[5 + rand(e.length - 5)] = rand(256);
      const r = sim.card.transmit(e);
      assert.ok(r.length >= 2);
    }
    assert.equal(sim.card.internalErrors, 0, String(sim.card.lastInternalError));
  });
});

describe('PoR by SMS-SUBMIT: no bounce to a forged sender', () => {
  /** SPI 16 39: cipher, CC, higher counter; PoR required, CC'd, ciphered, by SMS-SUBMIT (TS 31.115). */
  const VIA_SUBMIT = '1639';
  const security = { spi: decodeSpi(h(VIA_SUBMIT)), kic: 0x12, kid: 0x12 };
  /** One packet from `originator`: the ENVELOPE's answer, and the SMS-SUBMIT the card wants sent, if any. */
  function deliver(sim: VirtualSim, originator: string, keys = { kic: KIC, kid: KID }, counter = 1n) {
    const packet = encodeCommandPacket(
      { spi: h(VIA_SUBMIT), kic: 0x12, kid: 0x12, tar: h('000000'), counter, data: getStatus },
      keys,
    );
    const answer = parseResponseApdu(
      sim.card.transmit(envelopeOf(commandPacketUserData(packet)[0]!, originator)),
    );
    if (answer.sw >> 8 !== 0x91) return { answer, sms: undefined };
    const fetched = parseResponseApdu(sim.card.transmit(Uint8Array.of(0x80, 0x12, 0, 0, answer.sw & 0xff)));
    return { answer, sms: decodeSmsSubmit(decodeSendShortMessage(fetched.data)) };
  }
  const porIn = (data: Uint8Array) => decodeResponsePacket(data, security, { kic: KIC, kid: KID });

  test('an authenticated packet gets its PoR by SMS to its sender (the default policy)', () => {
    const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE));
    const { sms } = deliver(sim, '447700900123');
    assert.ok(sms, 'a SEND SHORT MESSAGE is waiting');
    assert.equal(sms.destination.digits, '447700900123');
    assert.equal(porIn(sms.userData).status, 0);
  });
  test('a forged packet (wrong CC) sends no SMS: its error PoR stays in the ENVELOPE answer', () => {
    const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE));
    const { answer, sms } = deliver(sim, '447700900666', { kic: KIC, kid: new Uint8Array(16) });
    assert.equal(sms, undefined, 'the card would bounce an SMS to the forged sender');
    assert.equal(answer.sw, 0x9000);
    assert.equal(porIn(answer.data).status, 0x01);
    // nor for a replay, an unknown key set or too low a security level
    const replayed = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE));
    assert.ok(deliver(replayed, '1', undefined, 4n).sms);
    assert.equal(deliver(replayed, '2', undefined, 4n).sms, undefined);
  });
  test("policy 'ota-addresses': PoRs by SMS only to the configured OTA addresses", () => {
    const sim = withOtaKeys(
      VirtualSim.inMemory(TEST_PROFILE, {
        porBySms: { policy: 'ota-addresses', otaAddresses: ['+447700900123'] },
      }),
    );
    const other = deliver(sim, '447700900999', undefined, 1n);
    assert.equal(other.sms, undefined);
    assert.equal(porIn(other.answer.data).status, 0, 'the PoR comes in the ENVELOPE answer instead');
    assert.equal(deliver(sim, '447700900123', undefined, 2n).sms?.destination.digits, '447700900123');
  });
  test("policy 'never': every PoR in the ENVELOPE answer", () => {
    const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE, { porBySms: { policy: 'never' } }));
    const { answer, sms } = deliver(sim, '447700900123');
    assert.equal(sms, undefined);
    assert.equal(porIn(answer.data).status, 0);
  });
  test('the policy comes from the profile and stays with the SIM directory', () => {
    const storageKey = new Uint8Array(32).fill(4);
    const path = join(dir, 'por-policy');
    const profile = { ...TEST_PROFILE, ota: { porBySms: 'ota-addresses', otaAddresses: ['447700900123'] } };
    VirtualSim.create(path, profile, { storageKey }).close();
    const sim = withOtaKeys(VirtualSim.open(path, { storageKey }));
    assert.equal(deliver(sim, '447700900999').sms, undefined);
    assert.ok(deliver(sim, '447700900123', undefined, 2n).sms);
    assert.throws(() => VirtualSim.inMemory({ ...TEST_PROFILE, ota: { porBySms: 'sometimes' } }), /porBySms/);
    assert.throws(
      () => VirtualSim.inMemory({ ...TEST_PROFILE, ota: { porBySms: 'ota-addresses' } }),
      /otaAddresses/,
    );
  });
});

describe('counters survive a restart', () => {
  test('a SIM directory reopened refuses the last counter again', () => {
    const storageKey = new Uint8Array(32).fill(9);
    const path = join(dir, 'sim');
    withOtaKeys(VirtualSim.create(path, TEST_PROFILE, { storageKey })).close(); // keys not yet saved
    const sim = VirtualSim.open(path, { storageKey });
    withOtaKeys(sim);
    assert.equal(por(sim, { counter: 20n, script: getStatus }).status, 0);
    sim.close();
    const again = VirtualSim.open(path, { storageKey });
    assert.equal(again.isd.keySets.find((k) => k.keyVersion === 1)!.otaCounter, 20n);
    assert.equal(por(again, { counter: 20n, script: getStatus }).status, 0x02);
    assert.equal(por(again, { counter: 21n, script: getStatus }).status, 0);
  });
});

describe('RFM over SCP80 (TAR B00000, the UICC file system)', () => {
  test('SELECT + UPDATE BINARY of EF SPN, then READ BINARY: the PoR carries the content; the file persists', () => {
    const storageKey = new Uint8Array(32).fill(5);
    const path = join(dir, 'rfm-sim');
    VirtualSim.create(path, TEST_PROFILE, { storageKey }).close();
    const sim = withOtaKeys(VirtualSim.open(path, { storageKey }));
    const spn = concatBytes(
      Uint8Array.of(0x01),
      new TextEncoder().encode('iotsafe-stack'),
      new Uint8Array(3).fill(0xff),
    );
    const script = concatBytes(
      h('00a40004027f20'),
      h('00a40004026f46'),
      h('00d6000011'),
      spn,
      h('00b0000011'),
    );
    const answer = por(sim, { tar: 'b00000', counter: 1n, script });
    assert.equal(answer.status, 0);
    const compact = decodeCompactResponse(answer.data);
    assert.equal(compact.executed, 4);
    assert.equal(compact.sw, 0x9000);
    assert.deepEqual(compact.data, spn);
    sim.close();
    const reopened = VirtualSim.open(path, { storageKey });
    assert.deepEqual(reopened.files.find((f) => f.path === '3F00/7F20/6F46')!.data, spn);
  });

  test('records of EF SMSP; file errors stop the script with their SW', () => {
    const sim = withOtaKeys(VirtualSim.inMemory(TEST_PROFILE));
    const record = new Uint8Array(28).fill(0x5a);
    const write = por(sim, {
      tar: 'b00000',
      counter: 1n,
      script: concatBytes(h('00a40004027f10'), h('00a40004026f42'), h('00dc02041c'), record, h('00b202041c')),
    });
    assert.deepEqual(decodeCompactResponse(write.data).data, record);
    const missing = decodeCompactResponse(
      por(sim, { tar: 'b00000', counter: 2n, script: concatBytes(h('00a40004026fff'), h('00b0000001')) })
        .data,
    );
    assert.deepEqual([missing.executed, missing.sw], [1, 0x6a82]);
    const structure = decodeCompactResponse(
      por(sim, { tar: 'b00000', counter: 3n, script: concatBytes(h('00a40004022fe2'), h('00b2010400')) })
        .data,
    );
    assert.deepEqual([structure.executed, structure.sw], [2, 0x6981]);
    const beyond = decodeCompactResponse(
      por(sim, { tar: 'b00000', counter: 4n, script: concatBytes(h('00a40004022fe2'), h('00d6000a0100')) })
        .data,
    );
    assert.deepEqual([beyond.executed, beyond.sw], [2, 0x6700]);
    assert.deepEqual(
      sim.files.find((f) => f.path === '3F00/2FE2')!.data,
      h('98001032547698103214'),
      'nothing written',
    );
  });
});
