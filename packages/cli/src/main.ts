#!/usr/bin/env node
// `iotsafe`: the command line over the IoT SAFE client and the virtual SIM.
// Exit codes: 0 success, 1 unexpected failure, 2 usage, 3 the card refused (status word),
// 4 the SIM directory or its storage key is unusable, 5 the card could not be reached (transport).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCsr, encodeP256PublicKeyInfo, TransportError, toPem } from '@iotsafe/device';
import {
  bytesToHex,
  ecdsaRawToDer,
  FormatError,
  type HashAlgorithm,
  hexToBytes,
  type SignMode,
  StatusWordError,
  swToHex,
  VPCD_PORT,
} from '@iotsafe/protocol';
import {
  BUILTIN_PROFILES,
  insertIntoVpcd,
  MODEM_PRESETS,
  PERSONALITIES,
  ProfileError,
  ProvisioningError,
  SimStateError,
  StorageKeyError,
  serveModem,
  serveTcp,
  TYPICAL_SIM_LATENCY,
  VirtualSim,
} from '@iotsafe/sim';
import { Command, CommanderError, Option } from 'commander';
import { runDemo } from './demo.js';
import { describeApplication, objectRow } from './describe.js';
import { registerGp } from './gp.js';
import { resolveKeys } from './gp-keys.js';
import { registerNetwork } from './net.js';
import { registerOta } from './ota.js';
import { print, printError, printJson, table } from './output.js';
import {
  type GlobalOptions,
  objectRef,
  openSim,
  parseHostPort,
  simDirectory,
  storageKey,
  UsageError,
  withIoTSafe,
} from './session.js';

const program = new Command('iotsafe')
  .enablePositionalOptions() // global options go before the command: `sim serve --tcp` is its own
  .description('GSMA IoT SAFE: a virtual SIM and a device client')
  .option('--sim <dir>', 'SIM directory (or IOTSAFE_SIM)')
  .option('--key-file <file>', 'storage key file (or IOTSAFE_STORAGE_KEY / IOTSAFE_STORAGE_KEY_FILE)')
  .option('--trace', 'print every APDU exchange on stderr (secrets redacted)')
  .option('--json', 'machine-readable output')
  .option('--reader <name|index>', 'use the SIM in this PC/SC reader instead of a SIM directory')
  .option('--modem <path>', 'use the SIM behind this AT modem (serial device) instead')
  .addOption(new Option('--at-mode <mode>', 'AT access to the SIM').choices(['csim', 'cgla']).default('csim'))
  .option('--baud <rate>', 'serial speed of --modem (default 115200)')
  .option('--tcp <host:port>', 'use a card served on TCP (vpcd framing, `iotsafe sim serve --tcp`)')
  .addOption(
    new Option(
      '--session-end <how>',
      'end IoT SAFE sessions with INIT close, or trust the final UPDATE to end them (Thales style, one APDU less)',
    )
      .choices(['close', 'last-update'])
      .default('close'),
  )
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

const globals = (): GlobalOptions => program.opts<GlobalOptions>();
const refOptions = (c: Command) =>
  c.option('--id <hex>', 'object ID').option('--label <text>', 'object label');
const hashOption = new Option('--hash <alg>', 'hash algorithm')
  .choices(['sha256', 'sha384', 'sha512'])
  .default('sha256');
const modeOption = new Option('--mode <mode>', 'signature mode')
  .choices(['padAndSign', 'fullText', 'lastBlock'])
  .default('padAndSign');

/** What sign and verify take: the key (--id/--label), the input, the hash and the signature mode. */
interface SignatureOptions {
  id?: string;
  label?: string;
  in?: string;
  text?: string;
  digest?: string;
  hash: HashAlgorithm;
  mode: SignMode;
}

function readInput(options: {
  in?: string;
  digest?: string;
  text?: string;
}): { message: Uint8Array } | { digest: Uint8Array } {
  const given = [options.in, options.digest, options.text].filter((v) => v !== undefined).length;
  if (given !== 1) throw new UsageError('give exactly one of --in FILE, --text TEXT or --digest HEX');
  if (options.digest) return { digest: hexToBytes(options.digest) };
  if (options.text !== undefined) return { message: new TextEncoder().encode(options.text) };
  return { message: new Uint8Array(readFileSync(options.in!)) };
}

// --- sim ---------------------------------------------------------------------------------------------

