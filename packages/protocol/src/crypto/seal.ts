// Secrets at rest (SIM directories, the OTA key store): AES-256-GCM, base64(iv ‖ ciphertext ‖ tag),
// each value bound to a context string as associated data so a sealed value cannot be moved.
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { utf8 } from '../bytes.js';

/** A sealed value that does not open: wrong key, altered, truncated, or moved to another context. */
export class SealError extends Error {
  override name = 'SealError';
}

const IV_LENGTH = 12;
const TAG_LENGTH = 16;

// Random IVs drawn from a pool filled 256 at a time: one call into the CSPRNG per 256 seals (a bulk
// import seals two keys a SIM), each IV used once and as random as one drawn alone.
const ivPool = Buffer.alloc(IV_LENGTH * 256);
let ivAt = ivPool.length;

function nextIv(): Buffer {
  if (ivAt === ivPool.length) {
    randomFillSync(ivPool);
    ivAt = 0;
  }
  const iv = Buffer.from(ivPool.subarray(ivAt, ivAt + IV_LENGTH));
  ivPool.fill(0, ivAt, ivAt + IV_LENGTH);
  ivAt += IV_LENGTH;
  return iv;
}

export function seal(key: Uint8Array, plaintext: Uint8Array, context: string): string {
  const iv = nextIv();
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(utf8(context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
}

export function unseal(key: Uint8Array, sealed: string, context: string): Uint8Array {
  const raw = Buffer.from(sealed, 'base64');
  if (raw.length < IV_LENGTH + TAG_LENGTH) throw new SealError(`sealed value for ${context} is truncated`);
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_LENGTH));
  decipher.setAAD(utf8(context));
  decipher.setAuthTag(raw.subarray(raw.length - TAG_LENGTH));
  try {
    return new Uint8Array(
      Buffer.concat([decipher.update(raw.subarray(IV_LENGTH, raw.length - TAG_LENGTH)), decipher.final()]),
    );
  } catch {
    throw new SealError(`cannot decrypt ${context}: wrong storage key, or the data was altered`);
  }
}
