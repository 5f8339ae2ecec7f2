// `iotsafe sim …`: create virtual SIMs, put them behind real transports, and provision file containers
// from the host side (the factory's view).
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GlobalPlatform, MemoryTransport } from '@iotsafe/device';
import { isLoopback } from '@iotsafe/ota';
import { derFromPem } from '@iotsafe/pki';
import {
  bytesToHex,
  type Diversification,
  diversifyKey,
  equalBytes,
  type StaticKeys,
  VPCD_PORT,
} from '@iotsafe/protocol';
import {
  BUILTIN_PROFILES,
  insertIntoVpcd,
  MODEM_PRESETS,
  PERSONALITIES,
  serveModem,
  serveTcp,
  TYPICAL_SIM_LATENCY,
  VirtualSim,
} from '@iotsafe/sim';
import { type Command, Option } from 'commander';
import { resolveKeys } from './gp-keys.js';
import { emit, print, printJson, table } from './output.js';
import { type GlobalOptions, objectRef, openSim, parseHostPort, storageKey, UsageError } from './session.js';
import { accessKeyToServe } from './tcp-access.js';
import { untilInterrupted, writePortFile } from './wait.js';

/** EF ICCID (ETSI TS 102 221 §13.2): BCD with swapped nibbles, F padding. */
function iccidOf(sim: VirtualSim): string | undefined {
  const ef = sim.files.find((f) => f.path === '3F00/2FE2');
  if (!ef?.data) return undefined;
  return [...ef.data]
    .map((b) => `${b & 0x0f}${(b >> 4).toString(16)}`)
    .join('')
    .replace(/f/gi, '');
}

const tcpAddress = (tcp: string) =>
  /^\d+$/.test(tcp) ? { host: '127.0.0.1', port: Number(tcp) } : parseHostPort(tcp, '--tcp');

/** Every caller of the card authenticates, but on a loopback address by an explicit choice. */
function checkTcpAuthentication(host: string, options: { tcpKey?: string; insecureNoAuth?: boolean }): void {
  if (options.tcpKey && options.insecureNoAuth)
    throw new UsageError('give --tcp-key or --insecure-no-auth, not both');
  if (!options.tcpKey && !options.insecureNoAuth)
    throw new UsageError(
      '--tcp needs --tcp-key FILE (callers hold that key), or --insecure-no-auth on loopback',
    );
  if (options.insecureNoAuth && !isLoopback(host))
    throw new UsageError(`--insecure-no-auth serves on a loopback address only, not ${host}`);
}

export function readProfile(name: string): unknown {
  const builtin = BUILTIN_PROFILES[name];
  if (builtin) return builtin;
  try {
    return JSON.parse(readFileSync(name, 'utf8'));
  } catch (error) {
    throw new UsageError(
      `--profile: ${name} is neither type1, type2, blank nor a readable JSON file (${(error as Error).message})`,
    );
  }
}

/**
 * The card keys of a new SIM whose ISD keys are diversified from master keys: the SIM is created with
 * a transport key set known only to this process, then (as an issuer's personalisation does) PUT KEY
 * replaces it with the keys derived from the masters and the card's own diversification data.
 */
async function diversifyIsd(
  sim: VirtualSim,
  transportKeys: StaticKeys,
  master: StaticKeys,
  method: Diversification,
) {
  const kdd = sim.isd.keyDiversificationData;
  const card = {
    enc: diversifyKey(method, master.enc, kdd, 'enc'),
    mac: diversifyKey(method, master.mac, kdd, 'mac'),
    dek: diversifyKey(method, master.dek, kdd, 'dek'),
  };
  const gp = await GlobalPlatform.open(new MemoryTransport(sim.card), transportKeys, { securityLevel: 0x33 });
  try {
    await gp.putKeySet(0x30, card, 0x30);
  } finally {
    await gp.close();
  }
}

const randomKeys = () => ({
  enc: new Uint8Array(randomBytes(16)),
  mac: new Uint8Array(randomBytes(16)),
  dek: new Uint8Array(randomBytes(16)),
});

