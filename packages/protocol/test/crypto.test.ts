import assert from 'node:assert/strict';
import {
  createECDH,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
} from 'node:crypto';
import { describe, test } from 'node:test';
import {
  bytesToHex,
  computeSharedSecret,
  derBitString,
  derContext,
  derOctetString,
  derOid,
  derSequence,
  derSmallInteger,
  digest,
  ecdhePskPremaster,
  ecdsaDerToRaw,
  ecdsaRawToDer,
  generateEcKeyPair,
  hexToBytes,
  hkdfExpand,
  hkdfExtract,
  intermediateHashState,
  isValidPublicKey,
  OID,
  pskPremaster,
  publicKeyFromPrivate,
  resumeHash,
  signDigest,
  tls12Prf,
  utf8,
  verifyDigest,
} from '@iotsafe/protocol';
import { vector } from '../../../test/helpers/vectors.js';

const h = hexToBytes;

describe('HKDF (RFC 5869 Appendix A)', () => {
  test('test case 1: extract and expand', () => {
    const prk = hkdfExtract('sha256', h('000102030405060708090a0b0c'), h('0b'.repeat(22)));
    assert.equal(bytesToHex(prk), '077709362C2E32DF0DDC3F0DC47BBA6390B6C73BB50F9C3122EC844AD7C2B3E5');
    const okm = hkdfExpand('sha256', prk, h('f0f1f2f3f4f5f6f7f8f9'), 42);
    assert.equal(
      bytesToHex(okm),
      '3CB25F25FAACD57A90434F64D0362F2A2D2D0A90CF1A5A4C5DB02D56ECC4C5BF34007208D5B887185865',
    );
  });
  test('test case 3: empty salt means HashLen zeros', () => {
    const prk = hkdfExtract('sha256', new Uint8Array(0), h('0b'.repeat(22)));
    assert.equal(bytesToHex(prk), '19EF24A32C717B167F33A91D6F648BDF96596776AFDB6377AC434C1C293CCB04');
  });
  test('TLS 1.3 early secret without PSK (vector hkdf-tls13-early-secret-no-psk)', () => {
    const v = vector('hkdf-tls13-early-secret-no-psk') as unknown as { expected: { prk: string } };
    assert.equal(bytesToHex(hkdfExtract('sha256', new Uint8Array(32), new Uint8Array(32))), v.expected.prk);
  });
});

describe('TLS 1.2 PRF (RFC 5246 §5) against the Thales vectors', () => {
  for (const id of ['thales-prf-extended-master-secret', 'thales-prf-key-expansion']) {
    test(id, () => {
      const v = vector(id) as unknown as {
        inputs: { secret: string; label_hex: string; seed: string };
        expected: {
          output_full_255_derived: string;
          output_first_48?: string;
          output_prefix?: string;
          output_suffix?: string;
        };
      };
      const out = tls12Prf(h(v.inputs.secret), h(v.inputs.label_hex + v.inputs.seed), 255);
      assert.equal(bytesToHex(out), v.expected.output_full_255_derived);
      if (v.expected.output_first_48)
        assert.equal(bytesToHex(out.subarray(0, 48)), v.expected.output_first_48);
      if (v.expected.output_prefix) assert.ok(bytesToHex(out).startsWith(v.expected.output_prefix));
      if (v.expected.output_suffix) assert.ok(bytesToHex(out).endsWith(v.expected.output_suffix));
    });
  }
});

describe('PSK premaster secrets', () => {
  test('RFC 4279 §2: N, N zeros, N, PSK', () => {
    assert.equal(bytesToHex(pskPremaster(h('AABB'))), '000200000002AABB');
  });
  test('RFC 5489 §2: len, ECDHE secret, len, PSK', () => {
    assert.equal(bytesToHex(ecdhePskPremaster(h('0102'), h('AABBCC'))), '000201020003AABBCC');
  });
});

describe('hash resumption for "last block" mode', () => {
  for (const alg of ['sha256', 'sha384', 'sha512'] as const) {
    test(`${alg}: intermediate state + tail gives the one-shot digest`, () => {
      const block = alg === 'sha256' ? 64 : 128;
      const message = new Uint8Array(3 * block + 17).map((_, i) => i * 7);
      const state = intermediateHashState(alg, message.subarray(0, 3 * block));
      const resumed = resumeHash(alg, state, 3 * block, message.subarray(3 * block));
      assert.equal(bytesToHex(resumed), bytesToHex(digest(alg, message)));
      const fromStart = resumeHash(alg, intermediateHashState(alg, new Uint8Array(0)), 0, message);
      assert.equal(bytesToHex(fromStart), bytesToHex(digest(alg, message)));
    });
  }
});

describe('ECDSA over a digest, checked by node:crypto and OpenSSL', () => {
  for (const curve of ['p256', 'brainpoolP256r1'] as const) {
    const opensslName = curve === 'p256' ? 'prime256v1' : 'brainpoolP256r1';
    test(`${curve}: our signatures verify with node:crypto, node's verify with ours`, () => {
      const { privateKey, publicKey } = generateEcKeyPair(curve);
      const pkcs8 = privateKeyObject(opensslName, privateKey, publicKey);
      for (const alg of ['sha256', 'sha384', 'sha512'] as const) {
        const message = utf8(`message for ${alg}`);
        const sig = signDigest(curve, privateKey, digest(alg, message));
        assert.ok(
          verify(alg, message, { key: createPublicKey(pkcs8), dsaEncoding: 'ieee-p1363' }, sig),
          `${alg} verifies in node`,
        );
        assert.ok(verifyDigest(curve, publicKey, digest(alg, message), sig));
        const nodeSig = sign(alg, message, { key: pkcs8, dsaEncoding: 'ieee-p1363' });
        assert.ok(verifyDigest(curve, publicKey, digest(alg, message), nodeSig));
        const tampered = Uint8Array.from(sig);
        tampered[10]! ^= 1;
        assert.equal(verifyDigest(curve, publicKey, digest(alg, message), tampered), false);
      }
    });
    test(`${curve}: ECDH matches node and public keys are derived correctly`, () => {
      const a = generateEcKeyPair(curve);
      const peer = createECDH(opensslName);
      peer.generateKeys();
      const ours = computeSharedSecret(curve, a.privateKey, new Uint8Array(peer.getPublicKey()));
      assert.equal(bytesToHex(ours), bytesToHex(peer.computeSecret(a.publicKey)));
      assert.deepEqual(publicKeyFromPrivate(curve, a.privateKey), a.publicKey);
    });
  }
  test('points off the curve are refused', () => {
    const { publicKey } = generateEcKeyPair('p256');
    const bad = Uint8Array.from(publicKey);
    bad[40]! ^= 1;
    assert.equal(isValidPublicKey('p256', bad), false);
    assert.throws(() => computeSharedSecret('p256', generateEcKeyPair('p256').privateKey, bad));
  });
  test('DER conversion agrees with node for a node signature', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const der = sign('sha256', utf8('x'), privateKey);
    assert.equal(bytesToHex(ecdsaRawToDer(ecdsaDerToRaw(der, 32))), bytesToHex(der));
  });
});

/** A node KeyObject from raw key bytes, via SEC 1 ECPrivateKey DER (JWK has no brainpool). */
function privateKeyObject(curve: string, d: Uint8Array, point: Uint8Array) {
  const oid = curve === 'prime256v1' ? OID.prime256v1 : OID.brainpoolP256r1;
  const der = derSequence(
    derSmallInteger(1),
    derOctetString(d),
    derContext(0, derOid(oid)),
    derContext(1, derBitString(point)),
  );
  return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'sec1' });
}
