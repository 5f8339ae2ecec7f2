// The `iotsafe` command tree: global options and every command, built fresh by createProgram() (main.ts
// runs it; tests walk it to check that every command has a documented JSON schema).
import { createRequire } from 'node:module';
import { Command, Option } from 'commander';
import { registerBip } from './bip.js';
import { registerCa } from './ca.js';
import { registerCampaign } from './campaign-commands.js';
import { registerCoap } from './coap.js';
import { runDemo } from './demo/index.js';
import { registerDeviceCommands } from './device-commands.js';
import { registerFleet } from './fleet-commands.js';
import { registerGp } from './gp.js';
import { registerHardware } from './hardware.js';
import { registerKeys } from './keys.js';
import { registerNetwork } from './net.js';
import { registerOta } from './ota.js';
import { registerPki } from './pki-commands.js';
import type { GlobalOptions } from './session.js';
import { registerSim } from './sim-commands.js';

export interface Cli {
  program: Command;
  /** --json was asked for (also before commander has parsed it: a usage error comes first). */
  jsonWanted(): boolean;
  /** What commander wrote about a usage error. */
  usageMessage(): string;
}

export function createProgram(argv: readonly string[] = process.argv): Cli {
  const { version } = createRequire(import.meta.url)('../package.json') as { version: string };
  let commanderMessage = '';

  const program = new Command('iotsafe')
    .enablePositionalOptions() // global options go before the command: `sim serve --tcp` is its own
    .description('GSMA IoT SAFE: a virtual SIM and a device client')
    .version(version, '--version', 'print the version')
    .option('--sim <dir>', 'SIM directory (or IOTSAFE_SIM)')
    .option('--key-file <file>', 'storage key file (or IOTSAFE_STORAGE_KEY / IOTSAFE_STORAGE_KEY_FILE)')
    .option('--trace', 'print every APDU exchange (OTA: every SMS) on stderr, secrets redacted')
    .option('--json', 'machine-readable output (docs/json.md), errors included')
    .option('--reader <name|index>', 'use the SIM in this PC/SC reader instead of a SIM directory')
    .option('--modem <path>', 'use the SIM behind this AT modem (serial device) instead')
    .addOption(
      new Option('--at-mode <mode>', 'AT access to the SIM').choices(['csim', 'cgla']).default('csim'),
    )
    .option('--baud <rate>', 'serial speed of --modem (default 115200)')
    .option('--tcp <host:port>', 'use a card served on TCP (vpcd framing, `iotsafe sim serve --tcp`)')
    .option('--tcp-key <file>', "the access key of the card served on --tcp (the server's --tcp-key)")
    .option(
      '--card-timeout <ms>',
      'bound on each exchange with a card behind --modem or --tcp (default 10000)',
    )
    .option('--pin <digits>', 'the SIM PIN, when the SIM asks for one (or IOTSAFE_SIM_PIN)')
    .addOption(
      new Option(
        '--session-end <how>',
        'end IoT SAFE sessions with INIT close, or trust the final UPDATE to end them (Thales style, one APDU less)',
      )
        .choices(['close', 'last-update'])
        .default('close'),
    )
    .exitOverride()
    .configureOutput({
      writeErr: (s) => {
        commanderMessage += s;
        if (!jsonWanted()) process.stderr.write(s);
      },
    });

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  /** --json before the command (a parse error may come before commander has read it). */
  function jsonWanted(): boolean {
    return program.opts<GlobalOptions>().json === true || argv.slice(2).includes('--json');
  }

  registerSim(program, globals);
  registerDeviceCommands(program, globals);
  registerKeys(program, globals);
  registerCa(program, globals);
  registerHardware(program, globals);
  registerGp(program, globals);
  registerNetwork(program, globals);
  registerOta(program, globals);
  registerBip(program, globals);
  registerCoap(program, globals);
  registerPki(program, globals);
  registerFleet(program, globals);
  registerCampaign(program, globals);

  program
    .command('demo')
    .description(
      'the main job end to end: SCP03 personalisation, TLS 1.3 with the SIM key, a PSK in a Type II SIM, CoAP over DTLS, an OTA update, a reconnect',
    )
    .option('--dir <dir>', 'where to keep the demo files (default: a fresh temporary directory)')
    // `npm run demo -- --json` puts it after the command: accepted here as well as globally
    .option('--json', 'print one JSON summary (docs/json.md)')
    .action((options: { dir?: string; json?: boolean }) =>
      runDemo({ dir: options.dir, json: globals().json === true || options.json === true }),
    );
  return { program, jsonWanted, usageMessage: () => commanderMessage };
}
