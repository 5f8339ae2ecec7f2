// The access key of the TCP card link (`sim serve --tcp --tcp-key FILE`, `iotsafe --tcp … --tcp-key
// FILE`): one hex key in an owner-only file, which `sim serve` creates when it is not there yet.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { bytesToHex, TCP_ACCESS_KEY_LENGTHS } from '@iotsafe/protocol';
import { parseHexKey, warnIfExposed, writeSecretFile } from './key-files.js';
import { UsageError } from './usage.js';

const LENGTHS = Array.from(
  { length: TCP_ACCESS_KEY_LENGTHS.max - TCP_ACCESS_KEY_LENGTHS.min + 1 },
  (_, i) => TCP_ACCESS_KEY_LENGTHS.min + i,
);

/** The access key in `path`; a usage error (never the key) when it cannot be read or is no key. */
export function readAccessKey(path: string): Uint8Array {
  warnIfExposed(path, 'holds the card link access key');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the access key ${path}: ${(error as NodeJS.ErrnoException).code}`);
  }
  return parseHexKey(text, `the access key in ${path}`, LENGTHS);
}

/** The key a server uses: read, or made (32 random bytes, file 0600) when the file does not exist. */
export function accessKeyToServe(path: string): { key: Uint8Array; created: boolean } {
  if (existsSync(path)) return { key: readAccessKey(path), created: false };
  const key = randomBytes(32);
  writeSecretFile(path, `${bytesToHex(key)}\n`);
  return { key, created: true };
}