const sim = program.command('sim').description('create and manage virtual SIMs');

sim
  .command('create <dir>')
  .description('create a SIM directory from a profile (type1, type2, blank, or a JSON file)')
  .requiredOption('--profile <name|file>', 'type1 | type2 | blank | path to a profile JSON')
  .addOption(
    new Option('--personality <name>', 'real-applet personality').choices(Object.keys(PERSONALITIES)),
  )
  .option(
    '--isd-keys-file <file>',
    "the ISD's SCP03 keys (one hex key, or enc=/mac=/dek= lines); random without it",
  )
  .action((dir: string, options: { profile: string; personality?: string; isdKeysFile?: string }) => {
    const profile = BUILTIN_PROFILES[options.profile] ?? JSON.parse(readFileSync(options.profile, 'utf8'));
    const isdKeys = options.isdKeysFile ? resolveKeys({ keysFile: options.isdKeysFile }) : undefined;
    const created = VirtualSim.create(dir, profile, {
      storageKey: storageKey(globals()),
      ...(options.personality ? { personality: options.personality } : {}),
      ...(isdKeys ? { isdKeys: { keys: isdKeys } } : {}),
    });
    if (globals().json)
      printJson({
        directory: created.directory,
        personality: created.personality.name,
        objects: created.containers().length,
      });
    else
      print(
        `created ${created.directory} (${created.containers().length} containers, personality ${created.personality.name})`,
      );
  });

sim
  .command('personalities')
  .description('list the real-applet personalities')
  .action(() => {
    const rows = Object.values(PERSONALITIES).map((p) => [p.name, p.description]);
    if (globals().json) printJson(Object.fromEntries(rows));
    else print(table(rows));
  });

sim
  .command('serve [dir]')
  .description('put a SIM directory (or --sim DIR) behind real transports until interrupted')
  .option('--tcp <[host:]port>', 'serve on TCP in the vpcd framing (host 127.0.0.1 by default)')
  .option(
    '--vpcd [host:port|socket]',
    'insert into the PC/SC reader of vsmartcard-vpcd (default 127.0.0.1:35963)',
  )
  .option(
    '--modem [dir]',
    'emulate an AT modem on a pty, DIR/modem (a fresh temporary DIR by default; needs socat)',
  )
  .option('--latency', 'answer with the typical SIM latency model (per-INS card time, spec/iotsafe.md §6.4)')
  .option('--baud <rate>', 'add the transfer time of the bytes at this link speed')
  .addOption(
    new Option('--preset <name>', 'modem behaviour').choices(Object.keys(MODEM_PRESETS)).default('quectel'),
  )
  .action(
    async (
      dir: string | undefined,
      options: {
        tcp?: string;
        vpcd?: string | true;
        modem?: string | true;
        preset: string;
        latency?: boolean;
        baud?: string;
      },
    ) => {
      if (!options.tcp && !options.vpcd && !options.modem)
        throw new UsageError('serve how? pass --tcp PORT, --vpcd and/or --modem');
      const card = openSim(dir ? { ...globals(), sim: dir } : globals()).card;
      const baud = options.baud === undefined ? undefined : Number(options.baud);
      if (baud !== undefined && !(Number.isInteger(baud) && baud > 0))
        throw new UsageError('--baud takes a positive integer');
      const latency =
        options.latency || baud
          ? { ...(options.latency ? TYPICAL_SIM_LATENCY : {}), ...(baud ? { baud } : {}) }
          : undefined;
      const stops: Array<() => Promise<void>> = [];
      if (options.tcp) {
        const address = parseHostPort(options.tcp, '--tcp');
        const served = await serveTcp(card, { ...address, ...(latency ? { latency } : {}) });
        stops.push(served.stop);
        print(`serving on tcp ${address.host}:${served.port} (iotsafe --tcp …)`);
      }
      if (options.vpcd) {
        // host:port, or the path of a Unix socket that leads to vpcd (vpcd in another network namespace)
        const target =
          options.vpcd === true
            ? { host: '127.0.0.1', port: VPCD_PORT }
            : options.vpcd.startsWith('/')
              ? { path: options.vpcd }
              : parseHostPort(options.vpcd, '--vpcd');
        const inserted = insertIntoVpcd(card, { ...target, ...(latency ? { latency } : {}) });
        stops.push(inserted.remove);
        const where = 'path' in target ? target.path : `${target.host}:${target.port}`;
        print(`inserting into vpcd at ${where} (reader "Virtual PCD 00 00"; iotsafe --reader …)`);
      }
      if (options.modem) {
        const ptyDir = options.modem === true ? mkdtempSync(join(tmpdir(), 'iotsafe-modem-')) : options.modem;
        const served = await serveModem(card, ptyDir, {
          preset: MODEM_PRESETS[options.preset]!,
          ...(latency ? { latency } : {}),
        });
        stops.push(served.stop);
        print(`emulating a ${options.preset} modem on ${served.devicePath} (iotsafe --modem …)`);
      }
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      for (const stop of stops) await stop();
    },
  );

