// The key that encrypts a SIM directory's private keys and secrets at rest (AES-256-GCM). It comes
// from the caller, from IOTSAFE_STORAGE_KEY (64 hex digits) or from the file IOTSAFE_STORAGE_KEY_FILE
// names; there is no default.
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { hexToBytes, SealError, seal as sealValue, unseal as unsealValue } from '@iotsafe/protocol';

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

/** Reads a key file: 64 hex digits, or exactly 32 raw bytes. One others can read gets a warning (as ssh). */
export function readStorageKeyFile(path: string): Uint8Array {
  warnIfReadableByOthers(path);
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

/**
 * A process warning (process.emitWarning, on stderr by default) when a file that holds a key can be read
 * by its group or others, as ssh warns of an unprotected private key file.
 */
export function warnIfReadableByOthers(path: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return; // the read that follows reports it
  }
  if ((mode & 0o077) === 0) return;
  process.emitWarning(
    `${path} can be read by others (mode ${mode.toString(8).padStart(4, '0')}); a key file should be owner-only: chmod 600 ${path}`,
    { code: 'IOTSAFE_KEY_FILE_READABLE' },
  );
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

/** Seals one value: base64(iv ‖ ciphertext ‖ tag), bound to `context` as associated data. */
export const seal = sealValue;

export function unseal(key: Uint8Array, sealed: string, context: string): Uint8Array {
  try {
    return unsealValue(key, sealed, context);
  } catch (error) {
    if (error instanceof SealError) throw new StorageKeyError(error.message.replace('the data', 'the file'));
    throw error;
  }
}
