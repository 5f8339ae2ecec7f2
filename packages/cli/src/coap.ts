// `iotsafe coap get|put|post|delete|observe coap[s]://HOST:PORT/path` (RFC 7252, block-wise RFC 7959,
// observe RFC 7641) with @iotsafe/coap, in the manner of libcoap's coap-client: over plain UDP, or over
// DTLS 1.2 (RFC 7252 §9, the RFC 7925 profile) with the PSK or the key in the SIM (dtls.ts). --trace
// prints every datagram and retransmission (sizes, never payloads).
import { readFileSync, writeFileSync } from 'node:fs';
import {
  CoapAbortError,
  CoapClient,
  type CoapResponse,
  CoapTimeoutError,
  type CoapUri,
  formatTraceEvent,
  type MethodName,
  parseCoapUri,
  parseContentFormat,
} from '@iotsafe/coap';
import type { DtlsClient } from '@iotsafe/tls';
import { type Command, Option } from 'commander';
import { connectionSummary } from './connection-summary.js';
import { type DtlsCredentials, dtlsWithSim } from './dtls.js';
import { print, printError, printJson, progress } from './output.js';
import { type GlobalOptions, withIoTSafe } from './session.js';
import { integerOption, UsageError } from './usage.js';
import { untilInterrupted } from './wait.js';

const METHODS = ['get', 'put', 'post', 'delete', 'observe'] as const;
type CoapCommand = (typeof METHODS)[number];

interface CoapCliOptions {
  payload?: string;
  payloadFile?: string;
  contentFormat?: string;
  accept?: string;
  blockSize?: string;
  non?: boolean;
  timeout: string;
  count?: string;
  out?: string;
  // coaps:// (DTLS 1.2, RFC 7925 profile), with the keys in the SIM
  pskLabel?: string;
  pskIdentity?: string;
  keyId?: string;
  certId?: string;
  ca?: string;
  caId?: string;
  servername?: string;
  sessionFile?: string;
  offload?: 'sign' | 'full';
}

const DTLS_FLAGS = [
  'pskLabel',
  'pskIdentity',
  'keyId',
  'certId',
  'ca',
  'caId',
  'servername',
  'sessionFile',
  'offload',
] as const;
const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The DTLS credentials the flags name: a PSK (Type II), else the key and certificate (Type I). */
export function dtlsCredentials(o: CoapCliOptions): DtlsCredentials {
  if (o.pskLabel !== undefined || o.pskIdentity !== undefined) {
    if (o.pskLabel === undefined || o.pskIdentity === undefined)
      throw new UsageError('a PSK needs both --psk-label (the secret container) and --psk-identity');
    if (o.keyId !== undefined || o.certId !== undefined)
      throw new UsageError(
        'give a PSK (--psk-label) or a key and certificate (--key-id, --cert-id), not both',
      );
    return { kind: 'psk', pskLabel: o.pskLabel, pskIdentity: o.pskIdentity };
  }
  return {
    kind: 'certificate',
    keyId: o.keyId ?? '01',
    certId: o.certId ?? '02',
    offload: o.offload ?? 'sign',
  };
}

/** The request's target; the DTLS flags are for coaps:// only. */
export function coapTarget(url: string, o: CoapCliOptions): CoapUri {
  let uri: CoapUri;
  try {
    uri = parseCoapUri(url);
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (give coap://HOST:PORT/path)`);
  }
  if (uri.secure) {
    dtlsCredentials(o);
    return uri;
  }
  const given = DTLS_FLAGS.filter((k) => o[k] !== undefined);
  if (given.length)
    throw new UsageError(
      `${given.map(flagName).join(', ')}: for coaps:// only (DTLS with the keys in the SIM)`,
    );
  return uri;
}

/** The request body: --payload TEXT or --payload-file FILE (- for stdin), at most one. */
function payloadOf(command: CoapCommand, o: CoapCliOptions): Uint8Array | undefined {
  if (o.payload !== undefined && o.payloadFile !== undefined)
    throw new UsageError('give --payload or --payload-file, not both');
  const body =
    o.payload !== undefined
      ? new TextEncoder().encode(o.payload)
      : o.payloadFile !== undefined
        ? new Uint8Array(readFileSync(o.payloadFile === '-' ? 0 : o.payloadFile))
        : undefined;
  if (body && (command === 'get' || command === 'delete' || command === 'observe'))
    throw new UsageError(`coap ${command} sends no payload`);
  return body;
}

function formatOption(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseContentFormat(text);
  } catch {
    throw new UsageError(
      `${what}: unknown content format ${text} (a number, a media type, or text, json, cbor, …)`,
    );
  }
}