refOptions(
  sim
    .command('write-file')
    .description('provision a file container from the host side (factory view), e.g. a certificate')
    .requiredOption('--in <file>', 'content: DER, or PEM (converted to DER)'),
).action((options: { in: string; id?: string; label?: string }) => {
  const raw = readFileSync(options.in);
  const text = raw.toString('utf8');
  const content = text.includes('-----BEGIN')
    ? Buffer.from(text.replace(/-----[^-]+-----|\s/g, ''), 'base64')
    : raw;
  const opened = openSim(globals());
  opened.writeFile(objectRef(options, 'file'), new Uint8Array(content));
  print(`wrote ${content.length} bytes to the file container in ${simDirectory(globals())}`);
});

// --- device commands ------------------------------------------------------------------------------

program
  .command('info')
  .description('applet information (GET DATA P1=00)')
  .action(() =>
    withIoTSafe(globals(), async (client) => {
      const info = await client.applicationInfo();
      if (globals().json) printJson({ aid: client.aid, channel: client.channel, ...info });
      else
        print(
          table([
            ['AID', bytesToHex(client.aid)],
            ['channel', String(client.channel)],
            ...describeApplication(info),
          ]),
        );
    }),
  );

program
  .command('objects')
  .description('list every object (GET DATA P1=01 with paging)')
  .action(() =>
    withIoTSafe(globals(), async (client) => {
      const objects = await client.listObjects();
      if (globals().json) printJson(objects);
      else print(table([['class', 'ID', 'label', 'state', 'type', 'details'], ...objects.map(objectRow)]));
    }),
  );

refOptions(
  program
    .command('read-file')
    .description('read a file container')
    .option('--out <file>', 'write the content to a file')
    .option('--pem', 'print a certificate as PEM'),
).action((options: { id?: string; label?: string; out?: string; pem?: boolean }) =>
  withIoTSafe(globals(), async (client) => {
    const content = await client.readFile(objectRef(options, 'file'));
    if (options.out) {
      writeFileSync(options.out, content);
      print(`${content.length} bytes written to ${options.out}`);
    } else if (options.pem) print(toPem(content, 'CERTIFICATE').trimEnd());
    else if (globals().json) printJson({ length: content.length, content });
    else print(bytesToHex(content));
  }),
);

refOptions(program.command('keygen').description('generate a key pair inside the SIM')).action(
  (options: { id?: string; label?: string }) =>
    withIoTSafe(globals(), async (client) => {
      const pair = await client.generateKeyPair(objectRef(options, 'private key'));
      if (globals().json) printJson(pair);
      else
        print(
          table([
            ['private key', describeRef(pair.privateKey)],
            ['public key', describeRef(pair.publicKey)],
            ['point', bytesToHex(pair.point)],
          ]),
        );
    }),
);

refOptions(
  program
    .command('pubkey')
    .description('read a public key')
    .option('--pem', 'print as a PEM SubjectPublicKeyInfo'),
).action((options: { id?: string; label?: string; pem?: boolean }) =>
  withIoTSafe(globals(), async (client) => {
    const point = await client.readPublicKey(objectRef(options, 'public key'));
    if (options.pem) print(toPem(encodeP256PublicKeyInfo(point), 'PUBLIC KEY').trimEnd());
    else if (globals().json) printJson({ point });
    else print(bytesToHex(point));
  }),
);

