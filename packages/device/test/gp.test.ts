// GlobalPlatform over SCP03 end to end: the host (openScp03, GlobalPlatform) against the virtual SIM's
// ISD, then the IoT SAFE client on what was personalised.
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  byId,
  byLabel,
  ClearSecretError,
  CommandFormatter,
  encodeP256PublicKeyInfo,
  formatCommand,
  GlobalPlatform,
  IoTSafe,
  MemoryTransport,
  openScp03,
  TransportError,
} from '@iotsafe/device';
import {
  aesKcv,
  buildInstallForPersonalization,
  bytesToHex,
  type CommandApdu,
  desKcv,
  ecdsaRawToDer,
  encodeCommandApdu,
  encodePersoOperation,
  encodePersoScript,
  encodePutKeySet,
  hexToBytes,
  IOTSAFE_AID,
  isValidStatusWord,
  KEY_TYPE_DES,
  KEY_TYPE_TLS_PSK,
  Scp03Error,
  StatusWordError,
  storeDataBlocks,
  utf8,
} from '@iotsafe/protocol';
import {
  newStorageKey,
  personalizationFromProfile,
  TYPE1_PROFILE,
  TYPE2_PROFILE,
  VirtualSim,
} from '@iotsafe/sim';
import { GP_TEST_KEYS, send } from '../../../test/helpers/cards.js';
import { SeededRandom } from '../../../test/helpers/random.js';

const BLANK = { containers: [] };
const hex2 = (n: number) => n.toString(16).padStart(2, '0');
/** A private key given in the profile (as a factory would load one), to find in traces. */
const SECRET_HEX = 'C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721';
const WITH_PRIVATE_KEY = {
  containers: [
    {
      class: 'privateKey' as const,
      id: '01',
      functions: ['sign' as const],
      key: { privateKeyHex: SECRET_HEX },
    },
  ],
};

/** A transport onto the SIM that records every APDU it carries. */
function recording(sim: VirtualSim, sent: string[]): MemoryTransport {
  const inner = new MemoryTransport(sim.card);
  return Object.assign(Object.create(inner), {
    transmit: async (apdu: Uint8Array) => {
      sent.push(bytesToHex(apdu));
      return inner.transmit(apdu);
    },
  });
}
const root = mkdtempSync(join(tmpdir(), 'iotsafe-gp-'));
after(() => rmSync(root, { recursive: true, force: true }));

function blankSim(options: Parameters<typeof VirtualSim.inMemory>[1] = {}) {
  return VirtualSim.inMemory(BLANK, { isdKeys: { keys: GP_TEST_KEYS }, ...options });
}

async function gp(
  sim: VirtualSim,
  securityLevel = 0x03,
  extra: Parameters<typeof GlobalPlatform.open>[2] = {},
) {
  return GlobalPlatform.open(new MemoryTransport(sim.card), GP_TEST_KEYS, { securityLevel, ...extra });
}

