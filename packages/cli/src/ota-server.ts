// `iotsafe ota send | serve | worker | network`: the OTA server's store (SQLite file or PostgreSQL
// URL), its SMPP binds (DCS, TON/NPI, keep-alive, pacing), its HTTP API (bearer token, limits,
// timeouts), workers that share its jobs, and the local SMSC for tests.
import { readFileSync } from 'node:fs';
import {
  type DataCodingPolicy,
  DEFAULT_MAX_SMS_PER_SCRIPT,
  isLoopback,
  isPostgresUrl,
  OtaApiConfigError,
  OtaServer,
  OtaStore,
  PacedSmsLink,
  SmppLink,
  type SmppLinkOptions,
  StorageError,
  serveOtaApi,
  TestNetwork,
} from '@iotsafe/ota';
import { bytesToHex, hexToBytes, isOtaDataCoding, type OtaKeys } from '@iotsafe/protocol';
import { StorageKeyError, VirtualSim } from '@iotsafe/sim';
import { type Command, Option } from 'commander';
import { warnIfExposed } from './key-files.js';
import { observedLink, tracedCard } from './ota-trace.js';
import { emit, printError, table } from './output.js';
import { porJson, porRows } from './por.js';
import { type GlobalOptions, parseHostPort, storageKey, UsageError } from './session.js';
import { serveUntilInterrupted } from './wait.js';

export { moderateLongRunningHeap } from './long-running.js';

import { moderateLongRunningHeap } from './long-running.js';

export const OTA_TOKEN_ENV = 'IOTSAFE_OTA_TOKEN';

export function hexOption(value: string | undefined, what: string, bytes?: number): Uint8Array {
  if (value === undefined) throw new UsageError(`${what} is required`);
  const clean = value.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean) || (bytes !== undefined && clean.length !== bytes * 2))
    throw new UsageError(`${what} takes ${bytes === undefined ? '' : `${bytes} bytes of `}hex`);
  return hexToBytes(clean);
}

export function integerOption(
  value: string | undefined,
  what: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UsageError(`${what} takes ${min} to ${max}`);
  return n;
}

/**
 * The OTA store (a SQLite file, or a postgres:// URL): a missing file is a usage error unless `create`
 * (a mistyped --store path must not start an empty store), another storage key a StorageKeyError; a
 * file others can read gets a warning.
 */
export async function openKeyStore(location: string, key: Uint8Array, create: boolean): Promise<OtaStore> {
  let store: OtaStore;
  try {
    store = await OtaStore.open(location, key, { create });
  } catch (error) {
    if (error instanceof StorageError && error.code === 'missing_store')
      throw new UsageError(`${error.message}: check --store, or create it (ota add-sim --create)`);
    if (error instanceof StorageError && error.code === 'wrong_storage_key')
      throw new StorageKeyError(error.message);
    if (error instanceof StorageError) throw new UsageError(error.message);
    throw error;
  }
  if (!isPostgresUrl(location)) warnIfExposed(location, 'holds sealed OTA keys');
  return store;
}

/** What `ota send` and `ota serve` share: the key store, the SMSC, and the wait for each PoR. */
export interface ServerFlags {
  store: string;
  smsc: string;
  systemId: string;
  password?: string;
  timeout: string;
  dcs: string;
  countryCode?: string;
  destTon?: string;
  destNpi?: string;
  sourceAddr: string;
  sourceTon?: string;
  sourceNpi?: string;
  enquireLink: string;
  maxSms: string;
  tps?: string;
  window: string;
  binds: string;
}