export function registerSim(program: Command, globals: () => GlobalOptions): void {
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
      "the ISD's SCP03 keys (`iotsafe keys new --gp FILE`); without it the ISD gets random keys nobody knows",
    )
    .addOption(
      new Option(
        '--diversify <method>',
        'the key file holds master keys: give the card the keys derived from them and its own diversification data',
      ).choices(['kdf3', 'emv', 'visa2']),
    )
    .action(
      async (
        dir: string,
        options: { profile: string; personality?: string; isdKeysFile?: string; diversify?: Diversification },
      ) => {
        const profile = readProfile(options.profile);
        const given = options.isdKeysFile ? resolveKeys({ keysFile: options.isdKeysFile }) : undefined;
        if (options.diversify && !given)
          throw new UsageError('--diversify needs the master keys: --isd-keys-file FILE');
        if (options.diversify && options.diversify !== 'kdf3' && given && given.enc.length !== 16)
          throw new UsageError(`${options.diversify} diversification takes 16-byte master keys`);
        const transportKeys = options.diversify ? randomKeys() : undefined;
        const isdKeys = transportKeys ?? given;
        const created = VirtualSim.create(dir, profile, {
          storageKey: storageKey(globals()),
          ...(options.personality ? { personality: options.personality } : {}),
          ...(isdKeys ? { isdKeys: { keys: isdKeys } } : {}),
        });
        if (options.diversify && transportKeys && given)
          await diversifyIsd(created, transportKeys, given, options.diversify);
        const result = {
          directory: created.directory,
          personality: created.personality.name,
          containers: created.containers().length,
          iccid: iccidOf(created),
          isdKeys: options.diversify
            ? `diversified (${options.diversify})`
            : given
              ? 'from the key file'
              : 'random',
        };
        emit(
          globals().json,
          result,
          () =>
            `created ${result.directory} (${result.containers} containers, personality ${result.personality}, ICCID ${result.iccid}, ISD keys ${result.isdKeys})`,
        );
      },
    );

  sim
    .command('personalities')
    .description('list the real-applet personalities')
    .action(() => {
      const rows = Object.values(PERSONALITIES).map((p) => [p.name, p.description]);
      emit(
        globals().json,
        rows.map(([name, description]) => ({ name, description })),
        () => table(rows),
      );
    });

  sim
    .command('serve [dir]')
    .description('put a SIM directory (or --sim DIR) behind real transports until interrupted')
    .option('--tcp <[host:]port>', 'serve on TCP in the vpcd framing (host 127.0.0.1; port 0: a free one)')
    .option('--port-file <file>', 'write the TCP port there once listening')
    .option(
      '--tcp-key <file>',
      'callers must hold this access key (PSK-TLS on the link); a new key is written there if missing',
    )
    .option('--insecure-no-auth', '--tcp without an access key: only on a loopback address, for local tests')
    .option(
      '--vpcd [host:port|socket]',
      'insert into the PC/SC reader of vsmartcard-vpcd (default 127.0.0.1:35963)',
    )
    .option(
      '--modem [dir]',
      'emulate an AT modem on a pty, DIR/modem (a fresh temporary DIR by default; needs socat)',
    )
    .option('--latency', 'answer with the typical SIM latency model (per-INS card time)')
    .option('--baud <rate>', 'add the transfer time of the bytes at this link speed')
    .addOption(
      new Option('--preset <name>', 'modem behaviour').choices(Object.keys(MODEM_PRESETS)).default('quectel'),
    )
    .action(
      async (
        dir: string | undefined,
        options: {
          tcp?: string;
          portFile?: string;
          tcpKey?: string;
          insecureNoAuth?: boolean;
          vpcd?: string | true;
          modem?: string | true;
          preset: string;
          latency?: boolean;
          baud?: string;
        },
      ) => {
        if (!options.tcp && !options.vpcd && !options.modem)
          throw new UsageError('serve how? pass --tcp PORT, --vpcd and/or --modem');
        if (options.portFile && !options.tcp) throw new UsageError('--port-file goes with --tcp');
        const address = options.tcp === undefined ? undefined : tcpAddress(options.tcp);
        if (address) checkTcpAuthentication(address.host, options);
        else if (options.tcpKey || options.insecureNoAuth)
          throw new UsageError('--tcp-key and --insecure-no-auth go with --tcp');
        const card = openSim(dir ? { ...globals(), sim: dir } : globals()).card;
        const baud = options.baud === undefined ? undefined : Number(options.baud);
        if (baud !== undefined && !(Number.isInteger(baud) && baud > 0))
          throw new UsageError('--baud takes a positive integer');
        const latency =
          options.latency || baud
            ? { ...(options.latency ? TYPICAL_SIM_LATENCY : {}), ...(baud ? { baud } : {}) }
            : undefined;
        const stops: Array<() => Promise<void>> = [];
        const where: Record<string, string | number> = {};
        if (address) {
          const access = options.tcpKey ? accessKeyToServe(options.tcpKey) : undefined;
          const served = await serveTcp(card, {
            ...address,
            ...(latency ? { latency } : {}),
            ...(access ? { accessKey: access.key } : {}),
          });
          stops.push(served.stop);
          where.tcp = `${address.host}:${served.port}`;
          writePortFile(options.portFile, served.port);
          if (!globals().json) {
            if (access?.created) print(`a new access key is in ${options.tcpKey} (owner-only)`);
            const auth = options.tcpKey
              ? `PSK-TLS, iotsafe --tcp … --tcp-key ${options.tcpKey}`
              : 'NO AUTHENTICATION, --insecure-no-auth; iotsafe --tcp …';
            print(`serving on tcp ${address.host}:${served.port} (${auth})`);
          }
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
          where.vpcd = 'path' in target ? target.path : `${target.host}:${target.port}`;
          if (!globals().json)
            print(`inserting into vpcd at ${where.vpcd} (reader "Virtual PCD 00 00"; iotsafe --reader …)`);
        }
        if (options.modem) {
          const ptyDir =
            options.modem === true ? mkdtempSync(join(tmpdir(), 'iotsafe-modem-')) : options.modem;
          const served = await serveModem(card, ptyDir, {
            preset: MODEM_PRESETS[options.preset]!,
            ...(latency ? { latency } : {}),
          });
          stops.push(served.stop);
          where.modem = served.devicePath;
          if (!globals().json)
            print(`emulating a ${options.preset} modem on ${served.devicePath} (iotsafe --modem …)`);
        }
        if (globals().json) printJson({ serving: where });
        await untilInterrupted();
        for (const stop of stops) await stop();
      },
    );

  sim
    .command('write-file')
    .description('provision a file container from the host side (factory view), e.g. a certificate')
    .requiredOption('--in <file>', 'content: a certificate (PEM or DER), or any bytes with --raw')
    .option('--id <hex>', 'file container ID')
    .option('--label <text>', 'file container label')
    .option(
      '--key-id <hex>',
      "check that the certificate's public key is the one in this public key container",
    )
    .option('--raw', 'store the bytes as they are, without checking that they are a certificate')
    .option('--force', 'replace content the container already holds')
    .action(
      (options: {
        in: string;
        id?: string;
        label?: string;
        keyId?: string;
        raw?: boolean;
        force?: boolean;
      }) => {
        const raw = new Uint8Array(readFileSync(options.in));
        const text = Buffer.from(raw).toString('latin1');
        if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text))
          throw new UsageError(
            `${options.in} is a private key: keys never go into a file container (generate them in the SIM: \`iotsafe keygen\`)`,
          );
        const content = options.raw ? raw : derFromPem(raw, 'CERTIFICATE');
        const opened = openSim(globals());
        const ref = objectRef(options, 'file');
        const file = opened.store.find('file', ref);
        if (!file)
          throw new UsageError(
            `no file container with ${'id' in ref ? `ID ${bytesToHex(ref.id)}` : `label ${ref.label}`}`,
          );
        let subject: string | undefined;
        if (!options.raw) {
          let certificate: X509Certificate;
          try {
            certificate = new X509Certificate(Buffer.from(content));
          } catch {
            throw new UsageError(
              `${options.in} is not an X.509 certificate (pass --raw to store other bytes)`,
            );
          }
          subject = certificate.subject.replace(/\n/g, ', ');
          if (options.keyId) {
            const publicKey = opened.store.find('publicKey', objectRef({ id: options.keyId }, 'public key'));
            if (!publicKey?.publicKey)
              throw new UsageError(`public key container ${options.keyId} is empty or absent`);
            const spki = new Uint8Array(certificate.publicKey.export({ format: 'der', type: 'spki' }));
            if (!equalBytes(spki.subarray(spki.length - publicKey.publicKey.length), publicKey.publicKey))
              throw new UsageError(
                `the certificate's public key is not the one in container ${options.keyId.toUpperCase()}: it was issued for another key`,
              );
          }
        }
        if (file.content?.length && !options.force)
          throw new UsageError(
            `file container ${bytesToHex(file.id)} already holds ${file.content.length} bytes: pass --force to replace them`,
          );
        opened.writeFile(ref, content);
        emit(
          globals().json,
          { id: bytesToHex(file.id), bytes: content.length, ...(subject ? { subject } : {}) },
          () =>
            `wrote ${content.length} bytes to file container ${bytesToHex(file.id)}${subject ? ` (${subject})` : ''}`,
        );
      },
    );
}
