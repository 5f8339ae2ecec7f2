// `iotsafe gp …`: GlobalPlatform card management over SCP03 (GPCS v2.3.1 §11, Amd D), in the spirit of
// GlobalPlatformPro's gp, through any transport (a SIM directory, a reader, a modem, TCP).
// Commands that cannot be undone (delete, set-state terminated) need --yes.
import { CARD_STATE, ClearSecretError, GlobalPlatform, requireConfidentiality } from '@iotsafe/device';
import {
  bytesToHex,
  type Diversification,
  hexToBytes,
  IOTSAFE_AID,
  type PersoLockScope,
} from '@iotsafe/protocol';
import { personalizationFromProfile } from '@iotsafe/sim';
import { type Command, Option } from 'commander';
import { lifeCycleName } from './errors.js';
import { type KeyOptions, requireKeys, resolveKeys } from './gp-keys.js';
import { printApduResults, runApdus } from './hardware.js';
import { emit, printError, table } from './output.js';
import { type GlobalOptions, openTransport, UsageError } from './session.js';
import { readProfile } from './sim-commands.js';

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

function kvnOption(text: string, what: string): number {
  if (!/^[0-9a-fA-F]{1,2}$/.test(text)) throw new UsageError(`${what} takes a key version in hex (01..7F)`);
  return Number.parseInt(text, 16);
}

