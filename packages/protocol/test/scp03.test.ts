// SCP03 against test/fixtures/scp03-vectors.json: every session reproduced byte for byte by the host
// state machine, and accepted byte for byte by the card side (its card challenge injected).
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  aesCbcEncrypt,
  aesCmac,
  aesEcbEncrypt,
  aesKcv,
  bytesToHex,
  commandMac,
  concatBytes,
  counterBlock,
  decodePutKeyData,
  decodePutKeySet,
  deriveSessionKeys,
  desKcv,
  diversifyKey,
  encodeAesKeyData,
  encodeCommandApdu,
  encodeKeyData,
  encodePutKeySet,
  encodeStoreDataKeys,
  encryptKeyWithDek,
  FormatError,
  hexToBytes,
  KeyCheckError,
  parseCommandApdu,
  parseResponseApdu,
  pseudoRandomChallenge,
  type Scp03CardError,
  Scp03CardSession,
  Scp03Error,
  Scp03HostSession,
} from '@iotsafe/protocol';
import { type Scp03Session, scp03Vectors } from '../../../test/helpers/vectors.js';

const h = hexToBytes;
const V = scp03Vectors();
const keysOf = (s: Scp03Session) => ({ enc: h(s.enc), mac: h(s.mac), dek: h(s.dek) });

function hostFor(s: Scp03Session) {
  const iu = parseCommandApdu(h(s.init_update_cmd));
  return new Scp03HostSession({
    keys: keysOf(s),
    securityLevel: Number.parseInt(s.level, 16),
    keyVersion: iu.p1,
    hostChallenge: h(s.host_challenge),
    sMode: s.s_mode,
    ...(s.pseudo_random_card_challenge ? { sdAid: h(s.pseudo_random_card_challenge.sd_aid) } : {}),
  });
}

function cardFor(s: Scp03Session) {
  const card = new Scp03CardSession();
  const rsp = h(s.init_update_rsp);
  const answer = card.initializeUpdate(parseCommandApdu(h(s.init_update_cmd)), {
    keys: keysOf(s),
    keyVersion: rsp[10]!,
    i: Number.parseInt(s.i, 16),
    keyDiversificationData: h(s.kdd),
    cardChallenge: h(s.card_challenge),
    ...(s.seq ? { sequenceCounter: h(s.seq) } : {}),
  });
  return { card, answer };
}

describe('AES-CMAC (RFC 4493 §4)', () => {
  const cmac = V.aes_cmac_rfc4493 as { key: string; vectors: { msg: string; mac: string }[] };
  for (const v of cmac.vectors) {
    test(`${v.msg.length / 2}-byte message`, () =>
      assert.equal(bytesToHex(aesCmac(h(cmac.key), h(v.msg))), v.mac));
  }
});

describe('key check values, DEK encryption, KDF', () => {
  test('KCVs (AES-ECB of 16 × 01)', () => {
    for (const v of (V.kcv_aes as { vectors: { key: string; kcv: string }[] }).vectors)
      assert.equal(bytesToHex(aesKcv(h(v.key))), v.kcv);
  });
  test('keys encrypted under the DEK', () => {
    for (const v of (V.dek_encryption as { vectors: { dek: string; key: string; ciphertext: string }[] })
      .vectors) {
      assert.equal(bytesToHex(encryptKeyWithDek(h(v.dek), h(v.key))), v.ciphertext);
    }
  });
  test('GPPro session keys with a test context, and the raw counter KDF', () => {
    const [sessions, raw] = (V.kdf_misc_gppro as { vectors: Record<string, string>[] }).vectors as [
      Record<string, string>,
      Record<string, string>,
    ];
    const k = h('404142434445464748494A4B4C4D4E4F');
    const keys = deriveSessionKeys({ enc: k, mac: k, dek: k }, h('00010203040506070809'));
    assert.equal(bytesToHex(keys.sEnc), sessions.s_enc);
    assert.equal(bytesToHex(keys.sMac), sessions.s_mac);
    assert.equal(bytesToHex(keys.sRmac), sessions.s_rmac);
    assert.equal(bytesToHex(aesCmac(k, h(`${'00'.repeat(16)}01${'00'.repeat(16)}`))), raw.out);
  });
});

