// How `iotsafe fleet` and `iotsafe campaign` reach the fleet: the OTA server's REST API either way.
// With --store the API is built in this process over the store (fastify's inject: no socket, no
// token, the caller is "local"); with --api URL it is a running `ota serve`, reached with a bearer
// token (--token-file or IOTSAFE_OTA_TOKEN). One code path for both, so the two answer the same.
import {
  buildOtaApi,
  OtaServer,
  type OtaServerOptions,
  type OtaStore,
  type SmsLink,
  type TransportCipher,
} from '@iotsafe/ota';
import { apiToken, openKeyStore } from './ota-server.js';
import { type GlobalOptions, storageKey, UsageError } from './session.js';

/** What the API answered with a status outside 2xx: its error code and message. */
export class FleetApiError extends Error {
  override name = 'FleetApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface FleetApi {
  /** The JSON of a 2xx answer (a 422 import report too); a FleetApiError for anything else. */
  call(method: 'GET' | 'POST', path: string, body?: { json?: unknown; csv?: Uint8Array }): Promise<unknown>;
  /** Where it is: the store's location or the API's URL (for messages). */
  readonly where: string;
  close(): Promise<void>;
}

/** Statuses whose JSON body is still the answer (an atomic import refused: its report). */
const ANSWER_STATUSES = new Set([422]);
const USAGE_STATUSES = new Set([400, 404, 409, 413, 415]);

function answerOf(status: number, text: string): unknown {
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if ((status >= 200 && status < 300) || ANSWER_STATUSES.has(status)) return body;
  const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
  const message = error?.message ?? `HTTP ${status}`;
  // what the caller asked for is wrong (a bad value, no such SIM, a state that does not allow it)
  if (USAGE_STATUSES.has(status)) throw new UsageError(message);
  throw new FleetApiError(status, error?.code ?? 'http_error', message);
}

/** An SMS link that sends nothing: for commands that only read or change the store. */
const OFFLINE_LINK: SmsLink = {
  submit: () => Promise.reject(new Error('no SMSC in this process')),
  onMessage: () => {},
  close: () => Promise.resolve(),
};

export interface LocalApiOptions {
  /** The SMSC link of a worker that runs the campaign's job here (default: none, nothing sent). */
  link?: SmsLink;
  server?: OtaServerOptions;
  transportKey?: Uint8Array;
  cipher?: TransportCipher;
  /** The SMSC account's rate, for the dry run's expected duration. */
  tps?: number;
}

/** The API over a store, in this process. */
export async function localApi(
  store: OtaStore,
  where: string,
  options: LocalApiOptions = {},
): Promise<FleetApi & { server: OtaServer }> {
  const server = new OtaServer(store, options.link ?? OFFLINE_LINK, {
    ...(options.link ? {} : { worker: false as const }),
    ...options.server,
  });
  const app = await buildOtaApi(server, {
    insecureNoAuth: true, // not listening: only this process can call it
    dashboard: false,
    rateLimit: { global: 1_000_000, perSim: 1_000_000 },
    fleet: {
      ...(options.transportKey ? { transportKey: options.transportKey } : {}),
      ...(options.cipher ? { cipher: options.cipher } : {}),
      ...(options.tps === undefined ? {} : { tps: options.tps }),
    },
  });
  return {
    server,
    where,
    async call(method, path, body) {
      const response = await app.inject({
        method,
        url: path,
        ...(body?.csv
          ? { payload: Buffer.from(body.csv), headers: { 'content-type': 'text/csv' } }
          : body?.json !== undefined
            ? { payload: JSON.stringify(body.json), headers: { 'content-type': 'application/json' } }
            : {}),
      });
      return answerOf(response.statusCode, response.body);
    },
    async close() {
      await app.close();
      await server.close();
    },
  };
}

/** A running `ota serve`, with its bearer token. */
export function remoteApi(url: string, token: string): FleetApi {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new UsageError(`--api ${url}: not a URL (http://host:port)`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new UsageError(`--api ${url}: an http:// or https:// URL`);
  return {
    where: base.origin,
    async call(method, path, body) {
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      let payload: string | Buffer | undefined;
      if (body?.csv) {
        headers['content-type'] = 'text/csv';
        payload = Buffer.from(body.csv);
      } else if (body?.json !== undefined) {
        headers['content-type'] = 'application/json';
        payload = JSON.stringify(body.json);
      }
      let response: Response;
      try {
        response = await fetch(new URL(path, base), {
          method,
          headers,
          ...(payload === undefined ? {} : { body: payload }),
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
        throw new Error(`cannot reach the OTA API at ${base.origin}: ${cause}`);
      }
      return answerOf(response.status, await response.text());
    },
    close: () => Promise.resolve(),
  };
}

/** --store FILE|URL or --api URL (with --token-file): where every fleet and campaign command goes. */
export interface WhereFlags {
  store?: string;
  api?: string;
  tokenFile?: string;
}

export function addWhereFlags<T extends { option(flags: string, description: string): T }>(c: T): T {
  return c
    .option('--store <file|url>', 'the OTA store: a SQLite file or postgres://… (the API in this process)')
    .option('--api <url>', 'or a running `ota serve` (http://host:port), with --token-file')
    .option('--token-file <file>', "the API's bearer token (or IOTSAFE_OTA_TOKEN)");
}

/**
 * The API the flags name: a running server (--api), or one built here over the store (--store; a
 * missing SQLite file is created only when `create`).
 */
export async function openFleetApi(
  flags: WhereFlags,
  globals: GlobalOptions,
  options: LocalApiOptions & {
    create?: boolean;
    /** With --store: the SMSC link of a worker in this process (opened once the store is). */
    connect?: (store: OtaStore) => Promise<SmsLink>;
  } = {},
): Promise<FleetApi & { server?: OtaServer }> {
  if ((flags.store === undefined) === (flags.api === undefined))
    throw new UsageError('say where the fleet is: --store FILE|URL, or --api URL with --token-file FILE');
  if (flags.api !== undefined) {
    const { token } = apiToken(flags.tokenFile);
    if (token === undefined)
      throw new UsageError('--api needs a bearer token: --token-file FILE or IOTSAFE_OTA_TOKEN');
    return remoteApi(flags.api, token);
  }
  const store = await openKeyStore(flags.store!, storageKey(globals), options.create ?? false);
  let link: SmsLink | undefined;
  try {
    link = options.connect ? await options.connect(store) : undefined;
    const api = await localApi(store, flags.store!, { ...options, ...(link ? { link } : {}) });
    return {
      ...api,
      close: async () => {
        await api.close();
        await link?.close();
        await store.close();
      },
    };
  } catch (error) {
    await link?.close();
    await store.close();
    throw error;
  }
}
