// `iotsafe fleet import | list | show | simulate`: the SIM inventory through the fleet API (over a
// store in this process, or a running `ota serve`: fleet-client.ts) — a vendor's batch file imported
// with a report of rejected rows, SIMs listed by tags, batch or certificate expiry, one SIM with its
// key sets (never a key), last audit and ledger — and a virtual fleet behind a local SMSC to run
// campaigns against on one machine.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SimRecord, TransportCipher } from '@iotsafe/ota';
import { type Command, Option } from 'commander';
import { addWhereFlags, type FleetApi, openFleetApi, type WhereFlags } from './fleet-client.js';
import { parseHexKey, readKeyFile, writeSecretFile } from './key-files.js';
import { integerOption } from './ota-server.js';
import { emit, table } from './output.js';
import { type GlobalOptions, UsageError } from './session.js';
import { MAX_VIRTUAL_SIMS, VirtualFleet } from './virtual-fleet.js';
import { serveUntilInterrupted } from './wait.js';

/** A transport key file: one hex AES key (16, 24 or 32 bytes). */
export function readTransportKey(file: string): Uint8Array {
  const read = readKeyFile(file);
  if (read.single === undefined) throw new UsageError(`${file}: a transport key file holds one hex AES key`);
  return parseHexKey(read.single, 'the transport key', [16, 24, 32]);
}

/** An ISO 8601 date or time, as the API takes it. */
export function isoOption(value: string | undefined, what: string): string | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`${what} takes an ISO 8601 date or time (2027-01-31)`);
  return new Date(ms).toISOString();
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Runs `body` with the API the flags name, closed after. */
export async function withFleetApi<T>(
  flags: WhereFlags,
  globals: GlobalOptions,
  body: (api: FleetApi) => Promise<T>,
  options: Parameters<typeof openFleetApi>[2] = {},
): Promise<T> {
  const api = await openFleetApi(flags, globals, options);
  try {
    return await body(api);
  } finally {
    await api.close();
  }
}

interface ImportReport {
  rows: number;
  imported: number;
  created: number;
  updated: number;
  rejected: { line: number; iccid?: string; reason: string }[];
  refused: boolean;
}

/** A SIM as GET /sims/:sim shows it: the record, key sets without keys, the last audit. */
interface SimView extends SimRecord {
  keySets: { kvn: number; kic: string; kid: string; counter: string; kik: boolean }[];
  psk: boolean;
  audit?: { at: string; objects: unknown[]; certificate?: { serial: string; notAfter: string } };
}

interface LedgerView {
  attempts: {
    id: number;
    job: string;
    step: number;
    attempt: number;
    state: string;
    counter?: string;
    porStatus?: number;
    error?: string;
    createdAt?: string;
  }[];
}