describe('SCP03 sessions, host side byte for byte', () => {
  for (const s of V.sessions) {
    test(s.name, () => {
      const host = hostFor(s);
      assert.equal(bytesToHex(encodeCommandApdu(host.initializeUpdate())), s.init_update_cmd);
      host.processInitializeUpdateResponse(h(s.init_update_rsp));
      assert.equal(bytesToHex(encodeCommandApdu(host.externalAuthenticate())), s.ext_auth_cmd);
      for (const step of s.steps) {
        assert.equal(
          bytesToHex(encodeCommandApdu(host.wrap(parseCommandApdu(h(step.plain))))),
          step.wrapped,
          step.label ?? step.plain,
        );
        if (step.rsp_wrapped !== undefined && step.sw !== undefined) {
          const unwrapped = host.unwrap({ data: h(step.rsp_wrapped), sw: Number.parseInt(step.sw, 16) });
          assert.equal(bytesToHex(unwrapped.data), step.rsp_plain ?? '');
        }
      }
    });
  }
});

describe('SCP03 sessions, card side byte for byte', () => {
  for (const s of V.sessions) {
    test(s.name, () => {
      const { card, answer } = cardFor(s);
      assert.equal(bytesToHex(answer), s.init_update_rsp);
      card.externalAuthenticate(parseCommandApdu(h(s.ext_auth_cmd)));
      assert.equal(card.currentSecurityLevel, 0x80 | Number.parseInt(s.level, 16));
      for (const step of s.steps) {
        const plain = card.unwrapCommand(parseCommandApdu(h(step.wrapped)));
        if (step.card_sees)
          assert.equal(bytesToHex(encodeCommandApdu({ ...plain, le: undefined })), step.card_sees);
        else assert.equal(bytesToHex(encodeCommandApdu(plain)), step.plain);
        if (step.rsp_plain !== undefined && step.sw !== undefined) {
          const wrapped = card.wrapResponse({ data: h(step.rsp_plain), sw: Number.parseInt(step.sw, 16) });
          assert.equal(bytesToHex(wrapped.data), step.rsp_wrapped ?? '');
        }
      }
    });
  }
  test('pseudo-random card challenges derive from the sequence counter and the SD AID', () => {
    for (const s of V.sessions.filter((x) => x.pseudo_random_card_challenge)) {
      assert.equal(
        bytesToHex(
          pseudoRandomChallenge(
            h(s.enc),
            h(s.seq!),
            h(s.pseudo_random_card_challenge!.sd_aid),
            s.s_mode as 8 | 16,
          ),
        ),
        s.card_challenge,
        s.name,
      );
    }
  });
});