const BLOCK_SIZES = [16, 32, 64, 128, 256, 512, 1024];

function blockSizeOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!BLOCK_SIZES.includes(n)) throw new UsageError('--block-size takes 16, 32, 64, 128, 256, 512 or 1024');
  return n;
}

type DtlsJson = ReturnType<typeof connectionSummary>;

/** What `coap --json` prints for one response (docs/json.md). */
function responseJson(response: CoapResponse) {
  const json = response.toJSON();
  const { contentFormat, ...rest } = json;
  return {
    ...rest,
    ...('payloadHex' in json ? { payloadHex: json.payloadHex.toUpperCase() } : {}), // upper-case hex, as every command
    contentFormat: contentFormat ?? null,
  };
}

function printResponse(
  response: CoapResponse,
  o: CoapCliOptions,
  json: boolean | undefined,
  dtls: DtlsJson | undefined,
): void {
  if (json) {
    printJson({ ...responseJson(response), ...(dtls ? { dtls } : {}) });
    return;
  }
  printError(response.status);
  if (o.out) writeFileSync(o.out, response.payload);
  else if (response.payload.length) print(response.text());
}

export function registerCoap(program: Command, globals: () => GlobalOptions): void {
  const coap = program
    .command('coap')
    .description(
      'CoAP requests, like coap-client: over UDP (coap://) or DTLS 1.2 with the keys in the SIM (coaps://)',
    );
  for (const method of METHODS) {
    const c = coap
      .command(`${method} <url>`)
      .description(
        method === 'observe'
          ? 'register as an observer (RFC 7641) and print each notification until Ctrl-C or --count'
          : `send a ${method.toUpperCase()} request and print the response`,
      );
    if (method === 'put' || method === 'post')
      c.option('--payload <text>', 'the request body as text')
        .option('--payload-file <file>', 'the request body from a file (- for stdin)')
        .option(
          '--content-format <format>',
          'its Content-Format: a number, a media type, or text, json, cbor, …',
        );
    c.option('--accept <format>', 'the Content-Format wanted in the response')
      .option('--block-size <bytes>', 'block-wise transfer (RFC 7959) in blocks of 16 … 1024 bytes')
      .option('--non', 'send a Non-confirmable request (no retransmission)')
      .option('--timeout <ms>', 'give up when no response has come within this time', '30000');
    if (method === 'observe')
      c.option('--count <n>', 'stop after N notifications (the first response counts)');
    else c.option('--out <file>', 'write the response payload to a file instead of stdout');
    c.option('--psk-label <label>', 'coaps:// with the PSK in this SIM secret container (Type II)')
      .option('--psk-identity <text>', 'coaps://: the PSK identity')
      .option('--key-id <hex>', 'coaps:// with this SIM private key container (Type I; default 01)')
      .option('--cert-id <hex>', 'coaps://: the certificate file container (default 02)')
      .option('--ca <file>', "coaps://: trust anchors for the server's certificate (PEM)")
      .option('--ca-id <hex>', 'coaps://: or the CA certificate in this SIM file container')
      .option(
        '--servername <name>',
        "coaps://: the name the server's certificate must carry (default the host)",
      )
      .option(
        '--session-file <file>',
        'coaps://: resume the DTLS session kept here, and keep the next one (sealed with the storage key)',
      )
      .addOption(new Option('--offload <level>', 'coaps://: what the SIM does').choices(['sign', 'full']))
      .action((url: string, o: CoapCliOptions) => runCoap(method, url, o, globals()));
  }
}

async function runCoap(
  command: CoapCommand,
  url: string,
  o: CoapCliOptions,
  g: GlobalOptions,
): Promise<void> {
  const uri = coapTarget(url, o);
  if (!uri.secure) return exchange(command, url, uri, o, g);
  // coaps://: the DTLS association's keys are in the SIM, open for the whole exchange
  return withIoTSafe(g, async (sim) => {
    const open = await dtlsWithSim(
      sim,
      {
        credentials: dtlsCredentials(o),
        ...(o.ca !== undefined ? { ca: o.ca } : {}),
        ...(o.caId !== undefined ? { caId: o.caId } : {}),
        ...(o.servername !== undefined ? { servername: o.servername } : {}),
        ...(o.sessionFile !== undefined ? { sessionFile: o.sessionFile } : {}),
        options: { handshakeTimeout: integerOption(o.timeout, '--timeout', 1, 86_400_000) },
      },
      g,
    );
    let opened: { dtls: DtlsClient; apdus: number } | undefined;
    const secureTransport = async (peer: { host: string; port: number }) => {
      opened = await open(peer);
      return opened.dtls;
    };
    const dtlsJson = (): DtlsJson | undefined =>
      opened ? connectionSummary(opened.dtls, opened.apdus) : undefined;
    return exchange(command, url, uri, o, g, { secureTransport, dtlsJson });
  });
}

