// `iotsafe keys new`: fresh random keys in owner-only files, so every key a walkthrough uses is made
// by a command: a storage key, an SCP03 key set (enc/mac/dek) or an SCP80 key set (kic/kid/kik: the
// same three key IDs of a key version, named as ETSI TS 102 225 names them), or a PSK.
import { randomBytes } from 'node:crypto';
import { bytesToHex } from '@iotsafe/protocol';
import type { Command } from 'commander';
import { writeSecretFile } from './key-files.js';
import { emit } from './output.js';
import { type GlobalOptions, UsageError } from './session.js';

const KINDS = {
  storage: { names: [] as string[], what: 'storage key (seals SIM directories, key stores, the CA key)' },
  gp: { names: ['enc', 'mac', 'dek'], what: 'SCP03 key set (Key-ENC, Key-MAC, Key-DEK)' },
  scp80: { names: ['kic', 'kid', 'kik'], what: 'SCP80 key set (KIc, KID, KIK)' },
  psk: { names: [] as string[], what: 'pre-shared key' },
} as const;

export function registerKeys(program: Command, globals: () => GlobalOptions): void {
  const keys = program.command('keys').description('make keys (random, in files only their owner can read)');
  keys
    .command('new')
    .description('write fresh random keys to a new file (0600); the keys are never printed')
    .option('--storage <file>', 'a storage key (32 bytes)')
    .option('--gp <file>', 'an SCP03 key set: enc=, mac=, dek= lines')
    .option('--scp80 <file>', 'an SCP80 key set: kic=, kid=, kik= lines (AES)')
    .option('--psk <file>', 'a pre-shared key (--length bytes, 32 by default)')
    .option('--length <bytes>', 'key length: 16, 24 or 32 (AES key sets: 16 by default)')
    .option('--force', 'replace an existing file')
    .action(
      (options: {
        storage?: string;
        gp?: string;
        scp80?: string;
        psk?: string;
        length?: string;
        force?: boolean;
      }) => {
        const chosen = (['storage', 'gp', 'scp80', 'psk'] as const).filter((k) => options[k] !== undefined);
        if (chosen.length !== 1)
          throw new UsageError('give one of --storage FILE, --gp FILE, --scp80 FILE, --psk FILE');
        const kind = chosen[0]!;
        const file = options[kind]!;
        const length =
          options.length === undefined
            ? kind === 'gp' || kind === 'scp80'
              ? 16
              : 32
            : Number(options.length);
        if (kind === 'storage' && length !== 32) throw new UsageError('a storage key is 32 bytes');
        if (![16, 24, 32].includes(length)) throw new UsageError('--length takes 16, 24 or 32');
        const fresh = () => bytesToHex(new Uint8Array(randomBytes(length)));
        const names = KINDS[kind].names;
        const text = names.length
          ? `# ${KINDS[kind].what}, made by iotsafe keys new\n${names.map((n) => `${n}=${fresh()}`).join('\n')}\n`
          : `${fresh()}\n`;
        writeSecretFile(file, text, options.force);
        emit(
          globals().json,
          { file, kind, keys: names.length || 1, length },
          () => `${KINDS[kind].what} written to ${file} (mode 600)`,
        );
      },
    );
}
