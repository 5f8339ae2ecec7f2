// SCP03 keys for `iotsafe gp` and `sim create`: from --key / --key-enc/--key-mac/--key-dek, from the
// environment (IOTSAFE_GP_KEY or IOTSAFE_GP_KEY_ENC/_MAC/_DEK), or from a key file. Never printed.
import { readFileSync } from 'node:fs';
import type { StaticKeys } from '@iotsafe/protocol';
import { UsageError } from './session.js';

export interface KeyOptions {
  key?: string;
  keyEnc?: string;
  keyMac?: string;
  keyDek?: string;
  keysFile?: string;
}

function parseKey(text: string, what: string): Uint8Array {
  const clean = text.trim();
  if (!/^([0-9a-fA-F]{32}|[0-9a-fA-F]{48}|[0-9a-fA-F]{64})$/.test(clean)) {
    throw new UsageError(`${what} must be an AES key of 16, 24 or 32 bytes in hex`);
  }
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

/** A key file holds one hex key (ENC = MAC = DEK) or lines `enc=…`, `mac=…`, `dek=…` (# comments). */
export function readKeysFile(path: string): StaticKeys {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the key file ${path}: ${(error as NodeJS.ErrnoException).code}`);
  }
  const lines = text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
  if (lines.length === 1 && !lines[0]!.includes('=')) {
    const key = parseKey(lines[0]!, `the key in ${path}`);
    return { enc: key, mac: key, dek: key };
  }
  const named = new Map(lines.map((l) => l.split('=').map((p) => p.trim()) as [string, string]));
  const get = (name: string) => {
    const value = named.get(name);
    if (!value) throw new UsageError(`${path} lacks ${name}=…`);
    return parseKey(value, `${name} in ${path}`);
  };
  return { enc: get('enc'), mac: get('mac'), dek: get('dek') };
}

export function resolveKeys(
  options: KeyOptions,
  env: NodeJS.ProcessEnv = process.env,
): StaticKeys | undefined {
  if (options.keysFile) return readKeysFile(options.keysFile);
  const one = options.key ?? env.IOTSAFE_GP_KEY;
  const enc = options.keyEnc ?? env.IOTSAFE_GP_KEY_ENC;
  const mac = options.keyMac ?? env.IOTSAFE_GP_KEY_MAC;
  const dek = options.keyDek ?? env.IOTSAFE_GP_KEY_DEK;
  if (enc || mac || dek) {
    if (!enc || !mac || !dek) throw new UsageError('give all three of --key-enc, --key-mac and --key-dek');
    return {
      enc: parseKey(enc, 'the ENC key'),
      mac: parseKey(mac, 'the MAC key'),
      dek: parseKey(dek, 'the DEK key'),
    };
  }
  if (one) {
    const key = parseKey(one, 'the key');
    return { enc: key, mac: key, dek: key };
  }
  return undefined;
}

export function requireKeys(options: KeyOptions): StaticKeys {
  const keys = resolveKeys(options);
  if (!keys)
    throw new UsageError(
      'no SCP03 keys: pass --key, --key-enc/--key-mac/--key-dek, --keys-file, or set IOTSAFE_GP_KEY',
    );
  return keys;
}
