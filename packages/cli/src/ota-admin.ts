// `iotsafe ota admin serve | push | psk` and `iotsafe ota trigger`: the SCP81 admin server (GP Amd B,
// PSK-TLS) with its management API, a script queued for a SIM's next admin session, a SIM's PSK
// identity and PSK (sealed in the store), and the SCP80 SMS to the ISD (TAR 000000) that starts a session.
import { existsSync, readFileSync } from 'node:fs';
import { AdminServer, type BodyEncoding, OtaApiConfigError, OtaServer, serveAdminApi } from '@iotsafe/ota';
import {
  ADMIN_PROTOCOL,
  bytesToHex,
  CONTENT_TYPE_SCRIPT,
  decodeExpandedResponse,
  decodeExpandedScript,
  encodeAdminTrigger,
  formatTargetedApplication,
} from '@iotsafe/protocol';
import { type Command, Option } from 'commander';
import { addTriggerFlags, type TriggerFlags, triggerFromFlags } from './admin-trigger-flags.js';
import { parseHexKey, readKeyFile } from './key-files.js';
import {
  addServerFlags,
  apiToken,
  hexOption,
  integerOption,
  OTA_TOKEN_ENV,
  openKeyStore,
  type ServerFlags,
  serverOptions,
  tracedPaced,
} from './ota-server.js';
import { describeCommand } from './ota-trace.js';
import { emit, printError } from './output.js';
import { porJson } from './por.js';
import { type GlobalOptions, parseHostPort, storageKey, UsageError } from './session.js';
import { serveUntilInterrupted } from './wait.js';

/** A script given as hex or as a file of hex (whitespace ignored); the expanded format only. */
function scriptOption(value: string): Uint8Array {
  const text = /^[0-9A-Fa-f\s]+$/.test(value) && !existsSync(value) ? value : readFileSync(value, 'utf8');
  const script = hexOption(text, '--script');
  try {
    decodeExpandedScript(script);
  } catch (error) {
    throw new UsageError(
      `--script: not an expanded-format script (AA or AE 80 … 00 00): ${(error as Error).message}`,
    );
  }
  return script;
}

/** The dialog for --trace: each POST and answer, scripts and results decoded, key data redacted. */
function describeBody(body: Uint8Array, kind: 'script' | 'result'): string {
  if (body.length === 0) return 'no body';
  try {
    if (kind === 'script') return decodeExpandedScript(body).map(describeCommand).join(' | ');
    const r = decodeExpandedResponse(body);
    return `${r.executed} executed, ${r.responses.map((x) => bytesToHex(x.subarray(-2))).join(' ')}`;
  } catch {
    return `${body.length} bytes`;
  }
}

/** The request headers of GP Amd B §3.7 a trace shows (none of them carries key material). */
const TRACED_REQUEST_HEADERS = [
  'X-Admin-Protocol',
  'X-Admin-From',
  'Content-Type',
  'X-Admin-Script-Status',
  'X-Admin-Resume',
];

function describeHeaders(headers: ReadonlyMap<string, string>, names: readonly string[]): string {
  return names
    .filter((name) => headers.has(name.toLowerCase()))
    .map((name) => `${name}: ${headers.get(name.toLowerCase())}`)
    .join(', ');
}

