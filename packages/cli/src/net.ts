// `iotsafe connect tls://HOST:PORT` (in the manner of openssl s_client) and `iotsafe mqtt pub|sub`,
// with the client key, certificate or PSK in the SIM — reached directly or through an SCP03 channel to
// the applet. A refused handshake, or a certificate the server rejects after it, is an error with the
// reason in words and a non-zero exit, never a silent end.

import { once } from 'node:events';
import { appendFileSync, readFileSync } from 'node:fs';
import { byId, byLabel, IoTSafe, IoTSafeKeyOps, type OffloadLevel, openScp03, toPem } from '@iotsafe/device';
import { IOTSAFE_AID, utf8 } from '@iotsafe/protocol';
import {
  CIPHER_SUITES,
  type ConnectOptions,
  connect,
  type NamedGroup,
  schemeName,
  suite12ByName,
  type TlsClientSocket,
  type TlsSession,
  type TlsVersionName,
} from '@iotsafe/tls';
import { type Command, Option } from 'commander';
import mqtt from 'mqtt';
import { level } from './gp.js';
import { readKeysFile } from './gp-keys.js';
import { emit, print, printError, printJson } from './output.js';
import { type GlobalOptions, openTransport, storageKey, UsageError, withIoTSafe } from './session.js';
import { readTlsSessionFile, writeTlsSessionFile } from './session-files.js';

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

function target(url: string, schemes: string[]): { host: string; port: number } {
  const match = /^([a-z]+):\/\/([^:/]+)(?::(\d+))?\/?$/.exec(url);
  if (!match || !schemes.includes(match[1]!))
    throw new UsageError(`give the server as ${schemes[0]}://HOST:PORT`);
  return { host: match[2]!, port: Number(match[3] ?? (match[1] === 'mqtts' ? 8883 : 443)) };
}

const versionChoice = () => ['1.2', '1.3'];