/** A coaps:// exchange: the DTLS transport factory, and what its --json reports of the handshake. */
interface Secure {
  secureTransport: (peer: { host: string; port: number }) => Promise<DtlsClient>;
  dtlsJson: () => DtlsJson | undefined;
}

async function exchange(
  command: CoapCommand,
  url: string,
  uri: CoapUri,
  o: CoapCliOptions,
  g: GlobalOptions,
  secure?: Secure,
): Promise<void> {
  const payload = payloadOf(command, o);
  const contentFormat = formatOption(o.contentFormat, '--content-format');
  const accept = formatOption(o.accept, '--accept');
  const blockSize = blockSizeOf(o.blockSize);
  const timeoutMs = integerOption(o.timeout, '--timeout', 1, 86_400_000);
  const count = o.count === undefined ? undefined : integerOption(o.count, '--count', 1, 1_000_000);
  const client = await CoapClient.connect(url, {
    ...(blockSize ? { blockSize } : {}),
    responseTimeout: timeoutMs,
    ...(g.trace ? { trace: (event) => printError(formatTraceEvent(event)) } : {}),
    ...(secure ? { secureTransport: secure.secureTransport } : {}),
  });
  const dtls = secure?.dtlsJson();
  if (dtls && !g.json)
    printError(
      `${dtls.version} ${dtls.suite}, session ${dtls.sessionReused ? 'resumed' : 'new'}, SIM APDUs: ${dtls.apdus}, handshake ${dtls.handshakeMs} ms`,
    );
  const deadline = AbortSignal.timeout(timeoutMs);
  const request = {
    ...(contentFormat !== undefined ? { contentFormat } : {}),
    ...(accept !== undefined ? { accept } : {}),
    ...(blockSize ? { blockSize } : {}),
    confirmable: o.non !== true,
    signal: deadline,
  };
  const resource = uri.resource || '/';
  // a wait over a second says so on stderr (a cellular link, retransmissions)
  const waiting = progress(
    () => `waiting for ${uri.host}:${uri.port} to answer ${command.toUpperCase()} ${resource}`,
  );
  try {
    if (command === 'observe')
      return await observe(client, resource, request, count, g, waiting, dtls).catch((error) => {
        throw deadlineError(error, deadline, timeoutMs, uri);
      });
    const response = await client
      .request(resource, {
        ...request,
        method: command.toUpperCase() as MethodName,
        ...(payload ? { payload } : {}),
      })
      .catch((error) => {
        throw deadlineError(error, deadline, timeoutMs, uri);
      });
    waiting();
    printResponse(response, o, g.json, dtls);
    if (!response.ok) process.exitCode = 1;
  } finally {
    waiting();
    await client.close();
  }
}

/** An abort by the --timeout deadline is a timeout, said with the target; any other error as it is. */
function deadlineError(error: unknown, deadline: AbortSignal, ms: number, uri: CoapUri): unknown {
  if (error instanceof CoapAbortError && deadline.aborted)
    return new CoapTimeoutError(`no response from ${uri.host}:${uri.port} within ${ms} ms (--timeout)`);
  return error;
}

async function observe(
  client: CoapClient,
  resource: string,
  request: { signal: AbortSignal } & Record<string, unknown>,
  count: number | undefined,
  g: GlobalOptions,
  registered: () => void,
  dtls: DtlsJson | undefined,
): Promise<void> {
  const observation = await client.observe(resource, request);
  registered(); // notifications may be minutes apart: no progress line for those
  // deregister (GET with Observe 1, RFC 7641 §3.6), but do not wait long for a server that is gone
  const cancel = () =>
    Promise.race([observation.cancel().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
  untilInterrupted().then(cancel);
  const notifications: ReturnType<typeof responseJson>[] = [];
  let seen = 0;
  for await (const notification of observation) {
    seen++;
    if (g.json) notifications.push(responseJson(notification));
    else {
      printError(
        `${notification.status}${notification.observe !== undefined ? ` (observe ${notification.observe})` : ''}`,
      );
      if (notification.payload.length) print(notification.text());
    }
    if (count !== undefined && seen >= count) break;
  }
  if (count !== undefined && seen >= count) await cancel();
  if (g.json)
    printJson({
      notifications,
      ended: count !== undefined && seen >= count ? 'count' : observation.reason ? 'error' : 'signal',
      ...(observation.reason ? { error: observation.reason.message } : {}),
      ...(dtls ? { dtls } : {}),
    });
  else if (observation.reason) throw observation.reason;
}
