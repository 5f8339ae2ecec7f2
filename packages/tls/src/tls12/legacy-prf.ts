// The PRF of TLS 1.0 and 1.1 (RFC 2246 §5, RFC 4346 §5): P_MD5(S1, label ‖ seed) XOR P_SHA1(S2, label ‖
// seed), S1 and S2 the two halves of the secret (sharing a byte when its length is odd); and the
// handshake hash those versions take for Finished (RFC 2246 §7.4.9) and the session hash (RFC 7627 §3):
// MD5 ‖ SHA-1 of the messages.
import { createHash, createHmac } from 'node:crypto';

/** P_hash(secret, seed) (RFC 2246 §5): HMAC chained on A(i), `length` bytes. */
function pHash(hash: 'md5' | 'sha1', secret: Uint8Array, seed: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let a: Uint8Array = createHmac(hash, secret).update(seed).digest();
  for (let filled = 0; filled < length; ) {
    const block = createHmac(hash, secret).update(a).update(seed).digest();
    out.set(block.subarray(0, Math.min(block.length, length - filled)), filled);
    filled += block.length;
    a = createHmac(hash, secret).update(a).digest();
  }
  return out;
}

/** PRF(secret, label, seed) of TLS 1.0/1.1; `labelAndSeed` is label ‖ seed already joined. */
export function legacyPrf(secret: Uint8Array, labelAndSeed: Uint8Array, length: number): Uint8Array {
  const half = Math.ceil(secret.length / 2);
  const md5 = pHash('md5', secret.subarray(0, half), labelAndSeed, length);
  const sha1 = pHash('sha1', secret.subarray(secret.length - half), labelAndSeed, length);
  for (let i = 0; i < length; i++) md5[i]! ^= sha1[i]!;
  sha1.fill(0);
  return md5;
}

/** MD5(messages) ‖ SHA-1(messages): 36 bytes (RFC 2246 §7.4.9). */
export function md5Sha1(messages: Uint8Array): Uint8Array {
  const out = new Uint8Array(36);
  out.set(createHash('md5').update(messages).digest(), 0);
  out.set(createHash('sha1').update(messages).digest(), 16);
  return out;
}
