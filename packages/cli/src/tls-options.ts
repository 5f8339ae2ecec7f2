// The TLS options `connect`, `mqtt` and `connect dtls://` share: trust anchors, the SIM's key or PSK,
// versions, groups, suites, the NSS key log, the SCP03 channel to the applet; and how each is parsed.
import { appendFileSync } from 'node:fs';
import { IoTSafe, type OffloadLevel, openScp03 } from '@iotsafe/device';
import { IOTSAFE_AID } from '@iotsafe/protocol';
import {
  CIPHER_SUITES,
  type ConnectOptions,
  type NamedGroup,
  suite12ByName,
  type TlsVersionName,
} from '@iotsafe/tls';
import { type Command, Option } from 'commander';
import { level } from './gp.js';
import { readKeysFile } from './gp-keys.js';
import { printError } from './output.js';
import { type GlobalOptions, openTransport, UsageError, withIoTSafe } from './session.js';

export interface TlsOptions {
  ca?: string;
  caId?: string;
  servername?: string;
  alpn?: string[];
  offload: OffloadLevel;
  keyId: string;
  certId: string;
  pskLabel?: string;
  pskIdentity?: string;
  sessionFile?: string;
  tlsVersion?: '1.2' | '1.3';
  minTls?: '1.2' | '1.3';
  maxTls?: '1.2' | '1.3';
  groups?: string;
  ciphers?: string;
  keylog?: string;
  showcerts?: boolean;
  timeout?: string;
  scp03KeysFile?: string;
  level: string;
}

export function target(url: string, schemes: string[]): { host: string; port: number } {
  const match = /^([a-z]+):\/\/([^:/]+)(?::(\d+))?\/?$/.exec(url);
  if (!match || !schemes.includes(match[1]!))
    throw new UsageError(`give the server as ${schemes[0]}://HOST:PORT`);
  const defaultPort = { mqtts: 8883, dtls: 5684 }[match[1]!] ?? 443; // dtls: the coaps port, RFC 7252 §6.2
  return { host: match[2]!, port: Number(match[3] ?? defaultPort) };
}

const versionChoice = () => ['1.2', '1.3'];

export function addTlsOptions(c: Command): Command {
  return c
    .option(
      '--ca <file>',
      'trust anchors (PEM: a CA, or a bundle such as /etc/ssl/certs/ca-certificates.crt)',
    )
    .option('--ca-id <hex>', 'trust the CA certificate in this SIM file container')
    .option('--servername <name>', 'SNI and the name to check (default the host)')
    .option('--alpn <protocol...>', 'ALPN protocols to offer (x-amzn-mqtt-ca for AWS IoT on 443)')
    .addOption(new Option('--offload <level>', 'what the SIM does').choices(['sign', 'full']).default('sign'))
    .option('--key-id <hex>', 'private key container', '01')
    .option('--cert-id <hex>', 'certificate file container', '02')
    .option(
      '--psk-label <label>',
      'use the PSK in this secret container (TLS 1.3 or 1.2, as the container allows)',
    )
    .option('--psk-identity <text>', 'PSK identity')
    .option(
      '--session-file <file>',
      'resume the TLS 1.3 session kept here, and keep the next one (sealed with the storage key)',
    )
    .addOption(new Option('--tls-version <version>', 'offer this version only').choices(versionChoice()))
    .addOption(new Option('--min-tls <version>', 'lowest version to offer').choices(versionChoice()))
    .addOption(new Option('--max-tls <version>', 'highest version to offer').choices(versionChoice()))
    .option('--groups <list>', 'key exchange groups, best first (x25519:P-256:P-384:P-521:brainpoolP256r1)')
    .option('--ciphers <list>', 'cipher suites, IANA or OpenSSL names, colon-separated')
    .option(
      '--keylog <file>',
      'append the session secrets (NSS key log format) for Wireshark; default SSLKEYLOGFILE',
    )
    .option('--showcerts', "print the server's certificates (PEM)")
    .option('--timeout <ms>', 'handshake deadline in milliseconds', '30000')
    .option('--scp03-keys-file <file>', 'reach the IoT SAFE applet through an SCP03 channel with these keys')
    .option('--level <level>', 'SCP03 security level: mac enc rmac renc or hex', 'renc');
}

