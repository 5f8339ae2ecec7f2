// `iotsafe gp …`: GlobalPlatform card management over SCP03, in the spirit of GlobalPlatformPro's gp.
import { readFileSync } from 'node:fs';
import {
  CARD_STATE,
  ClearSecretError,
  GlobalPlatform,
  MemoryTransport,
  requireConfidentiality,
} from '@iotsafe/device';
import { bytesToHex, type Diversification, hexToBytes, IOTSAFE_AID } from '@iotsafe/protocol';
import { BUILTIN_PROFILES, personalizationFromProfile } from '@iotsafe/sim';
import { type Command, Option } from 'commander';
import { type KeyOptions, requireKeys, resolveKeys } from './gp-keys.js';
import { print, printError, printJson, table } from './output.js';
import { type GlobalOptions, openSim, UsageError } from './session.js';

interface GpOptions extends KeyOptions {
  kvn?: string;
  level: string;
  diversify: Diversification;
  s16?: boolean;
}

const LEVELS: Record<string, number> = { clr: 0x00, mac: 0x01, enc: 0x03, rmac: 0x13, renc: 0x33 };

export function level(text: string): number {
  const named = LEVELS[text];
  if (named !== undefined) return named;
  if (/^[0-9a-fA-F]{2}$/.test(text)) return Number.parseInt(text, 16);
  throw new UsageError('--level is clr, mac, enc, rmac, renc or a hex level (00 01 03 11 13 33)');
}

function aidOption(text: string | undefined): Uint8Array {
  if (text === undefined) return IOTSAFE_AID;
  if (!/^([0-9a-fA-F]{2}){5,16}$/.test(text)) throw new UsageError('an AID is 5 to 16 bytes of hex');
  return hexToBytes(text);
}