/** Refuses an irreversible command unless --yes was given, saying what it would do. */
function confirm(yes: boolean | undefined, what: string): void {
  if (!yes) throw new UsageError(`${what} cannot be undone: pass --yes to do it`);
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0').toUpperCase();
const KEY_TYPES: Record<number, string> = { 128: 'DES', 133: 'TLS-PSK', 136: 'AES' };

export function registerGp(program: Command, globals: () => GlobalOptions): void {
  const gp = program
    .command('gp')
    .description('GlobalPlatform card management over SCP03 (the ISD of the SIM)')
    .option('--key <hex>', 'one key for ENC, MAC and DEK (or IOTSAFE_GP_KEY)')
    .option('--key-enc <hex>', 'Key-ENC (or IOTSAFE_GP_KEY_ENC)')
    .option('--key-mac <hex>', 'Key-MAC (or IOTSAFE_GP_KEY_MAC)')
    .option('--key-dek <hex>', 'Key-DEK (or IOTSAFE_GP_KEY_DEK)')
    .option('--keys-file <file>', 'key file: one hex key, or enc=/mac=/dek= lines (`iotsafe keys new --gp`)')
    .option('--kvn <hex>', 'key version to authenticate with (default: the card chooses)')
    .option('--level <level>', 'security level: clr mac enc rmac renc or hex', 'enc')
    .addOption(
      new Option('--diversify <method>', 'the keys are master keys: derive the card keys from them')
        .choices(['none', 'kdf3', 'emv', 'visa2'])
        .default('none'),
    )
    .option('--s16', 'S16 mode (16-byte challenges and MACs)');

  const opts = (): GpOptions => gp.opts<GpOptions>();
  /** Runs `body` in an SCP03 session with the ISD, closing the session and the transport after. */
  const withCard = async <T>(body: (card: GlobalPlatform) => Promise<T>): Promise<T> => {
    const options = opts();
    const keys = requireKeys(options);
    const transport = await openTransport(globals());
    try {
      const trace = globals().trace ? (line: string) => printError(line) : undefined;
      const card = await GlobalPlatform.open(transport, keys, {
        securityLevel: level(options.level),
        diversification: options.diversify,
        ...(options.kvn ? { keyVersion: kvnOption(options.kvn, '--kvn') } : {}),
        ...(options.s16 ? { sMode: 16 as const } : {}),
        ...(trace ? { trace } : {}),
      });
      try {
        return await body(card);
      } finally {
        await card.close().catch(() => undefined);
      }
    } finally {
      await transport.close();
    }
  };
  const json = () => globals().json;

  gp.command('info')
    .description('CPLC, key information, card life cycle')
    .action(() =>
      withCard(async (card) => {
        const [cplc, keys, isd] = [await card.cplc(), await card.keyInformation(), await card.status('isd')];
        const lifeCycle = isd[0] ? lifeCycleName('isd', isd[0].lifeCycle) : undefined;
        const keyRows = keys.map((k) => ({
          keyVersion: hex2(k.keyVersion),
          keyId: hex2(k.keyId),
          type: KEY_TYPES[k.type] ?? hex2(k.type),
          length: k.length,
        }));
        emit(json(), { lifeCycle, keys: keyRows, cplc }, () =>
          [
            `Card life cycle: ${lifeCycle}`,
            '',
            'Key information:',
            table([
              ['KVN', 'KID', 'type', 'length'],
              ...keyRows.map((k) => [k.keyVersion, k.keyId, k.type, String(k.length)]),
            ]),
            '',
            'CPLC:',
            table(Object.entries(cplc)),
          ].join('\n'),
        );
      }),
    );

  gp.command('list')
    .description('GET STATUS: the ISD, applications and load files')
    .action(() =>
      withCard(async (card) => {
        const rows: { kind: string; aid: string; lifeCycle: string }[] = [];
        for (const [scope, kind, named] of [
          ['isd', 'ISD', 'isd'],
          ['applications', 'APP', 'application'],
          ['loadFiles', 'PKG', 'loadFile'],
        ] as const) {
          for (const e of await card.status(scope))
            rows.push({ kind, aid: bytesToHex(e.aid), lifeCycle: lifeCycleName(named, e.lifeCycle) });
        }
        emit(json(), rows, () =>
          table([['kind', 'AID', 'life cycle'], ...rows.map((r) => [r.kind, r.aid, r.lifeCycle])]),
        );
      }),
    );

  gp.command('put-key')
    .description('add a key set, or replace one with --replace KVN (SCP03 enc/mac/dek, or SCP80 kic/kid/kik)')
    .requiredOption('--new-kvn <hex>', 'version of the new key set (01..0F for SCP80, 30..3F for SCP03)')
    .option('--replace <hex>', 'key version to replace')
    .option('--new-key <hex>', 'one new key for ENC, MAC and DEK')
    .option('--new-key-enc <hex>')
    .option('--new-key-mac <hex>')
    .option('--new-key-dek <hex>')
    .option('--new-keys-file <file>', 'enc=/mac=/dek= or kic=/kid=/kik= lines (`iotsafe keys new`)')
    .action(
      (o: {
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
        const kvn = kvnOption(o.newKvn, '--new-kvn');
        const replacing = o.replace ? kvnOption(o.replace, '--replace') : 0;
        return withCard(async (card) => {
          await card.putKeySet(kvn, fresh, replacing);
          emit(
            json(),
            { keyVersion: hex2(kvn), replaced: replacing ? hex2(replacing) : null },
            () => `key set ${hex2(kvn)} loaded (the card's KCVs matched)`,
          );
        });
      },
    );

  gp.command('install')
    .description('install the IoT SAFE applet and make it selectable')
    .option('--aid <hex>', 'instance AID (default the GSMA IoT SAFE AID)')
    .action((o: { aid?: string }) =>
      withCard(async (card) => {
        await card.installApplication(aidOption(o.aid));
        emit(json(), { installed: aidOption(o.aid) }, () => `installed ${bytesToHex(aidOption(o.aid))}`);
      }),
    );

  gp.command('delete')
    .description('delete the IoT SAFE applet instance (and everything it holds), or a key set')
    .option('--aid <hex>', 'application AID')
    .option('--key-set <hex>', 'key version to delete instead')
    .option('--yes', 'yes, delete it (it cannot be undone)')
    .action((o: { aid?: string; keySet?: string; yes?: boolean }) => {
      const what = o.keySet
        ? `deleting key set ${o.keySet.toUpperCase()}`
        : `deleting application ${bytesToHex(aidOption(o.aid))} and every key, certificate and secret it holds`;
      confirm(o.yes, what);
      return withCard(async (card) => {
        if (o.keySet) await card.deleteKeySet(kvnOption(o.keySet, '--key-set'));
        else await card.deleteApplication(aidOption(o.aid));
        emit(
          json(),
          o.keySet ? { deletedKeySet: o.keySet.toUpperCase() } : { deleted: aidOption(o.aid) },
          () => 'deleted',
        );
      });
    });

  for (const [name, locked] of [
    ['lock', true],
    ['unlock', false],
  ] as const) {
    gp.command(name)
      .description(`${name} the card (CARD_LOCKED ↔ SECURED; reversible), or an application with --aid`)
      .option('--aid <hex>', 'application AID')
      .action((o: { aid?: string }) =>
        withCard(async (card) => {
          if (o.aid) await card.setApplicationLocked(aidOption(o.aid), locked);
          else await card.setCardState(locked ? 'locked' : 'secured');
          const state = o.aid ? (locked ? 'LOCKED' : 'SELECTABLE') : locked ? 'CARD_LOCKED' : 'SECURED';
          emit(
            json(),
            { ...(o.aid ? { aid: o.aid.toUpperCase() } : {}), lifeCycle: state },
            () => `${name}ed: ${state}`,
          );
        }),
      );
  }

  gp.command('set-state <state>')
    .description(`card life cycle: ${Object.keys(CARD_STATE).join(', ')} (terminated is final: --yes)`)
    .option('--yes', 'yes, terminate the card (nothing can be done with it afterwards)')
    .action((state: string, o: { yes?: boolean }) => {
      if (!(state in CARD_STATE))
        throw new UsageError(`state is one of ${Object.keys(CARD_STATE).join(', ')}`);
      if (state === 'terminated') confirm(o.yes, 'terminating the card');
      return withCard(async (card) => {
        await card.setCardState(state as keyof typeof CARD_STATE);
        const named = lifeCycleName('isd', CARD_STATE[state as keyof typeof CARD_STATE]);
        emit(json(), { lifeCycle: named }, () => `card is now ${named}`);
      });
    });

  gp.command('perso <profile>')
    .description('personalise the IoT SAFE applet from a profile (type1, type2 or a JSON file)')
    .option('--aid <hex>', 'application AID')
    .option(
      '--lock [scope]',
      "lock personalisation afterwards: 'issuer' (default; the issuer's MACed channels, SCP03 included) or 'ota' (SCP80/SCP81 only)",
    )
    .action((profileName: string, o: { aid?: string; lock?: boolean | string }) => {
      const scope = lockScope(o.lock);
      const operations = personalizationFromProfile(readProfile(profileName), scope ?? false);
      try {
        requireConfidentiality(operations, level(opts().level)); // before the SIM is even opened
      } catch (error) {
        if (error instanceof ClearSecretError)
          throw new UsageError(`${error.message}: pass --level enc (or rmac, renc)`);
        throw error;
      }
      return withCard(async (card) => {
        await card.personalize(aidOption(o.aid), operations);
        emit(
          json(),
          {
            operations: operations.length,
            locked: scope !== undefined,
            ...(scope ? { lockScope: scope } : {}),
          },
          () =>
            `personalised: ${operations.length} operations${scope ? `, personalisation locked (${scope === 'ota' ? 'over the air only' : "the issuer's channel"})` : ''}`,
        );
      });
    });

  gp.command('apdu <hex...>')
    .description('send raw command APDUs inside the SCP03 session (wrapped and unwrapped), like gp -a')
    .action((hexes: string[]) =>
      withCard(async (card) => {
        const trace = globals().trace ? (line: string) => printError(line) : undefined;
        printApduResults(json(), await runApdus(card.transport, hexes, trace));
      }),
    );
}

/** `--lock` alone is the issuer's scope; `--lock ota` closes the terminal's SCP03 route too. */
function lockScope(option: boolean | string | undefined): PersoLockScope | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true || option === 'issuer') return 'issuer';
  if (option === 'ota') return 'ota';
  throw new UsageError(`--lock is 'issuer' or 'ota', not '${option}'`);
}