const GROUP_NAMES: Record<string, NamedGroup> = {
  x25519: 'x25519',
  'p-256': 'secp256r1',
  prime256v1: 'secp256r1',
  secp256r1: 'secp256r1',
  'p-384': 'secp384r1',
  secp384r1: 'secp384r1',
  'p-521': 'secp521r1',
  secp521r1: 'secp521r1',
  brainpoolp256r1: 'brainpoolP256r1',
};

const list = (text: string) => text.split(/[:,]/).filter(Boolean);

export function parseGroups(text: string): NamedGroup[] {
  return list(text).map(
    (name) =>
      GROUP_NAMES[name.toLowerCase()] ??
      (() => {
        throw new UsageError(
          `--groups: unknown group ${name} (known: x25519, P-256, P-384, P-521, brainpoolP256r1)`,
        );
      })(),
  );
}

export function parseCiphers(text: string): number[] {
  return list(text).map((name) => {
    const code = CIPHER_SUITES.find((c) => c.name === name)?.code ?? suite12ByName(name)?.code;
    if (code === undefined) throw new UsageError(`--ciphers: unknown cipher suite ${name}`);
    return code;
  });
}

const versionName = (v: '1.2' | '1.3'): TlsVersionName => (v === '1.2' ? 'TLSv1.2' : 'TLSv1.3');

/** --tls-version pins one version; --min-tls/--max-tls bound the range. */
export function versionRange(o: TlsOptions): Pick<ConnectOptions, 'minVersion' | 'maxVersion'> {
  if (o.tlsVersion && (o.minTls || o.maxTls))
    throw new UsageError('give --tls-version, or --min-tls/--max-tls');
  const min = o.tlsVersion ?? o.minTls;
  const max = o.tlsVersion ?? o.maxTls;
  if (min === '1.3' && max === '1.2') throw new UsageError('--min-tls is above --max-tls');
  return {
    ...(min ? { minVersion: versionName(min) } : {}),
    ...(max ? { maxVersion: versionName(max) } : {}),
  };
}

export function timeoutMs(text: string): number {
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms <= 0)
    throw new UsageError('--timeout takes a positive number of milliseconds');
  return ms;
}

/**
 * The NSS key log (as OpenSSL, curl and browsers write it) for Wireshark: to --keylog FILE, else to
 * SSLKEYLOGFILE, only when the user asked for it. The file is the user's and owner-only.
 */
export function keyLog(file: string | undefined): { keylog?: (line: string) => void } {
  const path = file ?? process.env.SSLKEYLOGFILE;
  if (!path) return {};
  return {
    keylog: (line) => appendFileSync(path, line.endsWith('\n') ? line : `${line}\n`, { mode: 0o600 }),
  };
}

/**
 * The IoT SAFE client the command works with: the usual one (withIoTSafe), or one that reaches the
 * applet through an SCP03 channel opened with the keys of --scp03-keys-file.
 */
export async function withApplet<T>(
  globals: GlobalOptions,
  options: TlsOptions,
  body: (client: IoTSafe) => Promise<T>,
): Promise<T> {
  if (!options.scp03KeysFile) return withIoTSafe(globals, body);
  const keys = readKeysFile(options.scp03KeysFile);
  const trace = globals.trace ? (line: string) => printError(line) : undefined;
  const transport = await openTransport(globals);
  try {
    const channel = await openScp03(transport, keys, {
      select: IOTSAFE_AID,
      securityLevel: level(options.level),
      ...(trace ? { trace } : {}),
    });
    const client = IoTSafe.attach(channel, 0, IOTSAFE_AID, {
      ...(trace ? { trace } : {}),
      sessionEnd: globals.sessionEnd === 'last-update' ? 'lastUpdate' : 'close',
    });
    try {
      return await body(client);
    } finally {
      await client.close();
      await channel.close();
    }
  } finally {
    await transport.close();
  }
}
