// Key files the CLI reads and writes: one hex key, or `name=hex` lines with # comments. One parser for
// GP (enc/mac/dek) and SCP80 (kic/kid/kik) files. The names are two views of one key set: a PUT KEY
// loads key IDs 1, 2, 3 of a key version, which SCP03 uses as Key-ENC, Key-MAC, Key-DEK (GP Amd D
// §7.2) and SCP80 as KIc, KID, KIK (ETSI TS 102 225 §5.1), so either spelling works in either place.
// Files we write are created owner-only (0600); a key file others can read gets a warning, as ssh's.
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hexToBytes } from '@iotsafe/protocol';
import { printError } from './output.js';
import { UsageError } from './usage.js';

const ALIASES: Record<string, 'enc' | 'mac' | 'dek'> = {
  enc: 'enc',
  kic: 'enc',
  mac: 'mac',
  kid: 'mac',
  dek: 'dek',
  kik: 'dek',
};

/** Warns on stderr when a file holding secrets is readable or writable by group or others. */
export function warnIfExposed(path: string, what = 'holds keys'): void {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    return; // reading it will say what is wrong
  }
  if ((mode & 0o077) !== 0)
    printError(
      `warning: ${path} ${what} and is accessible by others (mode ${(mode & 0o777).toString(8)}); run chmod 600 ${path}`,
    );
}

/** The text of a key file, with the permission warning; a missing file is a usage error. */
function readKeyText(path: string): string {
  warnIfExposed(path);
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the key file ${path}: ${(error as NodeJS.ErrnoException).code}`);
  }
}

/** Hex of one of the allowed byte lengths, else a usage error naming `what` (never the value). */
export function parseHexKey(text: string, what: string, lengths: readonly number[]): Uint8Array {
  const clean = text.trim();
  if (!/^([0-9a-fA-F]{2})+$/.test(clean) || !lengths.includes(clean.length / 2))
    throw new UsageError(`${what} must be ${lengths.join(', ')} bytes of hex`);
  return hexToBytes(clean);
}

export interface KeyFile {
  /** The single key of a one-key file (ENC = MAC = DEK). */
  single?: string;
  /** Named keys, by their GP position: enc (= kic), mac (= kid), dek (= kik). */
  named: Map<'enc' | 'mac' | 'dek', string>;
}

export function readKeyFile(path: string): KeyFile {
  const lines = readKeyText(path)
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
  if (lines.length === 1 && !lines[0]!.includes('=')) return { single: lines[0]!, named: new Map() };
  const named = new Map<'enc' | 'mac' | 'dek', string>();
  for (const line of lines) {
    const [name, value] = line.split('=').map((p) => p.trim().toLowerCase());
    const position = ALIASES[name ?? ''];
    if (!position || value === undefined)
      throw new UsageError(`${path}: lines are enc=, mac=, dek= (or kic=, kid=, kik=) with hex keys`);
    if (named.has(position)) throw new UsageError(`${path} gives the ${name} key twice`);
    named.set(position, value);
  }
  return { named };
}

/** Creates a file owner-only (0600); refuses to replace one unless `force`. */
export function writeSecretFile(path: string, text: string, force = false): void {
  try {
    writeFileSync(path, text, { mode: 0o600, flag: force ? 'w' : 'wx' });
    chmodSync(path, 0o600); // a replaced file keeps its old mode otherwise
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new UsageError(`${path} exists: pass --force to replace it`);
    throw error;
  }
}