function addTlsOptions(c: Command): Command {
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
function versionRange(o: TlsOptions): Pick<ConnectOptions, 'minVersion' | 'maxVersion'> {
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

async function openTls(
  client: IoTSafe,
  url: string,
  options: TlsOptions,
  schemes: string[],
  globals: GlobalOptions,
) {
  const { host, port } = target(url, schemes);
  const psk = options.pskLabel
    ? { identity: utf8(options.pskIdentity ?? ''), secret: byLabel(options.pskLabel) }
    : undefined;
  if (psk && !options.pskIdentity) throw new UsageError('a PSK needs --psk-identity');
  const tlsOptions: Partial<ConnectOptions> = {
    ...versionRange(options),
    ...(options.groups ? { groups: parseGroups(options.groups) } : {}),
    ...(options.ciphers ? { cipherSuites: parseCiphers(options.ciphers) } : {}),
    handshakeTimeout: timeoutMs(options.timeout ?? '30000'),
  };
  const keyOps = await IoTSafeKeyOps.create(client, {
    offload: options.offload,
    ...(psk ? { psk } : { privateKey: byId(options.keyId), certificateChain: [byId(options.certId)] }),
  });
  const ca = options.ca
    ? readFileSync(options.ca, 'utf8')
    : options.caId
      ? [await client.readFile(byId(options.caId))]
      : undefined;
  if (!ca && !psk) throw new UsageError('how to trust the server? pass --ca FILE or --ca-id HEX');
  const sessionKey = options.sessionFile ? storageKey(globals) : undefined;
  const session =
    options.sessionFile && sessionKey ? readTlsSessionFile(options.sessionFile, sessionKey) : undefined;
  const before = client.apduCount;
  const socket = connect({
    host,
    port,
    keyOps,
    ...tlsOptions,
    ...(session ? { session } : {}),
    ...(ca ? { ca } : {}),
    ...(options.servername ? { servername: options.servername } : {}),
    ...(options.alpn ? { alpnProtocols: options.alpn } : {}),
    ...keyLog(options.keylog),
  });
  if (options.sessionFile && sessionKey) {
    const file = options.sessionFile;
    socket.on('session', (next: TlsSession) => {
      // A session that cannot be kept costs the next connection a signature, not this one its link.
      try {
        writeTlsSessionFile(file, sessionKey, next);
      } catch (error) {
        printError(`warning: the session was not kept in ${file}: ${(error as Error).message}`);
      }
    });
  }
  // once() rejects with the 'error' event: a refused handshake becomes this command's error.
  await once(socket, 'secureConnect');
  const apdus = client.apduCount - before;
  const summary = connectionSummary(socket, apdus);
  // connect's stdout is the server's data: its summary goes to stderr, one JSON line with --json
  if (globals.json) printError(JSON.stringify(summary));
  else for (const line of describeConnection(socket, apdus, options.showcerts ?? false)) printError(line);
  return { socket, summary };
}

/** What a summary reads of a TLS socket or a DTLS association (which has no group to report). */
export type SecureConnection = Pick<
  TlsClientSocket,
  | 'getClientSignatureScheme'
  | 'getProtocol'
  | 'getCipher'
  | 'alpnProtocol'
  | 'isSessionReused'
  | 'getPeerX509Chain'
> & {
  getNegotiatedGroup?: () => string | undefined;
  handshakeStats: { milliseconds: number };
};

/** What --json reports: the negotiated parameters, the server chain, the SIM's share of the work. */
export function connectionSummary(socket: SecureConnection, apdus: number) {
  const clientScheme = socket.getClientSignatureScheme();
  return {
    version: socket.getProtocol(),
    suite: socket.getCipher()?.name,
    group: socket.getNegotiatedGroup?.() ?? null,
    clientScheme: clientScheme === undefined ? null : schemeName(clientScheme),
    alpn: socket.alpnProtocol || null,
    sessionReused: socket.isSessionReused(),
    peerChain: socket.getPeerX509Chain().map((c) => ({
      subject: c.subject.replace(/\n/g, ', '),
      issuer: c.issuer.replace(/\n/g, ', '),
      notAfter: new Date(c.validTo).toISOString(),
    })),
    apdus,
    handshakeMs: Number(socket.handshakeStats.milliseconds.toFixed(1)),
  };
}

export function describeConnection(socket: SecureConnection, apdus: number, showcerts: boolean): string[] {
  const chain = socket
    .getPeerX509Chain()
    .flatMap((c, i) => [
      `  ${i} s:${c.subject.replace(/\n/g, ', ')}`,
      `    i:${c.issuer.replace(/\n/g, ', ')}`,
      `    v:NotAfter: ${c.validTo}`,
      ...(showcerts ? [toPem(new Uint8Array(c.raw), 'CERTIFICATE').trimEnd()] : []),
    ]);
  const summary = connectionSummary(socket, apdus);
  return [
    '---',
    ...(chain.length ? ['Certificate chain', ...chain] : ['Authenticated by PSK']),
    '---',
    `Protocol: ${summary.version}`,
    `Cipher: ${summary.suite}`,
    `Group: ${summary.group ?? '(none)'}`,
    `Client signature: ${summary.clientScheme ?? '(none)'}`,
    `ALPN: ${summary.alpn ?? '(none)'}`,
    `Session: ${summary.sessionReused ? 'resumed' : 'new'}`,
    `SIM APDUs: ${apdus}`,
    `Handshake: ${socket.handshakeStats.milliseconds.toFixed(1)} ms`,
    '---',
  ];
}

/** Resolves with `work`, or rejects as soon as the TLS socket fails (a late refusal, a reset). */
function unlessFailed<T>(socket: TlsClientSocket, work: Promise<T>): Promise<T> {
  return Promise.race([work, once(socket, 'error').then(([error]) => Promise.reject(error as Error))]);
}

interface MqttOptions {
  clientId?: string;
  username?: string;
  mqttVersion: string;
}

/** What cloud brokers check in CONNECT: AWS IoT the client ID (the thing name), Azure IoT Hub both. */
function addMqttOptions(c: Command): Command {
  return c
    .option(
      '--client-id <id>',
      'MQTT client identifier (AWS IoT: the thing name; Azure IoT Hub: the device ID)',
    )
    .option(
      '--username <name>',
      'MQTT user name (Azure IoT Hub: HUB.azure-devices.net/DEVICE/?api-version=2021-04-12)',
    )
    .addOption(
      new Option('--mqtt-version <v>', 'MQTT protocol version').choices(['3.1.1', '5']).default('5'),
    );
}

function mqttConnectOptions(o: MqttOptions): mqtt.IClientOptions {
  return {
    protocolVersion: o.mqttVersion === '3.1.1' ? 4 : 5,
    reconnectPeriod: 0,
    ...(o.clientId ? { clientId: o.clientId } : {}),
    ...(o.username ? { username: o.username } : {}),
  };
}

function mqttConnected(client: mqtt.MqttClient): Promise<void> {
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
}

export function registerNetwork(program: Command, globals: () => GlobalOptions): void {
  addTlsOptions(
    program
      .command('connect <url>')
      .description('TLS to tls://HOST:PORT with the SIM key; then pipe stdin and stdout (summary on stderr)'),
  ).action((url: string, options: TlsOptions) =>
    withApplet(globals(), options, async (client) => {
      const { socket } = await openTls(client, url, options, ['tls'], globals());
      socket.pipe(process.stdout);
      process.stdin.pipe(socket);
      // The server's end, or its error: a certificate refused after the handshake exits non-zero.
      await once(socket, 'end');
    }),
  );

  const mqttCommand = program
    .command('mqtt')
    .description('MQTT over TLS with the SIM key (mqtts://HOST:PORT)');
  addMqttOptions(addTlsOptions(mqttCommand.command('pub <url>').description('publish one message')))
    .requiredOption('--topic <topic>')
    .requiredOption('--message <text>')
    .action((url: string, options: TlsOptions & MqttOptions & { topic: string; message: string }) =>
      withApplet(globals(), options, async (client) => {
        const { socket, summary } = await openTls(client, url, options, ['mqtts'], globals());
        const mqttClient = new mqtt.MqttClient(() => socket, mqttConnectOptions(options));
        await unlessFailed(socket, mqttConnected(mqttClient));
        await unlessFailed(socket, mqttClient.publishAsync(options.topic, options.message, { qos: 1 }));
        await mqttClient.endAsync();
        emit(globals().json, { topic: options.topic, tls: summary }, () => `published to ${options.topic}`);
      }),
    );
  addMqttOptions(addTlsOptions(mqttCommand.command('sub <url>').description('print messages of a topic')))
    .requiredOption('--topic <topic>')
    .option('--count <n>', 'stop after n messages', '1')
    .action((url: string, options: TlsOptions & MqttOptions & { topic: string; count: string }) =>
      withApplet(globals(), options, async (client) => {
        const { socket, summary } = await openTls(client, url, options, ['mqtts'], globals());
        const mqttClient = new mqtt.MqttClient(() => socket, mqttConnectOptions(options));
        await unlessFailed(socket, mqttConnected(mqttClient));
        await unlessFailed(socket, mqttClient.subscribeAsync(options.topic, { qos: 1 }));
        printError(`subscribed to ${options.topic}`);
        const messages: { topic: string; payload: string }[] = [];
        let left = Number(options.count);
        await unlessFailed(
          socket,
          new Promise<void>((resolve) => {
            mqttClient.on('message', (topic, payload) => {
              if (globals().json) messages.push({ topic, payload: payload.toString() });
              else print(`${topic} ${payload.toString()}`);
              if (--left <= 0) resolve();
            });
          }),
        );
        await mqttClient.endAsync();
        if (globals().json) printJson({ messages, tls: summary });
      }),
    );
}