export function registerFleet(program: Command, globals: () => GlobalOptions): void {
  const fleet = program
    .command('fleet')
    .description('the SIM inventory: import a vendor batch file, list and show SIMs, simulate a fleet');

  addWhereFlags(
    fleet
      .command('import <file>')
      .description("import a SIM vendor's batch file (CSV): per row, idempotent, rejected rows reported")
      .option('--transport-key <file>', "the key the vendor encrypted the file's keys under (with --store)")
      .option('--encrypted', "with --api: the keys are encrypted under the server's transport key")
      .addOption(
        new Option('--cipher <mode>', 'how keys are encrypted under the transport key')
          .choices(['aes-cbc-iv0', 'aes-ecb'])
          .default('aes-cbc-iv0'),
      )
      .option('--batch <name>', 'the batch of rows that name none')
      .option('--atomic', 'all or nothing: any rejected row and nothing is imported (exit 1)')
      .option('--create', 'with --store: create the store if it does not exist (0600)'),
  ).action(
    async (
      file: string,
      options: WhereFlags & {
        transportKey?: string;
        encrypted?: boolean;
        cipher: TransportCipher;
        batch?: string;
        atomic?: boolean;
        create?: boolean;
      },
    ) => {
      if (options.api !== undefined && options.transportKey !== undefined)
        throw new UsageError(
          '--transport-key is for --store: a server uses its own (it never travels); pass --encrypted',
        );
      if (options.store !== undefined && options.encrypted)
        throw new UsageError('with --store, give the key itself: --transport-key FILE');
      let csv: Uint8Array;
      try {
        csv = readFileSync(file);
      } catch (error) {
        throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code}`);
      }
      const transportKey = options.transportKey ? readTransportKey(options.transportKey) : undefined;
      const query = new URLSearchParams({
        atomic: String(options.atomic === true),
        encrypted: String(transportKey !== undefined || options.encrypted === true),
        ...(options.batch === undefined ? {} : { batch: options.batch }),
      });
      const report = (await withFleetApi(
        options,
        globals(),
        (api) => api.call('POST', `/sims/import?${query}`, { csv }),
        {
          ...(transportKey ? { transportKey, cipher: options.cipher } : {}),
          ...(options.create ? { create: true } : {}),
        },
      )) as ImportReport;
      emit(globals().json, report, () =>
        [
          `${file}: ${report.rows} rows, ${report.imported} imported (${report.created} new, ${report.updated} updated), ${report.rejected.length} rejected${report.refused ? ': nothing imported (--atomic)' : ''}`,
          ...report.rejected.map((r) => `  line ${r.line}${r.iccid ? ` (${r.iccid})` : ''}: ${r.reason}`),
        ].join('\n'),
      );
      if (report.refused) process.exitCode = 1;
    },
  );

  addWhereFlags(
    fleet
      .command('list')
      .description('SIMs by tags, batch and certificate expiry, in ICCID order')
      .option('--tag <tag>', 'SIMs with this tag (repeat: all of them)', collect)
      .option('--batch <name>', 'SIMs of this batch')
      .option('--expiring-before <date>', 'SIMs whose certificate (last audited) expires before this')
      .option('--after <iccid>', 'the page after this ICCID (the previous page\'s "next")')
      .option('--limit <n>', 'SIMs on this page (at most 1000)', '100'),
  ).action(
    async (
      options: WhereFlags & {
        tag?: string[];
        batch?: string;
        expiringBefore?: string;
        after?: string;
        limit: string;
      },
    ) => {
      const query = new URLSearchParams();
      for (const tag of options.tag ?? []) query.append('tag', tag);
      if (options.batch !== undefined) query.set('batch', options.batch);
      const expiring = isoOption(options.expiringBefore, '--expiring-before');
      if (expiring !== undefined) query.set('expiringBefore', expiring);
      if (options.after !== undefined) query.set('after', options.after);
      query.set('limit', String(integerOption(options.limit, '--limit', 1, 1000)));
      const page = (await withFleetApi(options, globals(), (api) => api.call('GET', `/sims?${query}`))) as {
        sims: SimView[];
        total: number;
        next?: string;
      };
      emit(globals().json, page, () =>
        page.sims.length === 0
          ? 'no SIM matches'
          : [
              table([
                ['ICCID', 'MSISDN', 'BATCH', 'TYPE', 'TAGS'],
                ...page.sims.map((s) => [
                  s.iccid,
                  s.msisdn ?? '',
                  s.batch ?? '',
                  s.type ?? '',
                  (s.tags ?? []).join(','),
                ]),
              ]),
              `${page.sims.length} of ${page.total}${page.next ? `; next page: --after ${page.next}` : ''}`,
            ].join('\n'),
      );
    },
  );

  addWhereFlags(
    fleet
      .command('show <sim>')
      .description('one SIM (ICCID or MSISDN): inventory, key sets (never a key), last audit, its ledger')
      .option('--ledger <n>', 'latest attempts of its ledger to show', '20'),
  ).action(async (sim: string, options: WhereFlags & { ledger: string }) => {
    if (!/^\+?\d{1,20}$/.test(sim)) throw new UsageError('a SIM is named by its ICCID or MSISDN (digits)');
    const limit = integerOption(options.ledger, '--ledger', 1, 1000)!;
    const { view, ledger } = await withFleetApi(options, globals(), async (api) => {
      const view = (await api.call('GET', `/sims/${encodeURIComponent(sim)}`)) as SimView;
      const ledger = (await api.call('GET', `/sims/${view.iccid}/ledger?limit=${limit}`)) as LedgerView;
      return { view, ledger };
    });
    emit(globals().json, { ...view, ledger: ledger.attempts }, () => {
      const rows: string[][] = [
        ['ICCID', view.iccid],
        ...(['msisdn', 'imsi', 'eid', 'type', 'batch'] as const).flatMap((k) =>
          view[k] === undefined ? [] : [[k.toUpperCase(), view[k]!]],
        ),
        ['tags', (view.tags ?? []).join(', ') || '(none)'],
        ...view.keySets.map((k) => [
          `key set ${k.kvn}`,
          `KIc ${k.kic} KID ${k.kid}, counter ${k.counter}${k.kik ? ', KIK held' : ''} (keys sealed)`,
        ]),
        ['SCP81 PSK', view.psk ? `held (identity ${view.pskIdentity ?? 'none'})` : 'none'],
        [
          'last audit',
          view.audit
            ? `${view.audit.at}: ${view.audit.objects.length} objects${view.audit.certificate ? `, certificate ${view.audit.certificate.serial} until ${view.audit.certificate.notAfter}` : ''}`
            : 'never audited',
        ],
      ];
      const attempts = ledger.attempts.map((a) => [
        a.createdAt ?? '',
        a.job.slice(0, 8),
        `${a.step}.${a.attempt}`,
        a.state,
        a.counter ?? '',
        a.porStatus === undefined ? (a.error ?? '') : `PoR ${a.porStatus}`,
      ]);
      return [
        table(rows),
        '',
        attempts.length
          ? table([['WHEN', 'JOB', 'STEP', 'STATE', 'CNTR', 'RESULT'], ...attempts])
          : 'ledger: no attempt yet',
      ].join('\n');
    });
  });

  fleet
    .command('simulate')
    .description('run N virtual SIMs behind a local SMSC (faults on demand) until interrupted')
    .requiredOption('--sims <n>', `how many SIMs (1 to ${MAX_VIRTUAL_SIMS})`)
    .option('--off <percent>', 'handsets that are off', '0')
    .option('--slow <percent>', 'handsets that are slow', '0')
    .option('--slow-ms <ms>', 'how late a slow handset is', '500')
    .option('--lose-por <percent>', 'handsets that lose their first PoR', '0')
    .option('--tps <n>', 'the SMSC accepts this many submit_sm a second; ESME_RTHROTTLED beyond')
    .option('--port <n>', 'SMPP port (default: a free one)', '0')
    .option('--system-id <id>', 'SMPP system_id to accept', 'iotsafe')
    .option(
      '--password <text>',
      'SMPP password to accept (or IOTSAFE_SMPP_PASSWORD; default: a new one, printed)',
    )
    .option('--csv <file>', "write the fleet's vendor batch file there (0600) for `fleet import`")
    .option('--transport-key <file>', "encrypt the file's keys under this transport key")
    .option('--batch <name>', 'the batch name in the file', 'sim')
    .option('--port-file <file>', 'write the SMPP port there once listening')
    .action(
      async (options: {
        sims: string;
        off: string;
        slow: string;
        slowMs: string;
        losePor: string;
        tps?: string;
        port: string;
        systemId: string;
        password?: string;
        csv?: string;
        transportKey?: string;
        batch: string;
        portFile?: string;
      }) => {
        const percent = (v: string, what: string) => integerOption(v, what, 0, 100)!;
        const faults = {
          off: percent(options.off, '--off'),
          slow: percent(options.slow, '--slow'),
          losePor: percent(options.losePor, '--lose-por'),
          slowMs: integerOption(options.slowMs, '--slow-ms', 0, 600_000)!,
        };
        if (faults.off + faults.slow + faults.losePor > 100)
          throw new UsageError('--off, --slow and --lose-por add up to 100 % at most');
        if (!/^[\w.:-]{1,64}$/.test(options.batch))
          throw new UsageError('--batch is 1 to 64 of [A-Za-z0-9_.:-]');
        const transportKey = options.transportKey ? readTransportKey(options.transportKey) : undefined;
        if (transportKey && !options.csv)
          throw new UsageError('--transport-key encrypts the --csv file: give --csv');
        // SMPP 3.4 §5.2.1: a password is at most 8 characters
        const password =
          options.password ?? process.env.IOTSAFE_SMPP_PASSWORD ?? randomBytes(4).toString('hex');
        if (password.length > 8)
          throw new UsageError('an SMPP password is at most 8 characters (SMPP 3.4 §5.2.1)');
        const fleet = await VirtualFleet.start({
          sims: integerOption(options.sims, '--sims', 1, MAX_VIRTUAL_SIMS)!,
          faults,
          batch: options.batch,
          network: {
            systemId: options.systemId,
            password,
            port: integerOption(options.port, '--port', 0, 65535)!,
            ...(options.tps === undefined
              ? {}
              : { maxSubmitsPerSecond: integerOption(options.tps, '--tps', 1, 1_000_000)! }),
          },
        });
        if (options.csv) writeSecretFile(options.csv, fleet.vendorCsv(transportKey), true);
        const smsc = `127.0.0.1:${fleet.network.port}`;
        const counts = fleet.faults;
        await serveUntilInterrupted({
          json: globals().json,
          ready: {
            smsc,
            systemId: options.systemId,
            password,
            sims: fleet.sims.length,
            faults: counts,
            ...(options.tps === undefined ? {} : { tps: Number(options.tps) }),
            ...(options.csv ? { csv: options.csv } : {}),
          },
          text: () =>
            `SMSC on ${smsc} (system_id ${options.systemId}, password ${password}); ${fleet.sims.length} virtual SIMs: ${counts.healthy} healthy, ${counts.off} off, ${counts.slow} slow, ${counts.losePor} losing their first PoR${options.tps ? `; ${options.tps} submit_sm/s at most` : ''}${options.csv ? `; batch file ${options.csv}` : ''}`,
          portFile: options.portFile,
          port: fleet.network.port,
          close: [() => fleet.stop()],
        });
      },
    );
}