describe('secure channel with the ISD', () => {
  test('level 00 (authenticated, no secure messaging) opens, but management needs C-MAC: 6982', async () => {
    const card = await gp(blankSim(), 0x00);
    assert.equal(Object.keys(await card.cplc()).length, 18);
    await assert.rejects(card.status('applications'), (e: StatusWordError) => e.sw === 0x6982);
  });
  for (const level of [0x01, 0x03, 0x11, 0x13, 0x33]) {
    test(`level ${level.toString(16).padStart(2, '0')}: GET DATA, GET STATUS and key information`, async () => {
      const card = await gp(blankSim(), level);
      const cplc = await card.cplc();
      assert.equal(Object.keys(cplc).length, 18);
      const keys = await card.keyInformation();
      assert.deepEqual(
        keys.map((k) => [k.keyId, k.keyVersion, k.type, k.length]),
        [
          [1, 0x30, 0x88, 16],
          [2, 0x30, 0x88, 16],
          [3, 0x30, 0x88, 16],
        ],
      );
      const [isd] = await card.status('isd');
      assert.equal(isd!.lifeCycle, 0x0f);
      const apps = await card.status('applications');
      assert.equal(bytesToHex(apps[0]!.aid), bytesToHex(IOTSAFE_AID));
    });
  }
  test('S16 mode (i = 71) opens and works', async () => {
    const sim = blankSim({ isdKeys: { keys: GP_TEST_KEYS, i: 0x71 } });
    const card = await gp(sim, 0x33, { sMode: 16 });
    assert.equal((await card.status('applications')).length, 1);
  });
  test('the pseudo-random challenge counter advances with each session and survives a restart', async () => {
    const dir = join(root, 'counter');
    const storageKey = newStorageKey();
    const sim = VirtualSim.create(dir, BLANK, { storageKey, isdKeys: { keys: GP_TEST_KEYS } });
    await gp(sim);
    await gp(sim);
    sim.close();
    const reopened = VirtualSim.open(dir, { storageKey });
    assert.equal(reopened.isd.keySets[0]!.sequenceCounter, 2);
    const card = await gp(reopened);
    assert.equal(bytesToHex(await card.getData(0x00c1)), '000003');
  });
  test('wrong keys: the host refuses the card cryptogram and never sends EXTERNAL AUTHENTICATE', async () => {
    const wrong = {
      enc: new Uint8Array(16).fill(1),
      mac: new Uint8Array(16).fill(1),
      dek: new Uint8Array(16).fill(1),
    };
    await assert.rejects(GlobalPlatform.open(new MemoryTransport(blankSim().card), wrong), Scp03Error);
  });
  test('management commands outside a secure channel, or below the required level, get 6982', async () => {
    const sim = blankSim({ isdRequiredLevel: 0x03 });
    send(sim.card, '00A4040008A000000151000000');
    assert.equal(send(sim.card, '80F28002024F0000').sw, '6982');
    assert.equal(send(sim.card, '80F0807F').sw, '6982');
    assert.equal(send(sim.card, '80CA9F7F00').sw, '9000'); // GET DATA needs no security
    const macOnly = await gp(sim, 0x01);
    await assert.rejects(macOnly.status('applications'), (e: StatusWordError) => e.sw === 0x6982);
  });
});

