// The key that encrypts a SIM directory's private keys and secrets at rest (AES-256-GCM). It comes
// from the caller, from IOTSAFE_STORAGE_KEY (64 hex digits) or from the file IOTSAFE_STORAGE_KEY_FILE
// names; there is no default.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hexToBytes, utf8 } from '@iotsafe/protocol';

export const STORAGE_KEY_ENV = 'IOTSAFE_STORAGE_KEY';
export const STORAGE_KEY_FILE_ENV = 'IOTSAFE_STORAGE_KEY_FILE';

/** The storage key is missing, malformed, or not the one the SIM was created with. */
export class StorageKeyError extends Error {
  override name = 'StorageKeyError';
}

function parseKeyText(text: string, origin: string): Uint8Array {
  const clean = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(clean))
    throw new StorageKeyError(`${origin} must hold 64 hex digits (a 256-bit key)`);
  return hexToBytes(clean);
}

/** Reads a key file: 64 hex digits, or exactly 32 raw bytes. */
export function readStorageKeyFile(path: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (error) {
    throw new StorageKeyError(
      `cannot read the storage key file ${path}: ${(error as NodeJS.ErrnoException).code}`,
    );
  }
  if (raw.length === 32) return new Uint8Array(raw);
  return parseKeyText(raw.toString('utf8'), `the storage key file ${path}`);
}

/** The storage key from the environment; a StorageKeyError naming both variables when neither is set. */
export function storageKeyFromEnvironment(env: NodeJS.ProcessEnv = process.env): Uint8Array {
  const inline = env[STORAGE_KEY_ENV];
  if (inline) return parseKeyText(inline, STORAGE_KEY_ENV);
  const file = env[STORAGE_KEY_FILE_ENV];
  if (file) return readStorageKeyFile(file);
  throw new StorageKeyError(
    `no storage key: set ${STORAGE_KEY_ENV} (64 hex digits) or ${STORAGE_KEY_FILE_ENV} (path to a key file)`,
  );
}

export function newStorageKey(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

const IV_LENGTH = 12;
const TAG_LENGTH = 16;

/** Seals one value: base64(iv ‖ ciphertext ‖ tag), bound to `context` as associated data. */
export function seal(key: Uint8Array, plaintext: Uint8Array, context: string): string {
  const iv = randomBytes(IV_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(utf8(context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
}

export function unseal(key: Uint8Array, sealed: string, context: string): Uint8Array {
  const raw = Buffer.from(sealed, 'base64');
  if (raw.length < IV_LENGTH + TAG_LENGTH)
    throw new StorageKeyError(`sealed value for ${context} is truncated`);
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_LENGTH));
  decipher.setAAD(utf8(context));
  decipher.setAuthTag(raw.subarray(raw.length - TAG_LENGTH));
  try {
    return new Uint8Array(
      Buffer.concat([decipher.update(raw.subarray(IV_LENGTH, raw.length - TAG_LENGTH)), decipher.final()]),
    );
  } catch {
    throw new StorageKeyError(`cannot decrypt ${context}: wrong storage key, or the file was altered`);
  }
}