describe('SCP03 failures', () => {
  const A = V.sessions.find((s) => s.name.startsWith('synthetic_A'))!;
  const errors = V.errors as Record<string, { cmd?: string; ext_auth_cmd?: string }>;
  test('the host refuses a wrong card cryptogram', () => {
    const host = hostFor(A);
    host.initializeUpdate();
    const rsp = h(A.init_update_rsp);
    rsp[rsp.length - 1]! ^= 1;
    assert.throws(() => host.processInitializeUpdateResponse(rsp), Scp03Error);
    assert.throws(() => host.externalAuthenticate(), Scp03Error);
  });
  test('the card answers 6300 to a wrong host cryptogram and requires a new INITIALIZE UPDATE', () => {
    const { card } = cardFor(A);
    assert.throws(
      () => card.externalAuthenticate(parseCommandApdu(h(errors.wrong_host_cryptogram!.ext_auth_cmd!))),
      (e: Scp03CardError) => e.sw === 0x6300,
    );
    assert.throws(
      () => card.externalAuthenticate(parseCommandApdu(h(A.ext_auth_cmd))),
      (e: Scp03CardError) => e.sw === 0x6985,
    );
  });
  for (const [name, key] of [
    ['a tampered C-MAC', 'bad_cmac'],
    ['a command without secure messaging', 'missing_sm'],
  ] as const) {
    test(`${name} gets 6982 and aborts: the next, correct command is refused too`, () => {
      const { card } = cardFor(A);
      card.externalAuthenticate(parseCommandApdu(h(A.ext_auth_cmd)));
      assert.throws(
        () => card.unwrapCommand(parseCommandApdu(h(errors[key]!.cmd!))),
        (e: Scp03CardError) => e.sw === 0x6982,
      );
      assert.throws(
        () => card.unwrapCommand(parseCommandApdu(h(A.steps[0]!.wrapped))),
        (e: Scp03CardError) => e.sw === 0x6982,
      );
    });
  }
  test('a replayed command is refused (the MAC chains)', () => {
    const { card } = cardFor(A);
    card.externalAuthenticate(parseCommandApdu(h(A.ext_auth_cmd)));
    card.unwrapCommand(parseCommandApdu(h(A.steps[0]!.wrapped)));
    assert.throws(
      () => card.unwrapCommand(parseCommandApdu(h(A.steps[0]!.wrapped))),
      (e: Scp03CardError) => e.sw === 0x6982,
    );
  });
  test('tampered ciphertext is refused with 6982 (the C-MAC covers it)', () => {
    const { card } = cardFor(A);
    card.externalAuthenticate(parseCommandApdu(h(A.ext_auth_cmd)));
    const bytes = h(A.steps[0]!.wrapped);
    bytes[6]! ^= 0x01;
    assert.throws(
      () => card.unwrapCommand(parseCommandApdu(bytes)),
      (e: Scp03CardError) => e.sw === 0x6982,
    );
  });
  test('a correctly MACed body without valid padding is refused with 6982 and aborts', () => {
    const { card } = cardFor(A);
    card.externalAuthenticate(parseCommandApdu(h(A.ext_auth_cmd)));
    const sEnc = h(A.s_enc);
    const icv = aesEcbEncrypt(sEnc, counterBlock(1, false));
    const body = aesCbcEncrypt(sEnc, icv, new Uint8Array(16).fill(0x41)); // no 80 00… padding
    const mac = commandMac(
      h(A.s_mac),
      h((A as unknown as { mcv_after_ext_auth: string }).mcv_after_ext_auth),
      0x80,
      0xe2,
      0x88,
      0x00,
      24,
      body,
    );
    const apdu = { cla: 0x84, ins: 0xe2, p1: 0x88, p2: 0x00, data: concatBytes(body, mac.subarray(0, 8)) };
    assert.throws(
      () => card.unwrapCommand(apdu),
      (e: Scp03CardError) => e.sw === 0x6982 && /decryption/.test(e.message),
    );
    assert.equal(card.phase, 'aborted');
  });
  test('EXTERNAL AUTHENTICATE out of sequence is 6985; a level the key set cannot give is 6A86', () => {
    const card = new Scp03CardSession();
    assert.throws(
      () => card.externalAuthenticate(parseCommandApdu(h(A.ext_auth_cmd))),
      (e: Scp03CardError) => e.sw === 0x6985,
    );
    const host = new Scp03HostSession({
      keys: keysOf(A),
      securityLevel: 0x11,
      hostChallenge: h(A.host_challenge),
    });
    host.initializeUpdate();
    assert.throws(() => host.processInitializeUpdateResponse(h(A.init_update_rsp)), /R-MAC/);
  });
  test('an R-MAC that does not match closes the host session', () => {
    const s = V.sessions.find((x) => x.name === 'pysim_SCP03_Test_AES128_11')!;
    const host = hostFor(s);
    host.initializeUpdate();
    host.processInitializeUpdateResponse(h(s.init_update_rsp));
    host.externalAuthenticate();
    const step = s.steps[0]!;
    host.wrap(parseCommandApdu(h(step.plain)));
    const bad = h(step.rsp_wrapped!);
    bad[0]! ^= 1;
    assert.throws(() => host.unwrap({ data: bad, sw: 0x9000 }), /R-MAC/);
    assert.equal(host.isOpen, false);
  });
});