/** The SMSC flags; with `optional`, --smsc may be left out and --store is the caller's to add. */
export function addServerFlags(c: Command, optional = false): Command {
  const where = optional
    ? c.option('--smsc <host:port>', 'the SMSC (SMPP)')
    : c
        .requiredOption('--store <file|url>', 'the store: a SQLite file, or postgres://… for several workers')
        .requiredOption('--smsc <host:port>', 'the SMSC (SMPP)');
  return where
    .option('--system-id <id>', 'SMPP system_id', 'iotsafe')
    .option('--password <text>', 'SMPP password (or IOTSAFE_SMPP_PASSWORD)')
    .option('--timeout <ms>', 'wait for a PoR, per attempt', '10000')
    .option(
      '--dcs <hex>',
      'data_coding: an 8-bit class 2 DCS (F6, or 16 for SMSCs that pass the TP-DCS on)',
      'F6',
    )
    .option(
      '--country-code <digits>',
      'home country code: numbers starting with it go as international (TON 1)',
    )
    .option('--dest-ton <n>', 'fixed TON of destination numbers (default: from the number)')
    .option('--dest-npi <n>', 'fixed NPI of destination numbers (default: from the number)')
    .option('--source-addr <addr>', 'our own address, the TP-OA the SIM sees', '1234')
    .option('--source-ton <n>', 'fixed TON of --source-addr (default: from it)')
    .option('--source-npi <n>', 'fixed NPI of --source-addr (default: from it)')
    .option('--enquire-link <ms>', 'enquire_link period while bound (0: none)', '30000')
    .option('--max-sms <n>', 'most SMS one script may take', String(DEFAULT_MAX_SMS_PER_SCRIPT))
    .option('--tps <n>', 'submit_sm per second the SMSC account allows (default: no limit)')
    .option('--window <n>', 'unacknowledged submit_sm per bind', '10')
    .option('--binds <n>', 'SMPP binds to open to the SMSC', '1');
}

/** The SMPP link to the SMSC the flags name; the password may come from the environment instead. */
function connectSmsc(options: ServerFlags): Promise<SmppLink> {
  const dcs = hexOption(options.dcs, '--dcs', 1)[0]!;
  if (!isOtaDataCoding(dcs))
    throw new UsageError(`--dcs ${options.dcs}: a handset gives the SIM only 8-bit class 2 data (F6, 16)`);
  if (options.countryCode !== undefined && !/^\d{1,3}$/.test(options.countryCode))
    throw new UsageError('--country-code takes 1 to 3 digits');
  const fixed = (ton?: string, npi?: string, what = 'dest') => {
    const t = integerOption(ton, `--${what}-ton`, 0, 6);
    const n = integerOption(npi, `--${what}-npi`, 0, 18);
    return { ...(t === undefined ? {} : { ton: t }), ...(n === undefined ? {} : { npi: n }) };
  };
  const link: SmppLinkOptions = {
    ...parseHostPort(options.smsc, '--smsc'),
    systemId: options.systemId,
    password: options.password ?? process.env.IOTSAFE_SMPP_PASSWORD ?? '',
    dataCoding: dcs,
    addressing: {
      ...(options.countryCode === undefined ? {} : { countryCode: options.countryCode }),
      ...fixed(options.destTon, options.destNpi),
    },
    sourceAddress: options.sourceAddr,
    sourceAddressing: fixed(options.sourceTon, options.sourceNpi, 'source'),
    enquireLinkMs: integerOption(options.enquireLink, '--enquire-link', 0, 3_600_000)!,
  };
  return SmppLink.connect(link);
}

/** The binds the flags ask for, paced to the account's TPS and window. */
async function connectPaced(options: ServerFlags): Promise<PacedSmsLink> {
  const binds = integerOption(options.binds, '--binds', 1, 64)!;
  const window = integerOption(options.window, '--window', 1, 10_000)!;
  const tps = options.tps === undefined ? undefined : Number(options.tps);
  if (tps !== undefined && !(tps > 0 && tps <= 100_000)) throw new UsageError('--tps takes a number over 0');
  const links: SmppLink[] = [];
  try {
    for (let i = 0; i < binds; i++) links.push(await connectSmsc(options));
  } catch (error) {
    await Promise.all(links.map((l) => l.close()));
    throw error;
  }
  return new PacedSmsLink(links, { window, ...(tps === undefined ? {} : { tps }) });
}

