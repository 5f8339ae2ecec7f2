// DTLS 1.2 (RFC 6347, the RFC 7925 IoT profile) with the keys in the SIM, for `iotsafe coap
// coaps://…` and `iotsafe connect dtls://HOST:PORT` (in the manner of openssl s_client -dtls1_2): a
// Type II SIM's PSK (the master secret by COMPUTE PRF, the PSK never leaves the SIM) or a Type I SIM's
// key and certificate (ECDHE-ECDSA, the SIM signing). With --session-file the session is kept sealed
// with the storage key, and the next run resumes it: an abbreviated handshake, no SIM operation.

import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { byId, byLabel, type IoTSafe, IoTSafeKeyOps } from '@iotsafe/device';
import { utf8 } from '@iotsafe/protocol';
import { connectDtls, type DtlsClient, type DtlsConnectOptions, type DtlsSession } from '@iotsafe/tls';
import { connectionSummary, describeConnection } from './connection-summary.js';
import { print, printError } from './output.js';
import { type GlobalOptions, storageKey } from './session.js';
import { readDtlsSessionFile, writeDtlsSessionFile } from './session-files.js';
import {
  keyLog,
  parseCiphers,
  parseGroups,
  type TlsOptions,
  target,
  timeoutMs,
  withApplet,
} from './tls-options.js';
import { integerOption, UsageError } from './usage.js';
import { untilInterrupted } from './wait.js';

/** What a DTLS association authenticates with: a Type II SIM's PSK, or a Type I SIM's key and certificate. */
export type DtlsCredentials =
  | { kind: 'psk'; pskLabel: string; pskIdentity: string }
  | { kind: 'certificate'; keyId: string; certId: string; offload: 'sign' | 'full' };

/** How to trust the server (certificates only) and the options that tune the association. */
export interface DtlsSetup {
  credentials: DtlsCredentials;
  /** Trust anchors: a PEM file, or the certificate in a SIM file container. */
  ca?: string;
  caId?: string;
  servername?: string;
  sessionFile?: string;
  options?: Omit<DtlsConnectOptions, 'host' | 'port' | 'keyOps' | 'ca' | 'servername' | 'dtlsSession'>;
}

/** One association's SIM share: the APDUs between the start of the handshake and its end. */
export interface DtlsOpened {
  dtls: DtlsClient;
  apdus: number;
}

/**
 * Opens DTLS associations to `host:port` with the SIM behind `client`: the KeyOps, the trust anchors and
 * the kept session are read once; each `open()` is one handshake (CoAP opens one per client).
 */
export async function dtlsWithSim(
  client: IoTSafe,
  setup: DtlsSetup,
  globals: GlobalOptions,
): Promise<(peer: { host: string; port: number }) => Promise<DtlsOpened>> {
  const { credentials } = setup;
  const keyOps = await IoTSafeKeyOps.create(client, {
    offload: credentials.kind === 'psk' ? 'sign' : credentials.offload,
    ...(credentials.kind === 'psk'
      ? { psk: { identity: utf8(credentials.pskIdentity), secret: byLabel(credentials.pskLabel) } }
      : { privateKey: byId(credentials.keyId), certificateChain: [byId(credentials.certId)] }),
  });
  const ca = setup.ca
    ? readFileSync(setup.ca, 'utf8')
    : setup.caId
      ? [await client.readFile(byId(setup.caId))]
      : undefined;
  if (!ca && credentials.kind === 'certificate')
    throw new UsageError("how to trust the server's certificate? pass --ca FILE (or --ca-id HEX)");
  const key = setup.sessionFile ? storageKey(globals) : undefined;
  return async (peer) => {
    const server = `${peer.host}:${peer.port}`;
    const file = setup.sessionFile;
    const kept: DtlsSession | undefined =
      file && key
        ? readDtlsSessionFile(file, key, server, (message) => printError(`warning: ${message}`))
        : undefined;
    const before = client.apduCount;
    const dtls = connectDtls({
      host: peer.host,
      port: peer.port,
      keyOps,
      ...(ca ? { ca } : {}),
      ...(setup.servername ? { servername: setup.servername } : {}),
      ...(kept ? { dtlsSession: kept } : {}),
      ...setup.options,
    });
    if (globals.trace)
      dtls.on('retransmit', ({ attempt, timeout }: { attempt: number; timeout: number }) =>
        printError(`DTLS: flight sent again (retransmission ${attempt}, next timer ${timeout} ms)`),
      );
    if (file && key)
      dtls.on('session', (session: DtlsSession) => {
        // A session that cannot be kept costs the next run a handshake, not this one its link.
        try {
          writeDtlsSessionFile(file, key, server, session);
        } catch (error) {
          printError(`warning: the DTLS session was not kept in ${file}: ${(error as Error).message}`);
        }
      });
    await dtls.ready();
    return { dtls, apdus: client.apduCount - before };
  };
}

