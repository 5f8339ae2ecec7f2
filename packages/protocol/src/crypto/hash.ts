// SHA-2 digests, plus resuming a hash from an intermediate state for COMPUTE SIGNATURE "last block"
// mode (GSMA IoT.05 COMPUTE SIGNATURE: 9C intermediate hash, 9D bytes already hashed, 9A last block).
import { createHash } from 'node:crypto';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { FormatError } from '../bytes.js';

export type HashAlgorithm = 'sha256' | 'sha384' | 'sha512';

export const HASH_LENGTH: Record<HashAlgorithm, number> = { sha256: 32, sha384: 48, sha512: 64 };
export const HASH_BLOCK_LENGTH: Record<HashAlgorithm, number> = { sha256: 64, sha384: 128, sha512: 128 };
/** Length of the chaining value (the "intermediate hash"): SHA-384 runs SHA-512's 64-byte state. */
export const HASH_STATE_LENGTH: Record<HashAlgorithm, number> = { sha256: 32, sha384: 64, sha512: 64 };

export function digest(algorithm: HashAlgorithm, data: Uint8Array): Uint8Array {
  return createHash(algorithm).update(data).digest();
}

// noble's SHA-2 classes keep their chaining value in 32-bit fields reachable through get()/set();
// they are protected in the type declarations, so this is the one place that names them.
interface Sha2Internals {
  get(): number[];
  set(...words: number[]): void;
  length: number;
  update(data: Uint8Array): Sha2Internals;
  digest(): Uint8Array;
}

function createSha2(algorithm: HashAlgorithm): Sha2Internals {
  const factory = algorithm === 'sha256' ? sha256 : algorithm === 'sha384' ? sha384 : sha512;
  return factory.create() as unknown as Sha2Internals;
}

/** The chaining value after hashing whole blocks of `prefix` (its length must be a block multiple). */
export function intermediateHashState(algorithm: HashAlgorithm, prefix: Uint8Array): Uint8Array {
  if (prefix.length % HASH_BLOCK_LENGTH[algorithm] !== 0) {
    throw new FormatError(`prefix of ${prefix.length} bytes is not a whole number of ${algorithm} blocks`);
  }
  const h = createSha2(algorithm).update(prefix);
  const words = h.get();
  const state = new Uint8Array(HASH_STATE_LENGTH[algorithm]);
  const view = new DataView(state.buffer);
  for (const [i, w] of words.entries()) view.setUint32(4 * i, w >>> 0);
  return state;
}

/** Finishes a hash from a chaining value, the count of bytes it covers, and the remaining bytes. */
export function resumeHash(
  algorithm: HashAlgorithm,
  state: Uint8Array,
  bytesAlreadyHashed: number,
  tail: Uint8Array,
): Uint8Array {
  if (state.length !== HASH_STATE_LENGTH[algorithm]) {
    throw new FormatError(`intermediate ${algorithm} state must be ${HASH_STATE_LENGTH[algorithm]} bytes`);
  }
  if (bytesAlreadyHashed % HASH_BLOCK_LENGTH[algorithm] !== 0) {
    throw new FormatError('bytes already hashed must be a whole number of blocks');
  }
  const h = createSha2(algorithm);
  const view = new DataView(state.buffer, state.byteOffset, state.byteLength);
  const words: number[] = [];
  for (let i = 0; i < state.length; i += 4) words.push(view.getUint32(i) | 0);
  h.set(...words);
  h.length = bytesAlreadyHashed;
  return h.update(tail).digest();
}