describe('ISO/IEC 7816-4 padding longer than one block, after the MAC verified', () => {
  test("the host reads Samsung OpenSCP's answers, the last padded from 11 to 32 bytes", () => {
    const v = JSON.parse(
      readFileSync(new URL('../../../test/fixtures/openscp-scp03.json', import.meta.url), 'utf8'),
    );
    const host = new Scp03HostSession({
      keys: { enc: h(v.keys.enc), mac: h(v.keys.mac), dek: h(v.keys.dek) },
      securityLevel: 0x33,
      keyVersion: 0x30,
      hostChallenge: h(v.host_challenge),
    });
    assert.equal(bytesToHex(encodeCommandApdu(host.initializeUpdate())), v.init_update_cmd);
    host.processInitializeUpdateResponse(h(v.init_update_rsp).subarray(0, -2));
    assert.equal(bytesToHex(encodeCommandApdu(host.externalAuthenticate())), v.ext_auth_cmd);
    for (const step of v.steps as {
      plain: string;
      wrapped: string;
      rsp_wrapped: string;
      rsp_plain: string;
    }[]) {
      assert.equal(bytesToHex(encodeCommandApdu(host.wrap(parseCommandApdu(h(step.plain))))), step.wrapped);
      const answer = host.unwrap(parseResponseApdu(h(step.rsp_wrapped)));
      assert.equal(bytesToHex(answer.data), step.rsp_plain);
    }
  });
  test('the card takes a command whose 5 data bytes are padded to 32', () => {
    const A = V.sessions.find((s) => s.name.startsWith('synthetic_A'))!;
    const { card } = cardFor(A);
    card.externalAuthenticate(parseCommandApdu(h(A.ext_auth_cmd)));
    const sEnc = h(A.s_enc);
    const padded = new Uint8Array(32);
    padded.set([0x01, 0x02, 0x03, 0x04, 0x05, 0x80]);
    const body = aesCbcEncrypt(sEnc, aesEcbEncrypt(sEnc, counterBlock(1, false)), padded);
    const mcv = h((A as unknown as { mcv_after_ext_auth: string }).mcv_after_ext_auth);
    const mac = commandMac(h(A.s_mac), mcv, 0x80, 0xe2, 0x88, 0x00, 40, body);
    const apdu = { cla: 0x84, ins: 0xe2, p1: 0x88, p2: 0x00, data: concatBytes(body, mac.subarray(0, 8)) };
    assert.equal(bytesToHex(card.unwrapCommand(apdu).data), '0102030405');
    assert.equal(card.phase, 'open');
  });
});