refOptions(
  program
    .command('sign')
    .description('sign inside the SIM; prints r||s in hex (or DER with --der)')
    .option('--in <file>', 'message file')
    .option('--text <text>', 'message text')
    .option('--digest <hex>', 'precomputed digest (pad-and-sign)')
    .option('--der', 'print a DER ECDSA-Sig-Value')
    .addOption(hashOption)
    .addOption(modeOption),
).action((options: SignatureOptions & { der?: boolean }) =>
  withIoTSafe(globals(), async (client) => {
    const signature = await client.sign(objectRef(options, 'private key'), readInput(options), {
      hash: options.hash,
      mode: options.mode,
    });
    const out = options.der ? ecdsaRawToDer(signature) : signature;
    if (globals().json) printJson({ signature: out });
    else print(bytesToHex(out));
  }),
);

refOptions(
  program
    .command('verify')
    .description('verify a signature inside the SIM (exit 0 valid, 1 invalid)')
    .requiredOption('--signature <hex>', 'raw r||s')
    .option('--in <file>', 'message file')
    .option('--text <text>', 'message text')
    .option('--digest <hex>', 'precomputed digest')
    .addOption(hashOption)
    .addOption(modeOption),
).action((options: SignatureOptions & { signature: string }) =>
  withIoTSafe(globals(), async (client) => {
    const valid = await client.verify(
      objectRef(options, 'public key'),
      readInput(options),
      hexToBytes(options.signature),
      { hash: options.hash, mode: options.mode },
    );
    if (globals().json) printJson({ valid });
    else print(valid ? 'signature valid' : 'signature does NOT match (6D01)');
    if (!valid) process.exitCode = 1;
  }),
);

program
  .command('random <bytes>')
  .description('random bytes from the SIM (GET RANDOM)')
  .action((bytes: string) =>
    withIoTSafe(globals(), async (client) => {
      const n = Number(bytes);
      if (!Number.isInteger(n) || n < 1 || n > 256)
        throw new UsageError('random takes a byte count from 1 to 256');
      const random = await client.random(n);
      if (globals().json) printJson({ random });
      else print(bytesToHex(random));
    }),
  );

refOptions(
  program
    .command('csr')
    .description('make a PKCS#10 request signed inside the SIM')
    .requiredOption('--cn <name>', 'subject common name')
    .option('--org <name>', 'subject organization')
    .option('--generate', 'generate a fresh key pair in the container first')
    .option('--out <file>', 'write PEM to a file'),
).action(
  (options: { id?: string; label?: string; cn: string; org?: string; generate?: boolean; out?: string }) =>
    withIoTSafe(globals(), async (client) => {
      const key = objectRef(options, 'private key');
      let publicKey: Uint8Array;
      if (options.generate) publicKey = (await client.generateKeyPair(key)).point;
      else publicKey = await client.readPublicKey('id' in key ? { id: key.id } : { label: key.label });
      const csr = await createCsr(client, {
        key,
        publicKey,
        subject: { commonName: options.cn, ...(options.org ? { organization: options.org } : {}) },
      });
      const pem = toPem(csr, 'CERTIFICATE REQUEST');
      if (options.out) {
        writeFileSync(options.out, pem);
        print(`request written to ${options.out}`);
      } else print(pem.trimEnd());
    }),
);

registerGp(program, globals);
registerNetwork(program, globals);
registerOta(program, globals);

program
  .command('demo')
  .description(
    'the main job: a virtual SIM, an on-SIM key, a CSR signed by the SIM, a certificate stored back',
  )
  .option('--dir <dir>', 'where to create the demo SIM (default: a fresh temporary directory)')
  .action((options: { dir?: string }) => runDemo(options));

function describeRef(ref: { id: Uint8Array } | { label: string }): string {
  return 'id' in ref ? `ID ${bytesToHex(ref.id)}` : `label ${ref.label}`;
}

function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError || error instanceof ProfileError) return 2;
  if (error instanceof StatusWordError) return 3;
  if (error instanceof TransportError) return 5;
  if (
    error instanceof StorageKeyError ||
    error instanceof SimStateError ||
    error instanceof ProvisioningError
  )
    return 4;
  return 1;
}

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    const code = exitCodeFor(error);
    const message = error instanceof Error ? error.message : String(error);
    const hint = error instanceof StatusWordError ? ` [SW ${swToHex(error.sw)}]` : '';
    printError(`iotsafe: ${message}${hint}`);
    if (code === 1 && !(error instanceof FormatError) && process.env.IOTSAFE_DEBUG)
      printError(String((error as Error).stack));
    process.exitCode = code;
  }
}

await main();