/** `connect dtls://`: what it sends besides stdin, and when it stops. */
export interface DtlsConnectCliOptions extends TlsOptions {
  data?: string;
  count?: string;
}

/**
 * `iotsafe connect dtls://HOST:PORT`, like openssl s_client -dtls1_2: the handshake report on stderr
 * (one JSON line with --json), --data and each line of stdin as a datagram, every datagram received on
 * stdout. It ends with the server's close_notify, after --count datagrams, at SIGINT/SIGTERM, or (with
 * no --count) at the end of stdin; then close_notify.
 */
export async function connectDtlsCommand(
  url: string,
  options: DtlsConnectCliOptions,
  globals: GlobalOptions,
): Promise<void> {
  const { host, port } = target(url, ['dtls']);
  if (options.tlsVersion || options.minTls || options.maxTls)
    throw new UsageError('dtls:// is DTLS 1.2: --tls-version, --min-tls and --max-tls are for tls://');
  if (options.pskLabel !== undefined && options.pskIdentity === undefined)
    throw new UsageError('a PSK needs --psk-identity');
  const count =
    options.count === undefined ? undefined : integerOption(options.count, '--count', 1, 1_000_000);
  await withApplet(globals, options, async (client) => {
    const open = await dtlsWithSim(
      client,
      {
        credentials: options.pskLabel
          ? { kind: 'psk', pskLabel: options.pskLabel, pskIdentity: options.pskIdentity! }
          : { kind: 'certificate', keyId: options.keyId, certId: options.certId, offload: options.offload },
        ...(options.ca ? { ca: options.ca } : {}),
        ...(options.caId ? { caId: options.caId } : {}),
        ...(options.servername ? { servername: options.servername } : {}),
        ...(options.sessionFile ? { sessionFile: options.sessionFile } : {}),
        options: {
          handshakeTimeout: timeoutMs(options.timeout ?? '30000'),
          ...(options.groups ? { groups: parseGroups(options.groups) } : {}),
          ...(options.ciphers ? { cipherSuites: parseCiphers(options.ciphers) } : {}),
          ...(options.alpn ? { alpnProtocols: options.alpn } : {}),
          ...keyLog(options.keylog),
        },
      },
      globals,
    );
    const { dtls, apdus } = await open({ host, port });
    // stdout is the server's data: the summary goes to stderr, one JSON line with --json
    if (globals.json) printError(JSON.stringify(connectionSummary(dtls, apdus)));
    else for (const line of describeConnection(dtls, apdus, options.showcerts ?? false)) printError(line);
    try {
      await exchangeDatagrams(dtls, options.data, count);
    } finally {
      await dtls.close();
    }
  });
}

async function exchangeDatagrams(dtls: DtlsClient, data: string | undefined, count: number | undefined) {
  let received = 0;
  let enough!: () => void;
  const counted = new Promise<void>((resolve) => {
    enough = resolve;
  });
  dtls.on('message', (datagram: Uint8Array) => {
    print(Buffer.from(datagram).toString().replace(/\n$/, ''));
    if (count !== undefined && ++received >= count) enough();
  });
  const closed = once(dtls, 'close'); // the server's close_notify (an 'error' rejects it)
  if (data !== undefined) await dtls.send(utf8(data));
  const lines = createInterface({ input: process.stdin });
  const stdinEnded = new Promise<void>((resolve) => {
    lines.on('line', (line) => {
      dtls.send(utf8(`${line}\n`)).catch((error: Error) => printError(`warning: ${error.message}`));
    });
    lines.once('close', resolve);
  });
  try {
    await Promise.race([closed, counted, untilInterrupted(), ...(count === undefined ? [stdinEnded] : [])]);
  } finally {
    lines.close();
  }
}