describe('key diversification, PUT KEY data and STORE DATA key loading', () => {
  type Div = {
    master: string;
    kdd: string;
    enc: string;
    mac?: string;
    dek?: string;
    kcv_enc?: string;
    kcv_3des?: string[];
  };
  const div = V.diversification as Record<'kdf3' | 'emv_cps11' | 'visa2', { vectors: Div[] }>;
  test('KDF3 (SCP03): full keys and the published KCVs', () => {
    for (const v of div.kdf3.vectors) {
      assert.equal(bytesToHex(diversifyKey('kdf3', h(v.master), h(v.kdd), 'enc')), v.enc);
      if (v.mac) assert.equal(bytesToHex(diversifyKey('kdf3', h(v.master), h(v.kdd), 'mac')), v.mac);
      if (v.dek) assert.equal(bytesToHex(diversifyKey('kdf3', h(v.master), h(v.kdd), 'dek')), v.dek);
      if (v.kcv_enc) assert.equal(bytesToHex(aesKcv(h(v.enc))), v.kcv_enc);
    }
  });
  for (const [name, method] of [
    ['emv_cps11', 'emv'],
    ['visa2', 'visa2'],
  ] as const) {
    test(`${name}: keys and their 3DES KCVs`, () => {
      for (const v of div[name].vectors) {
        const keys = (['enc', 'mac', 'dek'] as const).map((use) =>
          diversifyKey(method, h(v.master), h(v.kdd), use),
        );
        assert.deepEqual(
          keys.map((k) => bytesToHex(k)),
          [v.enc, v.mac, v.dek],
        );
        assert.deepEqual(
          keys.map((k) => bytesToHex(desKcv(k))),
          v.kcv_3des,
        );
      }
    });
  }
  test('PUT KEY data of synthetic_A decodes, checks its KCVs, and re-encodes identically', () => {
    const putKey = A().steps.find((s) => s.plain.startsWith('80D8'))!;
    const data = parseCommandApdu(h(putKey.plain)).data;
    const decoded = decodePutKeySet(h(A().dek), data);
    assert.equal(decoded.keyVersion, 0x31);
    assert.deepEqual(
      decoded.keys.map((k) => bytesToHex(k.key)),
      ['11'.repeat(16), '22'.repeat(16), '33'.repeat(16)],
    );
    const again = encodePutKeySet(0x31, h(A().dek), {
      enc: decoded.keys[0]!.key,
      mac: decoded.keys[1]!.key,
      dek: decoded.keys[2]!.key,
    });
    assert.equal(bytesToHex(again), bytesToHex(data));
    assert.equal(putKey.rsp_plain, `31${decoded.keys.map((k) => bytesToHex(k.kcv)).join('')}`);
  });
  test('PUT KEY: the short block form (88 10 …) parses; a wrong KCV is a KeyCheckError', () => {
    const dek = h('404142434445464748494A4B4C4D4E4F');
    const key = h('00112233445566778899AABBCCDDEEFF');
    const long = encodeAesKeyData(dek, key);
    const short = concatBytes(Uint8Array.of(0x88, 0x10), long.subarray(3));
    assert.equal(
      bytesToHex(decodePutKeySet(dek, concatBytes(Uint8Array.of(0x30), short)).keys[0]!.key),
      bytesToHex(key),
    );
    const bad = concatBytes(Uint8Array.of(0x30), long);
    bad[bad.length - 1]! ^= 1;
    assert.throws(() => decodePutKeySet(dek, bad), KeyCheckError);
  });
  test('PUT KEY under a 3DES KIK: 3DES-ECB key blocks, 3-byte KCVs, round trip for 8-, 16- and 24-byte keys', () => {
    const kik = h('404142434445464748494A4B4C4D4E4F'); // the GP test key; its KCV is published as 8BAF47
    assert.equal(bytesToHex(desKcv(kik)), '8BAF47');
    const keys = [h('0123456789ABCDEF'), h('00112233445566778899AABBCCDDEEFF'), h('A1'.repeat(24))];
    const data = concatBytes(Uint8Array.of(0x02), ...keys.map((k) => encodeKeyData(kik, 0x80, k, 'des3')));
    const first = encodeKeyData(kik, 0x80, keys[1]!, 'des3');
    // 80 10 ‖ 3DES-ECB(KIK, key) ‖ 03 ‖ KCV: no clear-length byte when the key fills whole blocks (GPCS 2.x)
    const ecb = createCipheriv('des-ede-ecb', kik, null).setAutoPadding(false);
    const expected = Buffer.concat([ecb.update(keys[1]!), ecb.final()]);
    assert.equal(bytesToHex(first), `8010${bytesToHex(expected)}03${bytesToHex(desKcv(keys[1]!))}`);
    const decoded = decodePutKeyData(kik, data, 'des3');
    assert.equal(decoded.keyVersion, 2);
    assert.deepEqual(
      decoded.keys.map((k) => bytesToHex(k.key)),
      keys.map((k) => bytesToHex(k)),
    );
    assert.throws(() => decodePutKeyData(h('00'.repeat(16)), data, 'des3'), KeyCheckError);
    assert.throws(() => decodePutKeyData(kik, data, 'aes'), FormatError);
  });
  test("STORE DATA key loading matches kaoh's byte-exact payloads", () => {
    const kaoh = V.store_data_key_loading_kaoh as {
      vectors: { dek: string; keys: string[]; kvn: string; access: string; data: string }[];
    };
    for (const v of kaoh.vectors) {
      assert.equal(
        bytesToHex(
          encodeStoreDataKeys(
            h(v.dek),
            Number.parseInt(v.kvn, 16),
            Number.parseInt(v.access, 16),
            v.keys.map(h),
          ),
        ),
        v.data,
      );
    }
  });
});

function A() {
  return V.sessions.find((s) => s.name.startsWith('synthetic_A'))! as Scp03Session & { dek: string };
}