describe('personalisation of a blank SIM over SCP03, then the IoT SAFE client', () => {
  test('a Type I profile with a certificate: keys generated on the card, signature verified, certificate read back', async () => {
    const sim = blankSim();
    const certificate = new Uint8Array(700).map((_, i) => i & 0xff);
    certificate.set([0x30, 0x82, 0x02, 0xb8]);
    const profile = {
      containers: TYPE1_PROFILE.containers.map((c) =>
        c.class === 'file' && c.id === '02' ? { ...c, content: { hex: bytesToHex(certificate) } } : c,
      ),
    };
    const card = await gp(sim);
    await card.personalize(IOTSAFE_AID, personalizationFromProfile(profile, true));
    const client = await IoTSafe.connect(new MemoryTransport(sim.card));
    const objects = await client.listObjects();
    assert.deepEqual(
      objects.map((o) => o.label),
      TYPE1_PROFILE.containers.map((c) => c.label),
    );
    assert.equal(bytesToHex(await client.readFile(byLabel('device-certificate'))), bytesToHex(certificate));
    const point = await client.readPublicKey(byId('01'));
    const message = utf8('personalised over SCP03');
    const signature = await client.sign(byId('01'), { message });
    const key = createPublicKey({
      key: Buffer.from(encodeP256PublicKeyInfo(point)),
      format: 'der',
      type: 'spki',
    });
    assert.ok(verify('sha256', message, key, Buffer.from(ecdsaRawToDer(signature))));
    // The lock DGI closed personalisation to all but the issuer's channel (docs/perso-format.md).
    assert.equal(sim.store.personalizationLocked, 'issuer');
    const again = await gp(sim);
    await again.personalize(IOTSAFE_AID, [
      { op: 'delete', objectClass: 'file', ref: { id: hexToBytes('02') } },
    ]);
    assert.equal((await client.listObjects()).length, TYPE1_PROFILE.containers.length - 1);
    assert.equal(sim.store.personalizationLocked, 'issuer');
  });
  test('the card built from a profile by perso lists what a SIM created from it lists', async () => {
    const direct = VirtualSim.inMemory(TYPE2_PROFILE);
    const sim = blankSim();
    await (await gp(sim)).personalize(IOTSAFE_AID, personalizationFromProfile(TYPE2_PROFILE));
    const list = async (s: VirtualSim) => (await IoTSafe.connect(new MemoryTransport(s.card))).listObjects();
    const strip = (objects: Awaited<ReturnType<typeof list>>) =>
      objects.map((o) => JSON.stringify({ ...o, id: bytesToHex(o.id!) }));
    assert.deepEqual(strip(await list(sim)), strip(await list(direct)));
  });
  for (const level of [0x00, 0x01, 0x11]) {
    test(`level ${hex2(level)}: the host refuses to send a secret or a private key, before a byte leaves`, async () => {
      for (const profile of [TYPE2_PROFILE, WITH_PRIVATE_KEY]) {
        const sim = blankSim();
        const sent: string[] = [];
        const transport = recording(sim, sent);
        const card = await GlobalPlatform.open(transport, GP_TEST_KEYS, { securityLevel: level });
        const opened = sent.length;
        await assert.rejects(
          card.personalize(IOTSAFE_AID, personalizationFromProfile(profile)),
          (e: Error) =>
            e instanceof ClearSecretError &&
            /C-DECRYPTION/.test(e.message) &&
            !e.message.includes(SECRET_HEX),
        );
        assert.deepEqual(sent.slice(opened), [], 'no APDU after the session was opened');
        assert.equal(sim.store.containers.length, 0);
      }
    });
  }
  test('the card refuses keys and secrets that arrive without C-DECRYPTION (6982), and nothing changes', async () => {
    const sim = blankSim();
    const card = await gp(sim, 0x01);
    const script = encodePersoScript(personalizationFromProfile(TYPE2_PROFILE));
    const send = async (apdu: CommandApdu) =>
      bytesToHex((await card.transport.transmit(encodeCommandApdu(apdu))).subarray(-2));
    assert.equal(await send(buildInstallForPersonalization(IOTSAFE_AID)), '9000');
    const blocks = storeDataBlocks(script);
    for (const block of blocks.slice(0, -1)) assert.equal(await send(block), '9000');
    assert.equal(await send(blocks.at(-1)!), '6982');
    assert.equal(sim.store.containers.length, 0);
  });
  test('a STORE DATA block not known to start on a DGI boundary is redacted whole', () => {
    const ops = personalizationFromProfile(WITH_PRIVATE_KEY);
    const script = encodePersoScript(ops);
    const formatter = new CommandFormatter();
    // blocks of the create DGI's size: block 00 is that DGI, the next ones cut through the key
    const lines = storeDataBlocks(script, encodePersoOperation(ops[0]!).length).map((b) =>
      formatter.format(b),
    );
    assert.ok(lines.length > 2);
    for (const line of lines) assert.ok(!line.replace(/ /g, '').includes(SECRET_HEX.slice(0, 16)), line);
    assert.match(lines[0]!, /^80 E2 08 00 \S+ A0 01 /);
    for (const line of lines.slice(1))
      assert.match(line, /^80 E2 [08]8 0\d \S+ <\d+ bytes redacted( \(not whole DGIs\))?>$/);
    const [whole] = storeDataBlocks(script);
    assert.match(formatCommand(whole!), /A0 02 \S+ <\d+ bytes redacted>/);
    assert.match(formatCommand({ ...whole!, p2: 1 }), /^80 E2 88 01 \S+ <\d+ bytes redacted>$/);
    assert.match(formatCommand({ ...whole!, p1: 0x90 }), /^80 E2 90 00 \S+ <\d+ bytes redacted>$/);
  });
  test('traces never show a key or a secret: neither the clear command nor the protected one', async () => {
    for (const level of [0x03, 0x33, 0x01]) {
      const lines: string[] = [];
      const sim = blankSim();
      const card = await gp(sim, level, { trace: (l) => lines.push(l) });
      const ops = personalizationFromProfile(WITH_PRIVATE_KEY);
      if (level & 0x02) await card.personalize(IOTSAFE_AID, ops);
      else {
        // bypassing the host's refusal: what reaches the wire at level 01 is traced redacted too
        const install = buildInstallForPersonalization(IOTSAFE_AID);
        await card.transport.transmit(encodeCommandApdu(install));
        for (const b of storeDataBlocks(encodePersoScript(ops)))
          await card.transport.transmit(encodeCommandApdu(b));
      }
      const dump = lines.join('\n').replace(/ /g, '');
      assert.ok(lines.length > 0);
      assert.ok(!dump.includes(SECRET_HEX), `level ${hex2(level)}: the private key is in the trace`);
      if (level & 0x02) {
        assert.ok(
          lines.some((l) => /clear.*80 E2/.test(l)),
          'the clear STORE DATA is traced',
        );
        assert.ok(lines.some((l) => /A0 02 .*<\d+ bytes redacted>/.test(l)));
      }
    }
  });
  test('a malformed script is 6A80 and changes nothing; STORE DATA without INSTALL [for perso] is 6985', async () => {
    const sim = blankSim();
    const card = await gp(sim);
    await assert.rejects(
      card.personalize(IOTSAFE_AID, [{ op: 'generate', ref: { id: hexToBytes('01') } }]),
      (e: StatusWordError) => e.sw === 0x6a82,
    );
    assert.equal(sim.store.containers.length, 0);
    const raw = await gp(sim);
    const response = await raw.transport.transmit(hexToBytes('80E2880003A0FF00'));
    assert.equal(bytesToHex(response.subarray(-2)), '6985');
  });
});