export function registerOtaAdminCommands(ota: Command, globals: () => GlobalOptions): void {
  const admin = ota.command('admin').description('SCP81 (GP Amd B): the admin server and its script queues');

  admin
    .command('serve')
    .description("serve SIMs' admin sessions over PSK-TLS, and a management API (bearer token required)")
    .requiredOption('--store <file|url>', 'the store: a SQLite file or postgres://…')
    .option('--listen <[host:]port>', 'the PSK-TLS admin server (host 127.0.0.1 by default)', '0')
    .option('--api <[host:]port>', 'the management API (host 127.0.0.1 by default)', '0')
    .option('--token-file <file>', `file holding the API's bearer token (or ${OTA_TOKEN_ENV})`)
    .option('--insecure-no-auth', 'an API without a token: only on a loopback address, for local tests')
    .addOption(
      new Option('--body-encoding <how>', 'how scripts travel (some cards ignore Content-Length)')
        .choices(['content-length', 'chunked'])
        .default('content-length'),
    )
    .option(
      '--chunked-sims <iccids>',
      'comma-separated SIMs that get chunked bodies whatever --body-encoding',
    )
    .option('--allow-null-ciphers', 'offer PSK-NULL suites too (integrity, no confidentiality)')
    .option('--idle-timeout <ms>', "wait for the card's next request", '60000')
    .option('--port-file <file>', 'write the admin (PSK-TLS) port there once listening')
    .action(
      async (options: {
        store: string;
        listen: string;
        api: string;
        tokenFile?: string;
        insecureNoAuth?: boolean;
        bodyEncoding: BodyEncoding;
        chunkedSims?: string;
        allowNullCiphers?: boolean;
        idleTimeout: string;
        portFile?: string;
      }) => {
        const { token, from } = apiToken(options.tokenFile);
        if (token !== undefined && options.insecureNoAuth)
          throw new UsageError('give a token or --insecure-no-auth, not both');
        if (token === undefined && !options.insecureNoAuth)
          throw new UsageError(`ota admin serve needs a bearer token: --token-file FILE or ${OTA_TOKEN_ENV}`);
        const at = (value: string, flag: string) =>
          value === '0' ? { host: '127.0.0.1', port: 0 } : parseHostPort(value, flag);
        const listen = at(options.listen, '--listen');
        const api = at(options.api, '--api');
        const chunked = new Set((options.chunkedSims ?? '').split(',').filter(Boolean));
        const trace = globals().trace ? printError : undefined;
        const store = await openKeyStore(options.store, storageKey(globals()), false);
        let server: AdminServer | undefined;
        let served: Awaited<ReturnType<typeof serveAdminApi>> | undefined;
        try {
          server = await AdminServer.start(store, {
            ...listen,
            bodyEncoding: (iccid) => (chunked.has(iccid) ? 'chunked' : options.bodyEncoding),
            ...(options.allowNullCiphers ? { allowNullCiphers: true } : {}),
            idleTimeoutMs: integerOption(options.idleTimeout, '--idle-timeout', 100, 3_600_000)!,
            ...(trace
              ? {
                  onExchange: (x) => {
                    const status = x.request.headers.get('x-admin-script-status');
                    trace(
                      `POST ${x.request.target} ← SIM ${x.iccid} (session ${x.session})${x.request.headers.get('x-admin-resume') ? ', resumed' : ''}${status ? `, ${status}` : ''}: ${describeBody(x.request.body, 'result')}${x.recorded ? ` [${x.recorded}]` : ''}`,
                    );
                    trace(`  ${describeHeaders(x.request.headers, TRACED_REQUEST_HEADERS)}`);
                    trace(
                      x.response.script
                        ? `  → ${x.response.status}${x.response.target ? ` for ${x.response.target}` : ''}, next ${x.response.nextUri}: ${describeBody(x.response.script, 'script')}`
                        : `  → ${x.response.status}: the session ends`,
                    );
                    // GP Amd B §3.7: what the server's answer declares
                    trace(
                      `    X-Admin-Protocol: ${ADMIN_PROTOCOL}${x.response.script ? `, Content-Type: ${CONTENT_TYPE_SCRIPT}` : ''}`,
                    );
                  },
                  onError: (error) => trace(`TLS: ${error.message}`),
                }
              : {}),
          });
          served = await serveAdminApi(store, server, {
            ...api,
            ...(token === undefined ? { insecureNoAuth: true } : { tokens: [token] }),
          });
        } catch (error) {
          await server?.close();
          await store.close();
          throw error instanceof OtaApiConfigError ? new UsageError(error.message) : error;
        }
        const auth = from ? `bearer token from ${from}` : 'NO AUTHENTICATION, --insecure-no-auth';
        await serveUntilInterrupted({
          json: globals().json,
          ready: { admin: `127.0.0.1:${server.port}`, api: served.url, auth },
          text: () =>
            `SCP81 admin server on ${listen.host}:${server!.port} (PSK-TLS); API ${served!.url}: POST /scripts, GET /sims/ICCID/scripts (${auth})`,
          portFile: options.portFile,
          port: server.port,
          close: [served.stop, () => server!.close(), () => store.close()],
        });
      },
    );

  admin
    .command('push')
    .description("queue a script for a SIM's next admin session")
    .requiredOption('--store <file|url>', 'the store')
    .requiredOption('--sim <iccid|msisdn>', 'the SIM')
    .option('--target <aid>', 'the security domain it is for (X-Admin-Targeted-Application; default the ISD)')
    .requiredOption('--script <hex|file>', 'an expanded-format script (AE 80 22 len C-APDU … 00 00)')
    .action(async (options: { store: string; sim: string; target?: string; script: string }) => {
      const script = scriptOption(options.script);
      const target = options.target === undefined ? undefined : hexOption(options.target, '--target');
      if (target && (target.length < 5 || target.length > 16))
        throw new UsageError('--target takes an AID of 5 to 16 bytes');
      const store = await openKeyStore(options.store, storageKey(globals()), false);
      try {
        const sim = await store.sims.get(options.sim);
        const id = await store.admin.push(sim.iccid, {
          script,
          ...(target ? { target } : {}),
          createdBy: 'cli',
        });
        const queued = (await store.admin.scripts(sim.iccid)).filter((s) => s.state === 'queued').length;
        emit(
          globals().json,
          { id, iccid: sim.iccid, ...(target ? { target: bytesToHex(target) } : {}), queued },
          () =>
            `script ${id} queued for SIM ${sim.iccid}${target ? ` (${formatTargetedApplication(target)})` : ''}: ${queued} waiting for its next session`,
        );
      } finally {
        await store.close();
      }
    });

  admin
    .command('psk')
    .description("record a SIM's SCP81 PSK identity and PSK (sealed by the storage key)")
    .requiredOption('--store <file|url>', 'the store')
    .requiredOption('--sim <iccid|msisdn>', 'the SIM')
    .requiredOption('--identity <text>', 'the PSK identity the card sends')
    .requiredOption('--psk-file <file>', 'the PSK, hex (`iotsafe keys new --psk FILE`)')
    .action(async (options: { store: string; sim: string; identity: string; pskFile: string }) => {
      const file = readKeyFile(options.pskFile);
      if (file.single === undefined) throw new UsageError(`${options.pskFile}: one hex key expected`);
      const psk = parseHexKey(file.single, 'the PSK', [16, 24, 32]);
      if (!/^[\x21-\x7e]{1,128}$/.test(options.identity))
        throw new UsageError('--identity takes 1 to 128 printable characters');
      const store = await openKeyStore(options.store, storageKey(globals()), false);
      try {
        const sim = await store.sims.get(options.sim);
        await store.sims.add({ ...sim, pskIdentity: options.identity });
        await store.sims.putPsk(sim.iccid, psk);
        emit(
          globals().json,
          { iccid: sim.iccid, identity: options.identity },
          () => `SIM ${sim.iccid}: PSK identity ${options.identity}, PSK stored sealed`,
        );
      } finally {
        await store.close();
      }
    });

  const trigger = addTriggerFlags(
    ota
      .command('trigger')
      .description(
        "start a SIM's admin session: an SCP80 SMS to its ISD with the triggering parameters (the stored ones unless flags give them)",
      )
      .requiredOption('--sim <iccid|msisdn>', 'the SIM')
      .option('--kvn <n>', 'SCP80 key version', '1'),
  );
  addServerFlags(trigger).action(
    async (options: ServerFlags & TriggerFlags & { sim: string; kvn: string }) => {
      const settings = serverOptions(options);
      const { trigger: parameters, parameters: described, spi } = triggerFromFlags(options);
      // GP Amd B Table 3-3: 81 00 when no flag gives a parameter (the session parameters stored on the card)
      const script = encodeAdminTrigger(parameters);
      const spiBytes = hexOption(spi, '--spi', 2);
      const kvn = integerOption(options.kvn, '--kvn', 1, 15)!;
      const store = await openKeyStore(options.store, storageKey(globals()), false);
      try {
        const link = await tracedPaced(options, store, globals().trace);
        const server = new OtaServer(store, link, { ...settings, worker: { idleMs: 20 } });
        try {
          const result = await server.send({
            sim: options.sim,
            tar: '000000',
            script,
            spi: bytesToHex(spiBytes),
            kvn,
          });
          const por = result.por;
          const secured = (spiBytes[0]! & 0x07) !== 0; // TS 102 225 §5.1.1: SPI1 b1-b2 (RC/CC/DS), b3 (ciphering)
          emit(
            globals().json,
            {
              job: result.jobId,
              counter: result.counter,
              trigger: bytesToHex(script),
              spi: bytesToHex(spiBytes),
              secured,
              parameters: described,
              ...(por ? { por: porJson(por) } : {}),
            },
            () =>
              `trigger ${bytesToHex(script)} sent to the ISD (TAR 000000, SPI ${bytesToHex(spiBytes)}${secured ? '' : ', plain'}), CNTR ${result.counter}${por ? `, PoR ${por.statusText}` : ''}`,
          );
          if (por && por.status !== 0) process.exitCode = 3;
        } finally {
          await server.close();
          await link.close();
        }
      } finally {
        await store.close();
      }
    },
  );
}
