// SCP03 keys for `iotsafe gp` and `sim create`: from --key / --key-enc/--key-mac/--key-dek, from the
// environment (IOTSAFE_GP_KEY or IOTSAFE_GP_KEY_ENC/_MAC/_DEK), or from a key file. Never printed.
import type { StaticKeys } from '@iotsafe/protocol';
import { parseHexKey, readKeyFile } from './key-files.js';
import { UsageError } from './usage.js';

export interface KeyOptions {
  key?: string;
  keyEnc?: string;
  keyMac?: string;
  keyDek?: string;
  keysFile?: string;
}

const AES_LENGTHS = [16, 24, 32];
const aesKey = (text: string, what: string) => parseHexKey(text, `${what} (an AES key)`, AES_LENGTHS);

/** A GP key file: one hex key (ENC = MAC = DEK), or enc=/mac=/dek= lines (kic=/kid=/kik= also). */
export function readKeysFile(path: string): StaticKeys {
  const file = readKeyFile(path);
  if (file.single !== undefined) {
    const key = aesKey(file.single, `the key in ${path}`);
    return { enc: key, mac: key, dek: key };
  }
  const get = (name: 'enc' | 'mac' | 'dek') => {
    const value = file.named.get(name);
    if (value === undefined) throw new UsageError(`${path} lacks ${name}=…`);
    return aesKey(value, `${name} in ${path}`);
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
      enc: aesKey(enc, 'the ENC key'),
      mac: aesKey(mac, 'the MAC key'),
      dek: aesKey(dek, 'the DEK key'),
    };
  }
  if (one) {
    const key = aesKey(one, 'the key');
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