describe('key management', () => {
  test('PUT KEY adds a key set that then opens sessions; replacing a set retires its old keys', async () => {
    const sim = blankSim();
    const added = {
      enc: new Uint8Array(16).fill(0x11),
      mac: new Uint8Array(16).fill(0x22),
      dek: new Uint8Array(16).fill(0x33),
    };
    await (await gp(sim)).putKeySet(0x31, added);
    await GlobalPlatform.open(new MemoryTransport(sim.card), added, { keyVersion: 0x31 });
    const replacement = {
      enc: new Uint8Array(16).fill(0x44),
      mac: new Uint8Array(16).fill(0x55),
      dek: new Uint8Array(16).fill(0x66),
    };
    await (await gp(sim)).putKeySet(0x32, replacement, 0x30);
    await assert.rejects(
      gp(sim),
      (e: Error) => e instanceof Scp03Error || (e instanceof StatusWordError && e.sw === 0x6a88),
    );
    const card = await GlobalPlatform.open(new MemoryTransport(sim.card), replacement, { keyVersion: 0x32 });
    assert.deepEqual(
      (await card.keyInformation()).map((k) => k.keyVersion).sort(),
      [0x31, 0x31, 0x31, 0x32, 0x32, 0x32],
    );
    await card.deleteKeySet(0x31);
    assert.equal(sim.isd.keySets.length, 1);
  });
  test('a PUT KEY whose KCV does not match is 6982 and changes nothing', async () => {
    const sim = blankSim();
    const card = await gp(sim);
    const payload = encodePutKeySet(0x31, GP_TEST_KEYS.dek, GP_TEST_KEYS);
    payload[payload.length - 1]! ^= 1;
    const response = await card.transport.transmit(
      encodeCommandApdu({ cla: 0x80, ins: 0xd8, p1: 0, p2: 0x81, data: payload, le: 256 }),
    );
    assert.equal(bytesToHex(response.subarray(-2)), '6982');
    assert.equal(sim.isd.keySets.length, 1);
  });
});

describe('key sets for SCP80 and SCP81', () => {
  test('PUT KEY loads a 3DES KIc/KID/KIK set (KVN 01) and a TLS-PSK set (KVN 40); SCP03 does not use them', async () => {
    const sim = blankSim();
    const card = await gp(sim);
    const des = [0x30, 0x31, 0x32].map((b) => new Uint8Array(16).fill(b));
    const kcvs = await card.putKeys(
      0x01,
      des.map((value) => ({ type: KEY_TYPE_DES, value })),
    );
    assert.equal(bytesToHex(kcvs), des.map((k) => bytesToHex(desKcv(k))).join(''));
    const psk = new Uint8Array(32).fill(0x77);
    const answer = await card.putKeys(0x40, [
      { type: KEY_TYPE_TLS_PSK, value: psk },
      { type: 0x88, value: new Uint8Array(16).fill(0x78) },
    ]);
    assert.equal(
      bytesToHex(answer),
      bytesToHex(aesKcv(new Uint8Array(16).fill(0x78))),
      'no KCV for the PSK, the AES KCV for the DEK',
    );
    const info = await (await gp(sim)).keyInformation();
    assert.deepEqual(
      info.filter((k) => k.keyVersion === 0x01).map((k) => k.type),
      [0x80, 0x80, 0x80],
    );
    assert.deepEqual(
      info.filter((k) => k.keyVersion === 0x40).map((k) => [k.type, k.length]),
      [
        [0x85, 32],
        [0x88, 16],
      ],
    );
    send(sim.card, '00A4040008A000000151000000');
    assert.equal(send(sim.card, '8050010008A0A1A2A3A4A5A6A700').sw, '6A88');
    assert.equal(sim.isd.keySets.find((k) => k.keyVersion === 0x40)!.keys[0]!.value.length, 32);
  });
});