export const serverOptions = (options: ServerFlags) => ({
  timeoutMs: integerOption(options.timeout, '--timeout', 1, 3_600_000)!,
  maxSmsPerScript: integerOption(options.maxSms, '--max-sms', 1, 255)!,
});

/** The trace's view of the store: the keys of the SIM at an MSISDN for a KIc byte's key version. */
const keysFromStore =
  (store: OtaStore) =>
  async (msisdn: string, kic: number): Promise<OtaKeys> => {
    const set = await store.sims.keySet((await store.sims.get(msisdn)).iccid, kic >> 4);
    return { kic: set.kic, kid: set.kid };
  };

/** The paced binds with the trace of every SMS (and, for one send, a progress line per attempt). */
export async function tracedPaced(
  options: ServerFlags,
  store: OtaStore,
  trace: boolean | undefined,
  progress?: { timeoutMs: number; attempts: number },
) {
  const paced = await connectPaced(options);
  const observed = observedLink(paced, {
    ...(trace ? { trace: printError } : {}),
    keys: keysFromStore(store),
    ...progress,
  });
  return Object.assign(observed, { ready: () => paced.ready() });
}

/** The bearer token of `ota serve`: from --token-file or the environment, never a default. */
export function apiToken(file: string | undefined): { token?: string; from?: string } {
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read the token file ${file}: ${(error as NodeJS.ErrnoException).code}`);
    }
    warnIfExposed(file, 'holds the OTA API token');
    return { token: text.trim(), from: file };
  }
  const token = process.env[OTA_TOKEN_ENV];
  return token ? { token: token.trim(), from: OTA_TOKEN_ENV } : {};
}

export function registerOtaServerCommands(ota: Command, globals: () => GlobalOptions): void {
  const send = ota
    .command('send')
    .description('send a script to a SIM over SMPP and print its PoR')
    .option('--to <iccid|msisdn>', 'the SIM')
    .option('--iccid <digits>', 'the SIM by ICCID (same as --to)')
    .requiredOption('--tar <hex>', 'TAR: 000000 RAM to the ISD, B00000 RFM')
    .requiredOption('--script <hex>', 'compact C-APDUs or an AA/AE script')
    .option('--spi <hex>', 'SPI', '1619')
    .option('--kvn <n>', 'key version', '1');
  addServerFlags(send).action(
    async (
      options: ServerFlags & {
        to?: string;
        iccid?: string;
        tar: string;
        script: string;
        spi: string;
        kvn: string;
      },
    ) => {
      const sim = options.to ?? options.iccid;
      if (!sim) throw new UsageError('which SIM? pass --iccid DIGITS or --to ICCID|MSISDN');
      const request = {
        sim,
        tar: bytesToHex(hexOption(options.tar, '--tar', 3)),
        script: hexOption(options.script, '--script'),
        spi: bytesToHex(hexOption(options.spi, '--spi', 2)),
        kvn: integerOption(options.kvn, '--kvn', 1, 15)!,
      };
      const settings = serverOptions(options);
      const store = await openKeyStore(options.store, storageKey(globals()), false);
      try {
        const link = await tracedPaced(options, store, globals().trace, {
          timeoutMs: settings.timeoutMs,
          attempts: 2,
        });
        const server = new OtaServer(store, link, { ...settings, worker: { idleMs: 20 } });
        try {
          const result = await server.send(request);
          link.stopProgress();
          const por = result.por;
          emit(
            globals().json,
            {
              job: result.jobId,
              counter: result.counter,
              attempts: result.attempts,
              ...(por ? { por: porJson(por) } : {}),
            },
            () =>
              table([
                ['CNTR', String(result.counter)],
                ['attempts', String(result.attempts)],
                ...(por ? porRows(por).filter(([k]) => k !== 'CNTR') : [['PoR', '(none asked for)']]),
              ]),
          );
          if (por && por.status !== 0) process.exitCode = 3;
        } finally {
          link.stopProgress();
          await server.close();
          await link.close();
        }
      } finally {
        await store.close();
      }
    },
  );

  const serve = ota
    .command('serve')
    .description(
      'keep the OTA server and its SMPP link up; take scripts on POST /send (bearer token required)',
    )
    .option('--listen <[host:]port>', 'the HTTP API (host 127.0.0.1 by default)', '0')
    .option('--token-file <file>', `file holding the API's bearer token (or ${OTA_TOKEN_ENV})`)
    .option('--insecure-no-auth', 'serve without a token: only on a loopback address, for local tests')
    .option('--create', 'create the key store if it does not exist (0600)')
    .option('--max-body <bytes>', 'largest request body', '16384')
    .option('--rate-limit <n>', 'requests per minute in all', '60')
    .option('--rate-limit-per-sim <n>', 'requests per minute for one SIM', '6')
    .option('--headers-timeout <ms>', "time for a request's headers", '10000')
    .option('--request-timeout <ms>', 'time for a whole request, body included', '30000')
    .option('--no-worker', 'take requests only: workers elsewhere (ota worker) run the jobs')
    .option('--port-file <file>', 'write the HTTP port there once listening');
  addServerFlags(serve).action(
    async (
      options: ServerFlags & {
        listen: string;
        tokenFile?: string;
        insecureNoAuth?: boolean;
        create?: boolean;
        maxBody: string;
        rateLimit: string;
        rateLimitPerSim: string;
        headersTimeout: string;
        requestTimeout: string;
        worker: boolean;
        portFile?: string;
      },
    ) => {
      moderateLongRunningHeap();
      const address: { host?: string; port?: number } =
        options.listen === '0' ? {} : parseHostPort(options.listen, '--listen');
      const host = (address.host ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
      const { token, from } = apiToken(options.tokenFile);
      if (token !== undefined && options.insecureNoAuth)
        throw new UsageError('give a token or --insecure-no-auth, not both');
      if (token === undefined && !options.insecureNoAuth)
        throw new UsageError(`ota serve needs a bearer token: --token-file FILE or ${OTA_TOKEN_ENV}`);
      if (options.insecureNoAuth && !isLoopback(host))
        throw new UsageError(`--insecure-no-auth serves on a loopback address only, not ${host}`);
      const limits = {
        maxBodyBytes: integerOption(options.maxBody, '--max-body', 256, 1 << 20)!,
        rateLimit: {
          global: integerOption(options.rateLimit, '--rate-limit', 1, 1e6)!,
          perSim: integerOption(options.rateLimitPerSim, '--rate-limit-per-sim', 1, 1e6)!,
        },
        headersTimeoutMs: integerOption(options.headersTimeout, '--headers-timeout', 100, 600_000)!,
        requestTimeoutMs: integerOption(options.requestTimeout, '--request-timeout', 100, 600_000)!,
      };
      const settings = serverOptions(options);
      const store = await openKeyStore(options.store, storageKey(globals()), options.create ?? false);
      let link: Awaited<ReturnType<typeof tracedPaced>> | undefined;
      let server: OtaServer | undefined;
      let api: Awaited<ReturnType<typeof serveOtaApi>>;
      try {
        link = await tracedPaced(options, store, globals().trace);
        server = new OtaServer(store, link, { ...settings, ...(options.worker ? {} : { worker: false }) });
        api = await serveOtaApi(server, {
          host,
          ...(address.port === undefined ? {} : { port: address.port }),
          ...(token === undefined ? { insecureNoAuth: true } : { tokens: [token] }),
          ...limits,
        });
      } catch (error) {
        await server?.close();
        await link?.close();
        await store.close();
        throw error instanceof OtaApiConfigError ? new UsageError(error.message) : error;
      }
      const auth = from ? `bearer token from ${from}` : 'NO AUTHENTICATION, --insecure-no-auth';
      await serveUntilInterrupted({
        json: globals().json,
        ready: { url: `${api.url}/send`, jobs: `${api.url}/jobs`, auth },
        text: () =>
          `OTA server: POST ${api.url}/send {"to", "tar", "script"} → 202 {"job"}, GET ${api.url}/jobs/ID (${auth})`,
        portFile: options.portFile,
        port: Number(new URL(api.url).port),
        close: [api.stop, () => server!.close(), () => link!.close(), () => store.close()],
      });
    },
  );

  const worker = ota
    .command('worker')
    .description('run jobs from the store (PostgreSQL: any number of workers share them) until interrupted')
    .option('--concurrency <n>', 'items at once', '256')
    .option('--lease <ms>', "how long a claimed item stays this worker's without renewal", '30000');
  addServerFlags(worker).action(async (options: ServerFlags & { concurrency: string; lease: string }) => {
    moderateLongRunningHeap();
    const settings = serverOptions(options);
    const workerOptions = {
      concurrency: integerOption(options.concurrency, '--concurrency', 1, 100_000)!,
      leaseMs: integerOption(options.lease, '--lease', 100, 3_600_000)!,
    };
    const store = await openKeyStore(options.store, storageKey(globals()), false);
    const link = await tracedPaced(options, store, globals().trace).catch(async (error) => {
      await store.close();
      throw error;
    });
    const server = new OtaServer(store, link, { ...settings, worker: workerOptions });
    server.worker?.on('error', (error) => printError(`worker: ${error.message}`));
    await serveUntilInterrupted({
      json: globals().json,
      ready: { worker: server.worker?.id ?? '', store: isPostgresUrl(options.store) ? 'postgres' : 'sqlite' },
      text: () =>
        `OTA worker ${server.worker?.id} on ${isPostgresUrl(options.store) ? 'PostgreSQL' : options.store}`,
      close: [() => server.close(), () => link.close(), () => store.close()],
    });
  });

  ota
    .command('network <sim-dir>')
    .description('run a local SMSC (SMPP on 127.0.0.1) with a handset holding this SIM, until interrupted')
    .requiredOption('--msisdn <digits>', "the handset's number")
    .option('--port <n>', 'SMPP port (default: a free one)', '0')
    .option('--system-id <id>', 'SMPP system_id to accept', 'iotsafe')
    .option('--password <text>', 'SMPP password to accept (or IOTSAFE_SMPP_PASSWORD)')
    .addOption(
      new Option('--data-coding <policy>', 'read data_coding by the SMPP 3.4 table, or as the TP-DCS itself')
        .choices(['smpp34', 'gsm'])
        .default('smpp34'),
    )
    .option('--tps <n>', 'accept this many submit_sm a second; answer ESME_RTHROTTLED (0x58) beyond')
    .option('--port-file <file>', 'write the SMPP port there once listening')
    .action(
      async (
        simDir: string,
        options: {
          msisdn: string;
          port: string;
          systemId: string;
          password?: string;
          dataCoding: DataCodingPolicy;
          tps?: string;
          portFile?: string;
        },
      ) => {
        const sim = VirtualSim.open(simDir, { storageKey: storageKey(globals()) });
        const network = await TestNetwork.start({
          systemId: options.systemId,
          password: options.password ?? process.env.IOTSAFE_SMPP_PASSWORD ?? '',
          port: integerOption(options.port, '--port', 0, 65535)!,
          dataCoding: options.dataCoding,
          ...(options.tps === undefined
            ? {}
            : { maxSubmitsPerSecond: integerOption(options.tps, '--tps', 1, 1_000_000)! }),
        });
        network.attach(options.msisdn, globals().trace ? tracedCard(sim.card, printError) : sim.card);
        await serveUntilInterrupted({
          json: globals().json,
          ready: { smsc: `127.0.0.1:${network.port}`, msisdn: options.msisdn, sim: simDir },
          text: () => `SMSC on 127.0.0.1:${network.port}; handset ${options.msisdn} holds ${simDir}`,
          portFile: options.portFile,
          port: network.port,
          close: [() => network.stop()],
        });
      },
    );
}
