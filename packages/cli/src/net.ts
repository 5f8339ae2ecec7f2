// `iotsafe connect tls://HOST:PORT` (in the manner of openssl s_client) and `iotsafe mqtt pub|sub`,
// with the client key, certificate or PSK in the SIM.

import { once } from 'node:events';
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { byId, byLabel, IoTSafeKeyOps, type OffloadLevel } from '@iotsafe/device';
import { seal, unseal, utf8 } from '@iotsafe/protocol';
import { connect, sessionFromJson, sessionToJson, type TlsClientSocket, type TlsSession } from '@iotsafe/tls';
import { type Command, Option } from 'commander';
import mqtt from 'mqtt';
import { print, printError } from './output.js';
import { type GlobalOptions, storageKey, UsageError, withIoTSafe } from './session.js';

interface TlsOptions {
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
}

function target(url: string, schemes: string[]): { host: string; port: number } {
  const match = /^([a-z]+):\/\/([^:/]+)(?::(\d+))?\/?$/.exec(url);
  if (!match || !schemes.includes(match[1]!))
    throw new UsageError(`give the server as ${schemes[0]}://HOST:PORT`);
  return { host: match[2]!, port: Number(match[3] ?? (match[1] === 'mqtts' ? 8883 : 443)) };
}

function addTlsOptions(c: Command): Command {
  return c
    .option('--ca <file>', 'trust anchors (PEM)')
    .option('--ca-id <hex>', 'trust the CA certificate in this SIM file container')
    .option('--servername <name>', 'SNI and the name to check (default the host)')
    .option('--alpn <protocol...>', 'ALPN protocols to offer')
    .addOption(new Option('--offload <level>', 'what the SIM does').choices(['sign', 'full']).default('sign'))
    .option('--key-id <hex>', 'private key container', '01')
    .option('--cert-id <hex>', 'certificate file container', '02')
    .option('--psk-label <label>', 'use the PSK in this secret container (TLS 1.3 external PSK)')
    .option('--psk-identity <text>', 'PSK identity')
    .option(
      '--session-file <file>',
      'resume the TLS 1.3 session kept here, and keep the next one (sealed with the storage key)',
    );
}

/**
 * SSLKEYLOGFILE (NSS key log format, as OpenSSL, curl and browsers honour it): the session secrets are
 * appended there for Wireshark, only when the user asked for it by setting the variable.
 */
function keyLogFromEnvironment(): { keylog?: (line: string) => void } {
  const file = process.env.SSLKEYLOGFILE;
  if (!file) return {};
  return {
    keylog: (line) => appendFileSync(file, line.endsWith('\n') ? line : `${line}\n`, { mode: 0o600 }),
  };
}

const SESSION_CONTEXT = 'iotsafe tls session';

/** The session a file keeps, sealed with the storage key (it holds the resumption PSK); none if absent. */
function readSessionFile(file: string, key: Uint8Array): TlsSession | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return sessionFromJson(
      new TextDecoder().decode(unseal(key, readFileSync(file, 'utf8').trim(), SESSION_CONTEXT)),
    );
  } catch (error) {
    throw new UsageError(
      `${file} does not hold a session sealed with this storage key (${(error as Error).message})`,
    );
  }
}

function writeSessionFile(file: string, key: Uint8Array, session: TlsSession): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${seal(key, utf8(sessionToJson(session)), SESSION_CONTEXT)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}

async function openTls(
  client: Parameters<Parameters<typeof withIoTSafe>[1]>[0],
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
    options.sessionFile && sessionKey ? readSessionFile(options.sessionFile, sessionKey) : undefined;
  const before = client.apduCount;
  const socket = connect({
    host,
    port,
    keyOps,
    ...(session ? { session } : {}),
    ...(ca ? { ca } : {}),
    ...(options.servername ? { servername: options.servername } : {}),
    ...(options.alpn ? { alpnProtocols: options.alpn } : {}),
    ...keyLogFromEnvironment(),
  });
  if (options.sessionFile && sessionKey) {
    const file = options.sessionFile;
    socket.on('session', (next: TlsSession) => {
      // A session that cannot be kept costs the next connection a signature, not this one its link.
      try {
        writeSessionFile(file, sessionKey, next);
      } catch (error) {
        printError(`warning: the session was not kept in ${file}: ${(error as Error).message}`);
      }
    });
  }
  await once(socket, 'secureConnect');
  return { socket, apdus: client.apduCount - before };
}

function describeConnection(socket: TlsClientSocket, apdus: number): string[] {
  const chain = socket
    .getPeerX509Chain()
    .map((c, i) => `  ${i} s:${c.subject.replace(/\n/g, ', ')}\n    i:${c.issuer.replace(/\n/g, ', ')}`);
  return [
    '---',
    ...(chain.length ? ['Certificate chain', ...chain] : ['Authenticated by PSK']),
    '---',
    `Protocol: ${socket.getProtocol()}`,
    `Cipher: ${socket.getCipher()?.name}`,
    `ALPN: ${socket.alpnProtocol || '(none)'}`,
    `Session: ${socket.isSessionReused() ? 'resumed' : 'new'}`,
    `SIM APDUs: ${apdus}`,
    `Handshake: ${socket.handshakeStats.milliseconds.toFixed(1)} ms`,
    '---',
  ];
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
      .description('TLS 1.3 to tls://HOST:PORT with the SIM key; then pipe stdin and stdout'),
  ).action((url: string, options: TlsOptions) =>
    withIoTSafe(globals(), async (client) => {
      const { socket, apdus } = await openTls(client, url, options, ['tls'], globals());
      for (const line of describeConnection(socket, apdus)) printError(line);
      socket.pipe(process.stdout);
      process.stdin.pipe(socket);
      await once(socket, 'end').catch(() => undefined);
    }),
  );

  const mqttCommand = program
    .command('mqtt')
    .description('MQTT over TLS 1.3 with the SIM key (mqtts://HOST:PORT)');
  addTlsOptions(mqttCommand.command('pub <url>').description('publish one message'))
    .requiredOption('--topic <topic>')
    .requiredOption('--message <text>')
    .action((url: string, options: TlsOptions & { topic: string; message: string }) =>
      withIoTSafe(globals(), async (client) => {
        const { socket } = await openTls(client, url, options, ['mqtts'], globals());
        const mqttClient = new mqtt.MqttClient(() => socket, { protocolVersion: 5, reconnectPeriod: 0 });
        await mqttConnected(mqttClient);
        await mqttClient.publishAsync(options.topic, options.message, { qos: 1 });
        await mqttClient.endAsync();
        print(`published to ${options.topic}`);
      }),
    );
  addTlsOptions(mqttCommand.command('sub <url>').description('print messages of a topic'))
    .requiredOption('--topic <topic>')
    .option('--count <n>', 'stop after n messages', '1')
    .action((url: string, options: TlsOptions & { topic: string; count: string }) =>
      withIoTSafe(globals(), async (client) => {
        const { socket } = await openTls(client, url, options, ['mqtts'], globals());
        const mqttClient = new mqtt.MqttClient(() => socket, { protocolVersion: 5, reconnectPeriod: 0 });
        await mqttConnected(mqttClient);
        await mqttClient.subscribeAsync(options.topic, { qos: 1 });
        printError(`subscribed to ${options.topic}`);
        let left = Number(options.count);
        await new Promise<void>((resolve) => {
          mqttClient.on('message', (topic, payload) => {
            print(`${topic} ${payload.toString()}`);
            if (--left <= 0) resolve();
          });
        });
        await mqttClient.endAsync();
      }),
    );
}
