// TLS 1.2 PRF (RFC 5246 §5), HKDF (RFC 5869), and the PSK premaster secrets of RFC 4279 §2 and RFC 5489 §2.
import { createHmac } from 'node:crypto';
import { concatBytes, FormatError, u16be } from '../bytes.js';
import { HASH_LENGTH, type HashAlgorithm } from './hash.js';

export function hmac(algorithm: HashAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array {
  return createHmac(algorithm, key).update(data).digest();
}

/** P_hash(secret, seed) of RFC 5246 §5, cut to `length` bytes. */
export function pHash(
  algorithm: HashAlgorithm,
  secret: Uint8Array,
  seed: Uint8Array,
  length: number,
): Uint8Array {
  const out = new Uint8Array(length);
  let a = seed;
  let filled = 0;
  while (filled < length) {
    a = hmac(algorithm, secret, a);
    const block = createHmac(algorithm, secret).update(a).update(seed).digest();
    out.set(block.subarray(0, Math.min(block.length, length - filled)), filled);
    filled += block.length;
  }
  return out;
}

/** PRF(secret, label, seed) = P_SHA256(secret, label ‖ seed) for TLS 1.2 (RFC 5246 §5). */
export function tls12Prf(
  secret: Uint8Array,
  labelAndSeed: Uint8Array,
  length: number,
  algorithm: HashAlgorithm = 'sha256',
): Uint8Array {
  return pHash(algorithm, secret, labelAndSeed, length);
}

/** HKDF-Extract (RFC 5869 §2.2); an empty salt means HashLen zero bytes. */
export function hkdfExtract(algorithm: HashAlgorithm, salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  const key = salt.length === 0 ? new Uint8Array(HASH_LENGTH[algorithm]) : salt;
  return hmac(algorithm, key, ikm);
}

/** HKDF-Expand (RFC 5869 §2.3). */
export function hkdfExpand(
  algorithm: HashAlgorithm,
  prk: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  const hashLength = HASH_LENGTH[algorithm];
  if (length > 255 * hashLength) throw new FormatError(`HKDF output of ${length} bytes is too long`);
  const out = new Uint8Array(length);
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 1, filled = 0; filled < length; i++) {
    t = createHmac(algorithm, prk).update(t).update(info).update(Uint8Array.of(i)).digest();
    out.set(t.subarray(0, Math.min(hashLength, length - filled)), filled);
    filled += hashLength;
  }
  return out;
}

/** Plain PSK premaster (RFC 4279 §2): uint16 N, N zero bytes, uint16 N, PSK. */
export function pskPremaster(psk: Uint8Array): Uint8Array {
  return concatBytes(u16be(psk.length), new Uint8Array(psk.length), u16be(psk.length), psk);
}

/** ECDHE-PSK premaster (RFC 5489 §2): uint16 len, ECDHE secret, uint16 len, PSK. */
export function ecdhePskPremaster(otherSecret: Uint8Array, psk: Uint8Array): Uint8Array {
  return concatBytes(u16be(otherSecret.length), otherSecret, u16be(psk.length), psk);
}
