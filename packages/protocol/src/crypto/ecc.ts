// Elliptic curves of IoT SAFE key containers (spec/iotsafe.md §4.2): NIST P-256 and brainpoolP256r1.
// Scalar multiplication runs in OpenSSL through node:crypto; ECDSA over a precomputed digest (which
// node:crypto cannot do) is assembled here from that multiplication, and verification uses @noble/curves.
import { createECDH, randomBytes } from 'node:crypto';
import { brainpoolP256r1 } from '@noble/curves/misc.js';
import { p256 } from '@noble/curves/nist.js';
import { FormatError, bigintToBytes, bytesToBigint, concatBytes } from '../bytes.js';

export type CurveName = 'p256' | 'brainpoolP256r1';

interface CurveParams {
  /** Name in OpenSSL / node:crypto. */
  openssl: string;
  /** Group order n (SEC 1 §2.2; RFC 5639 §3.4). */
  order: bigint;
  /** Bytes of a field element or a scalar. */
  size: number;
  noble: typeof p256;
}

const CURVES: Record<CurveName, CurveParams> = {
  p256: {
    openssl: 'prime256v1',
    order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    size: 32,
    noble: p256,
  },
  brainpoolP256r1: {
    openssl: 'brainpoolP256r1',
    order: 0xa9fb57dba1eea9bc3e660a909d838d718c397aa3b561a6f7901e0e82974856a7n,
    size: 32,
    noble: brainpoolP256r1 as unknown as typeof p256,
  },
};

export function curveSize(curve: CurveName): number {
  return CURVES[curve].size;
}

export interface EcKeyPair {
  /** Private scalar, big-endian, curve size bytes. */
  privateKey: Uint8Array;
  /** Uncompressed point 04 ‖ X ‖ Y. */
  publicKey: Uint8Array;
}

export function generateEcKeyPair(curve: CurveName): EcKeyPair {
  const ecdh = createECDH(CURVES[curve].openssl);
  ecdh.generateKeys();
  return { privateKey: new Uint8Array(ecdh.getPrivateKey()), publicKey: new Uint8Array(ecdh.getPublicKey()) };
}

export function publicKeyFromPrivate(curve: CurveName, privateKey: Uint8Array): Uint8Array {
  const ecdh = scalarMultiplier(curve);
  ecdh.setPrivateKey(privateKey);
  return new Uint8Array(ecdh.getPublicKey());
}

/** True when `point` is an uncompressed point on the curve (not the identity). */
export function isValidPublicKey(curve: CurveName, point: Uint8Array): boolean {
  if (point.length !== 1 + 2 * CURVES[curve].size || point[0] !== 0x04) return false;
  try {
    CURVES[curve].noble.Point.fromBytes(point).assertValidity();
    return true;
  } catch {
    return false;
  }
}

export function isValidPrivateKey(curve: CurveName, privateKey: Uint8Array): boolean {
  if (privateKey.length !== CURVES[curve].size) return false;
  const d = bytesToBigint(privateKey);
  return d > 0n && d < CURVES[curve].order;
}

/** ECKA-DH (BSI TR-03111 §4.3.1, IEEE 1363 ECSVDP-DH): the x-coordinate of d·Q. */
export function computeSharedSecret(curve: CurveName, privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array {
  if (!isValidPublicKey(curve, peerPublicKey)) throw new FormatError('peer public key is not a point on the curve');
  const ecdh = scalarMultiplier(curve);
  ecdh.setPrivateKey(privateKey);
  return new Uint8Array(ecdh.computeSecret(peerPublicKey));
}

const multipliers = new Map<CurveName, ReturnType<typeof createECDH>>();
function scalarMultiplier(curve: CurveName): ReturnType<typeof createECDH> {
  let m = multipliers.get(curve);
  if (!m) {
    m = createECDH(CURVES[curve].openssl);
    multipliers.set(curve, m);
  }
  return m;
}

function randomScalar(order: bigint, size: number): bigint {
  // Rejection sampling gives a uniform scalar in [1, n-1] (FIPS 186-5 §A.3.2).
  for (;;) {
    const k = bytesToBigint(randomBytes(size));
    if (k > 0n && k < order) return k;
  }
}

function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1] = [a % m, m];
  let [x0, x1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [x0, x1] = [x1, x0 - q * x1];
  }
  return x0 < 0n ? x0 + m : x0;
}

/**
 * ECDSA signature (SEC 1 §4.1.3) of a digest, returned raw as r ‖ s. A digest longer than the order is
 * cut to its leftmost bits. The nonce inverse is blinded with a random factor so its timing does not
 * depend on the nonce alone.
 */
export function signDigest(curve: CurveName, privateKey: Uint8Array, digestBytes: Uint8Array): Uint8Array {
  const { order: n, size } = CURVES[curve];
  const d = bytesToBigint(privateKey);
  if (d <= 0n || d >= n) throw new FormatError('private key is out of range');
  const z = bytesToBigint(digestBytes.subarray(0, size)) % n;
  const multiplier = scalarMultiplier(curve);
  for (;;) {
    const k = randomScalar(n, size);
    multiplier.setPrivateKey(bigintToBytes(k, size));
    const point = multiplier.getPublicKey();
    const r = bytesToBigint(point.subarray(1, 1 + size)) % n;
    if (r === 0n) continue;
    const blind = randomScalar(n, size);
    const kInverse = (modInverse((k * blind) % n, n) * blind) % n;
    const s = (kInverse * ((z + r * d) % n)) % n;
    if (s === 0n) continue;
    return concatBytes(bigintToBytes(r, size), bigintToBytes(s, size));
  }
}

/** Verifies a raw r ‖ s ECDSA signature over a digest; high-S signatures are accepted, as OpenSSL does. */
export function verifyDigest(
  curve: CurveName,
  publicKey: Uint8Array,
  digestBytes: Uint8Array,
  signature: Uint8Array,
): boolean {
  const { noble, size } = CURVES[curve];
  if (signature.length !== 2 * size || !isValidPublicKey(curve, publicKey)) return false;
  try {
    return noble.verify(signature, digestBytes, publicKey, { prehash: false, lowS: false });
  } catch {
    return false;
  }
}