describe('life cycles', () => {
  test('locking the card hides the applet; unlocking brings it back; invalid transitions are 6985', async () => {
    const sim = blankSim();
    const card = await gp(sim);
    await card.setCardState('locked');
    assert.equal(send(sim.card, '00A4040007A0000005590010').sw, '6A82');
    const admin = await gp(sim);
    await assert.rejects(admin.status('applications'), (e: StatusWordError) => e.sw === 0x6985);
    await admin.setCardState('secured');
    assert.equal(send(sim.card, '00A4040007A0000005590010').sw, '9000');
    const again = await gp(sim);
    await assert.rejects(again.setCardState('initialized'), (e: StatusWordError) => e.sw === 0x6985);
  });
  test('a locked application is not selectable; DELETE then INSTALL gives a blank one', async () => {
    const sim = VirtualSim.inMemory(TYPE1_PROFILE, { isdKeys: { keys: GP_TEST_KEYS } });
    const card = await gp(sim);
    await card.setApplicationLocked(IOTSAFE_AID, true);
    assert.equal(send(sim.card, '00A4040007A0000005590010').sw, '6A82');
    await card.setApplicationLocked(IOTSAFE_AID, false);
    await card.deleteApplication(IOTSAFE_AID);
    assert.equal(send(sim.card, '00A4040007A0000005590010').sw, '6A82');
    assert.equal(sim.store.containers.length, 0);
    await card.installApplication(IOTSAFE_AID);
    const client = await IoTSafe.connect(new MemoryTransport(sim.card));
    assert.equal((await client.listObjects()).length, 0);
  });
  test('a terminated card answers only GET DATA', async () => {
    const sim = blankSim();
    await (await gp(sim)).setCardState('terminated');
    send(sim.card, '00A4040008A000000151000000');
    assert.equal(send(sim.card, '8050300008A0A1A2A3A4A5A6A700').sw, '6985');
    assert.equal(send(sim.card, '80CA9F7F00').sw, '9000');
  });
});

describe('the IoT SAFE applet over SCP03', () => {
  test('IoT SAFE commands travel wrapped (C-MAC, C-DEC, R-MAC, R-ENC) and work unchanged', async () => {
    const sim = VirtualSim.inMemory(TYPE1_PROFILE, { isdKeys: { keys: GP_TEST_KEYS } });
    const wire: string[] = [];
    const secured = await openScp03(new MemoryTransport(sim.card), GP_TEST_KEYS, {
      select: IOTSAFE_AID,
      securityLevel: 0x33,
      trace: (l) => wire.push(l),
    });
    const client = IoTSafe.attach(secured, 0, IOTSAFE_AID);
    const signature = await client.sign(byId('01'), { message: utf8('over SCP03') });
    assert.equal(signature.length, 64);
    assert.equal((await client.random(32)).length, 32);
    assert.ok(
      wire.some((l) => l.startsWith('→ 84 2A')),
      'sign INIT went with the SM bit',
    );
    // A SELECT ends the session: the transport refuses to go on.
    await secured.transmit(hexToBytes('00A4040007A0000005590010'));
    await assert.rejects(secured.transmit(hexToBytes('8084000010')), TransportError);
  });
});

describe('fuzzed wrapped APDUs', () => {
  test('2,000 mutated protected commands: never executed, never a crash', async () => {
    const r = new SeededRandom(303);
    const sim = blankSim();
    const plain = [hexToBytes('80F28002024F0000'), hexToBytes('80CA00E000'), hexToBytes('80F0800F')];
    for (let i = 0; i < 2000; i++) {
      const card = await gp(sim);
      const session = card.transport.session;
      const wrapped = encodeCommandApdu(
        session.wrap({
          cla: 0x80,
          ins: plain[i % 3]![1]!,
          p1: plain[i % 3]![2]!,
          p2: plain[i % 3]![3]!,
          data: plain[i % 3]!.subarray(5, 5 + (plain[i % 3]![4] ?? 0)),
        }),
      );
      const mutated = Uint8Array.from(wrapped);
      const at = 4 + r.int(mutated.length - 4);
      mutated[at]! ^= 1 << r.int(8);
      const version = sim.store.version;
      const lifeCycle = sim.isd.lifeCycle;
      const response = sim.card.transmit(mutated);
      const sw = (response[response.length - 2]! << 8) | response[response.length - 1]!;
      assert.ok(isValidStatusWord(sw));
      assert.notEqual(sw, 0x9000, `mutation at ${at} accepted: ${bytesToHex(mutated)}`);
      assert.equal(sim.store.version, version);
      assert.equal(sim.isd.lifeCycle, lifeCycle);
    }
    assert.equal(sim.card.internalErrors, 0);
  });
});
