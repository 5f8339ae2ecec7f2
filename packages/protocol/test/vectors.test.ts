// Request encodings from ../../../test/fixtures/iotsafe-vectors.json (real traces and derived APDUs),
// reproduced byte for byte by the protocol package's command builders.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  buildCloseChannel,
  buildComputeHkdf,
  buildComputePrf,
  buildGenerateKeyPair,
  buildGetObjectInfo,
  buildGetObjectList,
  buildGetRandom,
  buildInitClose,
  buildOpenChannel,
  buildPutPublicKeyInit,
  buildReadPublicKey,
  buildSelect,
  buildSignInit,
  buildUpdate,
  buildVerifyInit,
  bytesToHex,
  type CommandApdu,
  concatBytes,
  decodePublicKeyData,
  encodeCommandApdu,
  encodePublicKeyData,
  encodeSignatureInput,
  encodeSignatureTlv,
  hexToBytes,
  INS,
  IOTSAFE_AID,
} from '@iotsafe/protocol';
import { vector } from '../../../test/helpers/vectors.js';

const h = hexToBytes;
const enc = (apdu: CommandApdu) => bytesToHex(encodeCommandApdu(apdu));
const ecdsa = { algorithm: 0x04 };

describe('Orange issue #7 trace: request encodings', () => {
  const v = vector('orange-issue7-no-applet') as unknown as { exchanges: { c_apdu: string }[] };
  const built = [
    buildOpenChannel(),
    buildSelect(0x01, IOTSAFE_AID),
    buildGetObjectList(0x01, false),
    buildInitClose(0x01, INS.COMPUTE_SIGNATURE_INIT, 1),
    buildSignInit(0x01, 1, { key: { id: h('1234') }, mode: 'fullText', hash: 'sha256', ...ecdsa }),
    buildInitClose(0x01, INS.VERIFY_SIGNATURE_INIT, 1),
    buildVerifyInit(0x01, 1, { key: { id: h('ABCD') }, mode: 'fullText', hash: 'sha256', ...ecdsa }),
    buildCloseChannel(1),
  ];
  v.exchanges.forEach((exchange, i) => {
    test(`exchange ${i + 1}: ${exchange.c_apdu}`, () => assert.equal(enc(built[i]!), exchange.c_apdu));
  });
});

describe('ZARIOT templates (channel 1, 3-byte IDs)', () => {
  const v = vector('zariot-apdu-templates') as unknown as {
    templates: { name: string; command: string }[];
    test_data: { sha256: string; ids: string[] };
  };
  const sha = v.test_data.sha256;
  const id = h(v.test_data.ids[0]!);
  const sig = new Uint8Array(64).fill(0x5a);
  const fill = (template: string) =>
    template
      .replace('8N', '81')
      .replace('<id3>', bytesToHex(id))
      .replace('<sha256>', sha)
      .replace('<r||s>', bytesToHex(sig))
      .replace(/ /g, '');
  const built: Record<string, CommandApdu> = {
    sign_init: buildSignInit(0x81, 1, { key: { id }, mode: 'padAndSign', hash: 'sha256', ...ecdsa }),
    sign_update: buildUpdate(
      0x81,
      INS.COMPUTE_SIGNATURE_UPDATE,
      1,
      true,
      encodeSignatureInput({ mode: 'padAndSign', hash: h(sha) }),
    ),
    verify_init: buildVerifyInit(0x81, 2, { key: { id }, mode: 'padAndSign', hash: 'sha256', ...ecdsa }),
    verify_update: buildUpdate(
      0x81,
      INS.VERIFY_SIGNATURE_UPDATE,
      2,
      true,
      concatBytes(encodeSignatureInput({ mode: 'padAndSign', hash: h(sha) }), encodeSignatureTlv(sig, 2)),
    ),
    sign_close: buildInitClose(0x81, INS.COMPUTE_SIGNATURE_INIT, 1),
    verify_close: buildInitClose(0x81, INS.VERIFY_SIGNATURE_INIT, 2),
    read_public_key: buildReadPublicKey(0x81, { id }),
    generate_key_pair: buildGenerateKeyPair(0x81, { id }),
  };
  for (const template of v.templates.filter((t) => t.name in built)) {
    test(template.name, () => assert.equal(enc(built[template.name]!), fill(template.command)));
  }
});

describe('m33mu emulator trace requests', () => {
  test('GET RANDOM 8, GENERATE KEY PAIR, READ PUBLIC KEY, GET DATA C3', () => {
    assert.equal(enc(buildGetRandom(0x81, 8)), '8184000008');
    assert.equal(enc(buildGenerateKeyPair(0x81, { id: h('1234') })), '81B900000484021234');
    assert.equal(enc(buildReadPublicKey(0x81, { id: h('1234') })), '81CD00000485021234');
    assert.equal(enc(buildGetObjectInfo(0x81, 'file', { id: h('0200') })), '81CBC3000483020200');
  });
});

describe('wolfSSL PUT PUBLIC KEY and the Thales payload', () => {
  test('INIT, UPDATE and close bytes', () => {
    const v = vector('thales-put-public-key-payload') as unknown as {
      expected: { payload: string; wrapped_34_45: string };
    };
    const point = decodePublicKeyData(h(v.expected.payload));
    assert.equal(bytesToHex(encodePublicKeyData(point)), v.expected.wrapped_34_45);
    assert.equal(enc(buildPutPublicKeyInit(0x81, 2, { id: h('05') })), '8124000203850105');
    assert.equal(
      enc(buildUpdate(0x81, INS.PUT_PUBLIC_KEY_UPDATE, 2, true, encodePublicKeyData(point))),
      `81D8800247${v.expected.wrapped_34_45}`,
    );
    assert.equal(enc(buildInitClose(0x81, INS.PUT_PUBLIC_KEY_INIT, 2)), '8124010200');
  });
});

describe('COMPUTE PRF and COMPUTE HKDF APDUs (derived vectors)', () => {
  for (const [id, field, length] of [
    ['thales-prf-extended-master-secret', 'apdu_mode00_48_bytes_derived', 48],
    ['thales-prf-key-expansion', 'apdu_mode00_255_bytes_derived', 255],
  ] as const) {
    test(id, () => {
      const v = vector(id) as unknown as {
        inputs: { secret: string; label_hex: string; seed: string };
      } & Record<string, string>;
      const apdu = buildComputePrf(0x80, {
        mode: 'general',
        secret: h(v.inputs.secret),
        labelAndSeed: h(v.inputs.label_hex + v.inputs.seed),
        length,
      });
      assert.equal(enc(apdu), v[field]);
    });
  }
  for (const [id, field] of [
    ['hkdf-rfc5869-tc1', 'apdu'],
    ['hkdf-tls13-early-secret-no-psk', 'apdu_derived'],
  ] as const) {
    test(id, () => {
      const v = vector(id) as unknown as { inputs: { ikm: string; salt: string } } & Record<string, string>;
      assert.equal(
        enc(
          buildComputeHkdf(0x80, {
            mode: 'ikm',
            ikm: h(v.inputs.ikm),
            salt: h(v.inputs.salt),
            hash: 'sha256',
          }),
        ),
        v[field],
      );
    });
  }
});
