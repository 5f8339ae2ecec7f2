// `iotsafe connect tls://HOST:PORT` (in the manner of openssl s_client) and `iotsafe mqtt pub|sub`,
// with the client key, certificate or PSK in the SIM — reached directly or through an SCP03 channel to
// the applet. A refused handshake, or a certificate the server rejects after it, is an error with the
// reason in words and a non-zero exit, never a silent end.

import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { byId, byLabel, type IoTSafe, IoTSafeKeyOps } from '@iotsafe/device';
import { utf8 } from '@iotsafe/protocol';
import { type ConnectOptions, connect, type TlsClientSocket, type TlsSession } from '@iotsafe/tls';
import { type Command, Option } from 'commander';
import mqtt from 'mqtt';
import { connectionSummary, describeConnection } from './connection-summary.js';
import { connectDtlsCommand, type DtlsConnectCliOptions } from './dtls.js';
import { emit, print, printError, printJson } from './output.js';
import { type GlobalOptions, storageKey, UsageError } from './session.js';
import { readTlsSessionFile, writeTlsSessionFile } from './session-files.js';
import {
  addTlsOptions,
  keyLog,
  parseCiphers,
  parseGroups,
  type TlsOptions,
  target,
  timeoutMs,
  versionRange,
  withApplet,
} from './tls-options.js';

/** A TCP connect asked for before the SIM client is made, and its error if one came before TLS took it. */
interface Dialed {
  host: string;
  socket: net.Socket;
  error?: Error;
}

/**
 * Asks for the TCP connection first, then runs `body` (opening the applet, reading the key's details and
 * the certificate: about 6 APDUs) while DNS and TCP's handshake run; the socket is destroyed if `body` fails.
 */
async function dialFirst<T>(
  url: string,
  schemes: string[],
  body: (dialed: Dialed) => Promise<T>,
): Promise<T> {
  const { host, port } = target(url, schemes);
  const dialed: Dialed = { host, socket: net.connect(port, host) };
  // Kept for openTls: an error before the TLS client listens (a refused connect) must not be lost.
  dialed.socket.on('error', (error) => {
    dialed.error ??= error;
  });
  try {
    // One turn of the event loop: the connect (or the DNS lookup) is issued before the SIM work, which
    // with an in-process SIM could otherwise run to its end in promise callbacks first.
    await new Promise((resolve) => setImmediate(resolve));
    return await body(dialed);
  } catch (error) {
    dialed.socket.destroy();
    throw error;
  }
}

async function openTls(client: IoTSafe, dialed: Dialed, options: TlsOptions, globals: GlobalOptions) {
  const { host } = dialed;
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
  // The signature's INIT with the ClientHello: its hash is certain when TLS 1.3 only is offered (the
  // curve's, RFC 8446 §4.2.3); a resumption signs nothing.
  keyOps.earlySignatureInit = session ? 'off' : tlsOptions.minVersion === 'TLSv1.3' ? 'likely' : 'certain';
  if (dialed.error) throw dialed.error;
  const before = client.apduCount;
  const socket = connect({
    socket: dialed.socket,
    host,
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
      .description(
        'TLS to tls://HOST:PORT, or DTLS 1.2 to dtls://HOST:PORT, with the SIM key or PSK; then stdin and stdout (summary on stderr)',
      )
      .option('--data <text>', 'dtls://: send this datagram once connected')
      .option('--count <n>', 'dtls://: stop after N datagrams from the server'),
  ).action((url: string, options: DtlsConnectCliOptions) => {
    if (url.startsWith('dtls://')) return connectDtlsCommand(url, options, globals());
    if (options.data !== undefined || options.count !== undefined)
      throw new UsageError('--data and --count are for dtls:// (over tls://, pipe stdin)');
    return dialFirst(url, ['tls'], (dialed) =>
      withApplet(globals(), options, async (client) => {
        const { socket } = await openTls(client, dialed, options, globals());
        socket.pipe(process.stdout);
        process.stdin.pipe(socket);
        // The server's end, or its error: a certificate refused after the handshake exits non-zero.
        try {
          await once(socket, 'end');
        } finally {
          process.stdin.unpipe(socket);
          process.stdin.pause();
        }
        // Ended by the server: stdin that reached the socket after its FIN cannot be delivered
        // ("ended by the other party"); that is the server's choice, not a failure of this session.
        socket.on('error', () => {});
      }),
    );
  });

  const mqttCommand = program
    .command('mqtt')
    .description('MQTT over TLS with the SIM key (mqtts://HOST:PORT)');
  addMqttOptions(addTlsOptions(mqttCommand.command('pub <url>').description('publish one message')))
    .requiredOption('--topic <topic>')
    .requiredOption('--message <text>')
    .action((url: string, options: TlsOptions & MqttOptions & { topic: string; message: string }) =>
      dialFirst(url, ['mqtts'], (dialed) =>
        withApplet(globals(), options, async (client) => {
          const { socket, summary } = await openTls(client, dialed, options, globals());
          const mqttClient = new mqtt.MqttClient(() => socket, mqttConnectOptions(options));
          await unlessFailed(socket, mqttConnected(mqttClient));
          await unlessFailed(socket, mqttClient.publishAsync(options.topic, options.message, { qos: 1 }));
          await mqttClient.endAsync();
          emit(globals().json, { topic: options.topic, tls: summary }, () => `published to ${options.topic}`);
        }),
      ),
    );
  addMqttOptions(addTlsOptions(mqttCommand.command('sub <url>').description('print messages of a topic')))
    .requiredOption('--topic <topic>')
    .option('--count <n>', 'stop after n messages', '1')
    .action((url: string, options: TlsOptions & MqttOptions & { topic: string; count: string }) =>
      dialFirst(url, ['mqtts'], (dialed) =>
        withApplet(globals(), options, async (client) => {
          const { socket, summary } = await openTls(client, dialed, options, globals());
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
      ),
    );
}
