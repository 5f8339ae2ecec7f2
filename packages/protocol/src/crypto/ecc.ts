// Elliptic curves of IoT SAFE key containers (GSMA IoT.05): NIST P-256 (FIPS 186-4) and brainpoolP256r1
// (RFC 5639).
// Scalar multiplication runs in OpenSSL through node:crypto; ECDSA over a precomputed digest (which
// node:crypto cannot do) is assembled here from that multiplication, and verification uses @noble/curves.
import { createECDH, randomBytes } from 'node:crypto';
import { brainpoolP256r1 } from '@noble/curves/misc.js';
import { p256 } from '@noble/curves/nist.js';
import { bigintToBytes, bytesToBigint, concatBytes, FormatError } from '../bytes.js';

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

/** ECKA-DH (BSI TR-03111 §4.3.1, IEEE 1363 ECSVDP-DH): the x-coordinate of d·Q. OpenSSL rejects a Q off the curve. */
export function computeSharedSecret(
  curve: CurveName,
  privateKey: Uint8Array,
  peerPublicKey: Uint8Array,
): Uint8Array {
  if (peerPublicKey.length !== 1 + 2 * CURVES[curve].size || peerPublicKey[0] !== 0x04) {
    throw new FormatError('peer public key is not an uncompressed point');
  }
  const ecdh = scalarMultiplier(curve);
  ecdh.setPrivateKey(privateKey);
  try {
    return new Uint8Array(ecdh.computeSecret(peerPublicKey));
  } catch {
    throw new FormatError('peer public key is not a point on the curve');
  }
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

interface Nonce {
  /** r = x(k·G) mod n. */
  r: bigint;
  kInverse: bigint;
}

const NONCE_BATCH = 32;

/**
 * Per-signature nonces, prepared in batches: each k is fresh and random, k·G runs in OpenSSL, and the
 * k⁻¹ of a whole batch cost one modular inversion (Montgomery's trick) instead of one each — the
 * inversion dominates ECDSA in BigInt arithmetic. Each nonce is used once and dropped. Node processes
 * never share memory (no fork(2)), so a batch cannot be duplicated into another process.
 */
class NoncePool {
  private readonly nonces: Nonce[] = [];

  constructor(private readonly curve: CurveName) {}

  take(): Nonce {
    if (this.nonces.length === 0) this.refill();
    return this.nonces.pop()!;
  }

  private refill(): void {
    const { order: n, size } = CURVES[this.curve];
    const multiplier = scalarMultiplier(this.curve);
    const ks: bigint[] = [];
    const rs: bigint[] = [];
    while (ks.length < NONCE_BATCH) {
      const k = randomScalar(n, size);
      multiplier.setPrivateKey(bigintToBytes(k, size));
      const r = bytesToBigint(multiplier.getPublicKey().subarray(1, 1 + size)) % n;
      if (r === 0n) continue;
      ks.push(k);
      rs.push(r);
    }
    const prefix: bigint[] = [];
    let product = 1n;
    for (const k of ks) {
      prefix.push(product);
      product = (product * k) % n;
    }
    let inverse = modInverse(product, n);
    for (let i = ks.length - 1; i >= 0; i--) {
      this.nonces.push({ r: rs[i]!, kInverse: (inverse * prefix[i]!) % n });
      inverse = (inverse * ks[i]!) % n;
    }
  }
}

const noncePools = new Map<CurveName, NoncePool>();

/**
 * ECDSA signature (SEC 1 §4.1.3) of a digest, returned raw as r ‖ s. A digest longer than the order is
 * cut to its leftmost bits.
 */
export function signDigest(curve: CurveName, privateKey: Uint8Array, digestBytes: Uint8Array): Uint8Array {
  const { order: n, size } = CURVES[curve];
  const d = bytesToBigint(privateKey);
  if (d <= 0n || d >= n) throw new FormatError('private key is out of range');
  const z = bytesToBigint(digestBytes.subarray(0, size)) % n;
  let pool = noncePools.get(curve);
  if (!pool) {
    pool = new NoncePool(curve);
    noncePools.set(curve, pool);
  }
  for (;;) {
    const { r, kInverse } = pool.take();
    const s = (kInverse * ((z + r * d) % n)) % n;
    if (s !== 0n) return concatBytes(bigintToBytes(r, size), bigintToBytes(s, size));
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