export function registerGp(program: Command, globals: () => GlobalOptions): void {
  const gp = program
    .command('gp')
    .description('GlobalPlatform card management over SCP03 (ISD of the SIM)')
    .option('--key <hex>', 'one key for ENC, MAC and DEK (or IOTSAFE_GP_KEY)')
    .option('--key-enc <hex>', 'Key-ENC (or IOTSAFE_GP_KEY_ENC)')
    .option('--key-mac <hex>', 'Key-MAC (or IOTSAFE_GP_KEY_MAC)')
    .option('--key-dek <hex>', 'Key-DEK (or IOTSAFE_GP_KEY_DEK)')
    .option('--keys-file <file>', 'key file: one hex key, or enc=/mac=/dek= lines')
    .option('--kvn <hex>', 'key version to authenticate with (default: the card chooses)')
    .option('--level <level>', 'security level: clr mac enc rmac renc or hex', 'enc')
    .addOption(
      new Option('--diversify <method>', 'derive card keys from master keys')
        .choices(['none', 'kdf3', 'emv', 'visa2'])
        .default('none'),
    )
    .option('--s16', 'S16 mode (16-byte challenges and MACs)');

  const open = async (options: GpOptions) => {
    const sim = openSim(globals());
    const trace = globals().trace ? (line: string) => printError(line) : undefined;
    const card = await GlobalPlatform.open(new MemoryTransport(sim.card), requireKeys(options), {
      securityLevel: level(options.level),
      diversification: options.diversify,
      ...(options.kvn ? { keyVersion: Number.parseInt(options.kvn, 16) } : {}),
      ...(options.s16 ? { sMode: 16 as const } : {}),
      ...(trace ? { trace } : {}),
    });
    return { sim, card };
  };
  const opts = (): GpOptions => gp.opts<GpOptions>();

  gp.command('info')
    .description('CPLC, key information, life cycle')
    .action(async () => {
      const { card } = await open(opts());
      const [cplc, keys, isd] = [await card.cplc(), await card.keyInformation(), await card.status('isd')];
      if (globals().json) return printJson({ cplc, keys, lifeCycle: isd[0]?.lifeCycle });
      print(`Card life cycle: ${isd[0]?.lifeCycle.toString(16).padStart(2, '0')}`);
      print('\nKey information:');
      print(
        table([
          ['KVN', 'KID', 'type', 'length'],
          ...keys.map((k) => [
            k.keyVersion.toString(16),
            String(k.keyId),
            k.type === 0x88 ? 'AES' : k.type.toString(16),
            String(k.length),
          ]),
        ]),
      );
      print('\nCPLC:');
      print(table(Object.entries(cplc)));
    });

  gp.command('list')
    .description('GET STATUS: the ISD, applications and load files')
    .action(async () => {
      const { card } = await open(opts());
      const rows: [string, string, string][] = [];
      for (const scope of ['isd', 'applications', 'loadFiles'] as const) {
        for (const e of await card.status(scope))
          rows.push([
            scope === 'isd' ? 'ISD' : scope === 'applications' ? 'APP' : 'PKG',
            bytesToHex(e.aid),
            e.lifeCycle.toString(16).padStart(2, '0'),
          ]);
      }
      if (globals().json) printJson(rows.map(([kind, aid, lifeCycle]) => ({ kind, aid, lifeCycle })));
      else print(table([['kind', 'AID', 'life cycle'], ...rows]));
    });

  gp.command('put-key')
    .description('add a key set, or replace one with --replace KVN')
    .requiredOption('--new-kvn <hex>', 'version of the new key set (01..7F)')
    .option('--replace <hex>', 'key version to replace')
    .option('--new-key <hex>', 'one new key for ENC, MAC and DEK')
    .option('--new-key-enc <hex>')
    .option('--new-key-mac <hex>')
    .option('--new-key-dek <hex>')
    .option('--new-keys-file <file>')
    .action(
      async (o: {
        newKvn: string;
        replace?: string;
        newKey?: string;
        newKeyEnc?: string;
        newKeyMac?: string;
        newKeyDek?: string;
        newKeysFile?: string;
      }) => {
        const fresh = resolveKeys(
          {
            key: o.newKey,
            keyEnc: o.newKeyEnc,
            keyMac: o.newKeyMac,
            keyDek: o.newKeyDek,
            keysFile: o.newKeysFile,
          },
          {},
        );
        if (!fresh)
          throw new UsageError('which new keys? pass --new-key, --new-key-enc/-mac/-dek or --new-keys-file');
        const { card } = await open(opts());
        await card.putKeySet(
          Number.parseInt(o.newKvn, 16),
          fresh,
          o.replace ? Number.parseInt(o.replace, 16) : 0,
        );
        print(`key set ${o.newKvn} loaded (the card's KCVs matched)`);
      },
    );

  gp.command('install')
    .description('install the IoT SAFE applet and make it selectable')
    .option('--aid <hex>', 'instance AID (default the GSMA IoT SAFE AID)')
    .action(async (o: { aid?: string }) => {
      const { card } = await open(opts());
      await card.installApplication(aidOption(o.aid));
      print(`installed ${bytesToHex(aidOption(o.aid))}`);
    });

  gp.command('delete')
    .description('delete the IoT SAFE applet instance (and everything it holds), or a key set')
    .option('--aid <hex>', 'application AID')
    .option('--key-set <hex>', 'key version to delete instead')
    .action(async (o: { aid?: string; keySet?: string }) => {
      const { card } = await open(opts());
      if (o.keySet) await card.deleteKeySet(Number.parseInt(o.keySet, 16));
      else await card.deleteApplication(aidOption(o.aid));
      print('deleted');
    });

  for (const [name, locked] of [
    ['lock', true],
    ['unlock', false],
  ] as const) {
    gp.command(name)
      .description(`${name} the card (CARD_LOCKED ↔ SECURED), or an application with --aid`)
      .option('--aid <hex>', 'application AID')
      .action(async (o: { aid?: string }) => {
        const { card } = await open(opts());
        if (o.aid) await card.setApplicationLocked(aidOption(o.aid), locked);
        else await card.setCardState(locked ? 'locked' : 'secured');
        print(`${name}ed`);
      });
  }

  gp.command('set-state <state>')
    .description(`card life cycle: ${Object.keys(CARD_STATE).join(', ')}`)
    .action(async (state: string) => {
      if (!(state in CARD_STATE))
        throw new UsageError(`state is one of ${Object.keys(CARD_STATE).join(', ')}`);
      const { card } = await open(opts());
      await card.setCardState(state as keyof typeof CARD_STATE);
      print(`card is now ${state}`);
    });

  gp.command('perso <profile>')
    .description('personalise the IoT SAFE applet from a profile (type1, type2 or a JSON file)')
    .option('--aid <hex>', 'application AID')
    .option('--lock', 'lock personalisation afterwards')
    .action(async (profileName: string, o: { aid?: string; lock?: boolean }) => {
      const profile = BUILTIN_PROFILES[profileName] ?? JSON.parse(readFileSync(profileName, 'utf8'));
      const operations = personalizationFromProfile(profile, o.lock ?? false);
      try {
        requireConfidentiality(operations, level(opts().level)); // before the SIM is even opened
      } catch (error) {
        if (error instanceof ClearSecretError)
          throw new UsageError(`${error.message}: pass --level enc (or rmac, renc)`);
        throw error;
      }
      const { card } = await open(opts());
      await card.personalize(aidOption(o.aid), operations);
      print(`personalised: ${operations.length} operations${o.lock ? ', personalisation locked' : ''}`);
    });
}
