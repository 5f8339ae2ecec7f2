// `iotsafe campaign create | dry-run | start | pause | resume | cancel | status`: an OTA script run
// over SIMs chosen by ICCID/MSISDN, tags, batch or certificate expiry, through the fleet API (over a
// store in this process, or a running `ota serve`). `start` with --store and --smsc runs the
// campaign's job in this process until it ends, with a progress bar; without --smsc it only starts
// it, for the workers of `ota serve` / `ota worker`. `status --follow` and `start --wait` follow it.
import type { Command } from 'commander';
import {
  type CampaignView,
  describeCampaign,
  FINAL_JOB_STATES,
  followCampaign,
} from './campaign-progress.js';
import { addWhereFlags, type FleetApi, type WhereFlags } from './fleet-client.js';
import { isoOption, withFleetApi } from './fleet-commands.js';
import { moderateLongRunningHeap } from './long-running.js';
import {
  addServerFlags,
  hexOption,
  integerOption,
  type ServerFlags,
  serverOptions,
  tracedPaced,
} from './ota-server.js';
import { emit, printError, table } from './output.js';
import { type GlobalOptions, UsageError } from './session.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

interface CreateFlags extends WhereFlags {
  name: string;
  sim?: string[];
  tag?: string[];
  batch?: string;
  expiringBefore?: string;
  tar: string;
  script: string[];
  spi: string;
  kvn: string;
  retryNoPor?: string;
  retryCardError?: string;
  retrySmscError?: string;
  backoff?: string;
  porTimeout?: string;
  waves?: string;
  abort?: string;
}

/** --waves INITIAL[xFACTOR] */
function wavesOption(text: string | undefined) {
  if (text === undefined) return undefined;
  const m = /^(\d+)(?:x(\d+(?:\.\d+)?))?$/.exec(text);
  if (!m) throw new UsageError('--waves takes INITIAL or INITIALxFACTOR (e.g. 10x2)');
  return { initial: Number(m[1]), ...(m[2] === undefined ? {} : { factor: Number(m[2]) }) };
}

/** --abort PERCENT[@MIN_FINISHED] */
function abortOption(text: string | undefined) {
  if (text === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)%?(?:@(\d+))?$/.exec(text);
  if (!m || Number(m[1]) <= 0 || Number(m[1]) > 100)
    throw new UsageError('--abort takes a failure percentage over 0, optionally @MIN_FINISHED (e.g. 20@50)');
  return { failureRatio: Number(m[1]) / 100, ...(m[2] === undefined ? {} : { minFinished: Number(m[2]) }) };
}

/** The API's campaign body from the flags. */
export function campaignBody(options: CreateFlags) {
  const select = {
    ...(options.sim ? { sims: options.sim } : {}),
    ...(options.tag ? { tags: options.tag } : {}),
    ...(options.batch === undefined ? {} : { batch: options.batch }),
    ...(options.expiringBefore === undefined
      ? {}
      : { certExpiresBefore: isoOption(options.expiringBefore, '--expiring-before') }),
  };
  if (Object.keys(select).length === 0)
    throw new UsageError('which SIMs? --sim ICCID|MSISDN, --tag T, --batch B or --expiring-before DATE');
  const tar = hexOption(options.tar, '--tar', 3);
  const spi = hexOption(options.spi, '--spi', 2);
  const kvn = integerOption(options.kvn, '--kvn', 1, 15)!;
  // each --script is a step, run in order on each SIM
  const steps = options.script.map((s) => ({
    tar: Buffer.from(tar).toString('hex').toUpperCase(),
    script: Buffer.from(hexOption(s, '--script')).toString('hex').toUpperCase(),
    spi: Buffer.from(spi).toString('hex').toUpperCase(),
    kvn,
  }));
  const retry = {
    ...(options.retryNoPor === undefined
      ? {}
      : { noPor: integerOption(options.retryNoPor, '--retry-no-por', 0, 10) }),
    ...(options.retryCardError === undefined
      ? {}
      : { cardError: integerOption(options.retryCardError, '--retry-card-error', 0, 10) }),
    ...(options.retrySmscError === undefined
      ? {}
      : { smscError: integerOption(options.retrySmscError, '--retry-smsc-error', 0, 10) }),
    ...(options.backoff === undefined
      ? {}
      : { backoffMs: integerOption(options.backoff, '--backoff', 0, 3_600_000) }),
  };
  const waves = wavesOption(options.waves);
  const abort = abortOption(options.abort);
  return {
    name: options.name,
    select,
    steps,
    ...(Object.keys(retry).length ? { retry } : {}),
    ...(options.porTimeout === undefined
      ? {}
      : { porTimeoutMs: integerOption(options.porTimeout, '--por-timeout', 1, 86_400_000) }),
    ...(waves || abort ? { rollout: { ...(waves ? { waves } : {}), ...(abort ? { abort } : {}) } } : {}),
  };
}

const UUID = /^[0-9a-f-]{36}$/;
function campaignId(id: string): string {
  if (!UUID.test(id)) throw new UsageError(`${id}: a campaign id is the UUID \`campaign create\` printed`);
  return id;
}

/** A campaign's view for people: its line, then the counts by outcome. */
function campaignText(view: CampaignView): string {
  const outcomes = Object.entries(view.job?.progress.outcomes ?? {});
  return outcomes.length
    ? `${describeCampaign(view)}\n${table(outcomes.map(([outcome, n]) => [`  ${outcome}`, String(n)]))}`
    : describeCampaign(view);
}

/** Exit 3 when the campaign's job ended other than completed (aborted, cancelled, expired). */
function exitOnEnd(view: CampaignView): void {
  if (view.job && FINAL_JOB_STATES.includes(view.job.state) && view.job.state !== 'completed')
    process.exitCode = 3;
}

export function registerCampaign(program: Command, globals: () => GlobalOptions): void {
  const campaign = program
    .command('campaign')
    .description('OTA campaigns over many SIMs: create, dry-run, start, pause, resume, cancel, status');

  addWhereFlags(
    campaign
      .command('create')
      .description('a draft campaign: one SCP80 script (or several steps) for the SIMs selected')
      .requiredOption('--name <name>', 'its name (1 to 80 of [A-Za-z0-9_ .:@#/-])')
      .option('--sim <iccid|msisdn>', 'a SIM (repeat for more)', collect)
      .option('--tag <tag>', 'SIMs with this tag (repeat: all of them)', collect)
      .option('--batch <name>', 'SIMs of this batch')
      .option('--expiring-before <date>', 'SIMs whose certificate (last audited) expires before this')
      .requiredOption('--tar <hex>', 'TAR: 000000 RAM to the ISD, B00000 RFM')
      .requiredOption('--script <hex>', 'compact C-APDUs or an AA/AE script (repeat: one step each)', collect)
      .option('--spi <hex>', 'SPI', '1619')
      .option('--kvn <n>', 'key version', '1')
      .option('--retry-no-por <n>', 'resends when no PoR comes (default 1)')
      .option('--retry-card-error <n>', 'retries after a PoR with an error status (default 0)')
      .option('--retry-smsc-error <n>', 'retries after an SMSC refusal (default 3)')
      .option('--backoff <ms>', 'delay before a retry, doubled each time (default 1000)')
      .option('--por-timeout <ms>', "wait for a PoR, per attempt (default: the worker's --timeout)")
      .option(
        '--waves <initial[xfactor]>',
        'staged rollout: the first wave, growing by the factor (default 2)',
      )
      .option('--abort <percent[@min]>', 'abort once this share of SIMs ended failed (after MIN have ended)'),
  ).action(async (options: CreateFlags) => {
    const body = campaignBody(options);
    const view = (await withFleetApi(options, globals(), (api) =>
      api.call('POST', '/campaigns', { json: body }),
    )) as CampaignView;
    emit(globals().json, view, () => `${describeCampaign(view)}\nnext: iotsafe campaign dry-run ${view.id}`);
  });

  addWhereFlags(
    campaign
      .command('dry-run <id>')
      .description('per SIM what starting it would send, SMS counts and waves; nothing sent')
      .option('--limit <n>', 'SIMs whose plan to list', '20')
      .option('--tps <n>', "with --store: the SMSC account's rate, for the expected duration"),
  ).action(async (id: string, options: WhereFlags & { limit: string; tps?: string }) => {
    const limit = integerOption(options.limit, '--limit', 0, 10_000)!;
    const tps = options.tps === undefined ? undefined : integerOption(options.tps, '--tps', 1, 100_000)!;
    if (tps !== undefined && options.api !== undefined)
      throw new UsageError("--tps is for --store: a server knows its SMSC's rate");
    const report = (await withFleetApi(
      options,
      globals(),
      (api) => api.call('POST', `/campaigns/${campaignId(id)}/dry-run?limit=${limit}`),
      tps === undefined ? {} : { tps },
    )) as {
      sims: number;
      refused: { iccid: string; reason: string }[];
      sms: number;
      waves: number;
      expectedSeconds?: number;
      plan: { iccid: string; steps: { description: string; sms: number }[]; refused?: string }[];
    };
    emit(globals().json, report, () =>
      [
        `${report.sims} SIMs, ${report.sms} SMS (retries not counted), ${report.waves} wave(s)${report.expectedSeconds === undefined ? '' : `, at least ${report.expectedSeconds} s at the SMSC's rate`}; nothing was sent`,
        ...report.refused.map((r) => `  refused ${r.iccid}: ${r.reason}`),
        ...(report.plan.length
          ? [
              table(
                report.plan.map((p) => [
                  `  ${p.iccid}`,
                  p.refused ?? p.steps.map((s) => `${s.description} (${s.sms} SMS)`).join('; '),
                ]),
              ),
            ]
          : []),
      ].join('\n'),
    );
  });

  const start = addWhereFlags(
    campaign
      .command('start <id>')
      .description('start a draft; with --store and --smsc, run it here until it ends (progress on stderr)')
      .option('--wait', 'without --smsc: follow it until it ends (workers elsewhere run it)')
      .option('--concurrency <n>', 'with --smsc: SIMs at once in this worker', '256'),
  );
  addServerFlags(start, true).action(
    async (
      id: string,
      options: WhereFlags & Partial<ServerFlags> & { wait?: boolean; concurrency: string },
    ) => {
      campaignId(id);
      if (options.smsc !== undefined && options.api !== undefined)
        throw new UsageError('--smsc runs the campaign here, over --store; a server (--api) runs it itself');
      const json = globals().json === true;
      if (options.smsc === undefined) {
        const view = await withFleetApi(options, globals(), async (api) => {
          const started = (await api.call('POST', `/campaigns/${id}/start`)) as CampaignView;
          return options.wait ? followCampaign(api, id, { bar: !json }) : started;
        });
        emit(json, view, () => campaignText(view));
        exitOnEnd(view);
        return;
      }
      // --smsc given: the other server flags carry addServerFlags' defaults, so the set is complete.
      moderateLongRunningHeap();
      const flags = options as ServerFlags;
      const settings = serverOptions(flags);
      const concurrency = integerOption(options.concurrency, '--concurrency', 1, 100_000)!;
      const view = await withFleetApi(options, globals(), async (api) => runHere(api, id, json), {
        connect: (store) => tracedPaced(flags, store, globals().trace),
        server: { ...settings, worker: { concurrency, idleMs: 20 } },
      });
      emit(json, view, () => campaignText(view));
      exitOnEnd(view);
    },
  );

  for (const action of ['pause', 'resume', 'cancel'] as const)
    addWhereFlags(
      campaign
        .command(`${action} <id>`)
        .description(
          action === 'pause'
            ? 'hold the SIMs not started yet (those under way finish their attempt)'
            : action === 'resume'
              ? 'go on with a paused campaign'
              : 'end it: the SIMs not started are cancelled (a draft: never started)',
        ),
    ).action(async (id: string, options: WhereFlags) => {
      const view = (await withFleetApi(options, globals(), (api) =>
        api.call('POST', `/campaigns/${campaignId(id)}/${action}`),
      )) as CampaignView;
      emit(globals().json, view, () => campaignText(view));
    });

  addWhereFlags(
    campaign
      .command('status <id>')
      .description("a campaign's state and counts; --follow until its job ends, with a progress bar")
      .option('--follow', 'follow it until it ends'),
  ).action(async (id: string, options: WhereFlags & { follow?: boolean }) => {
    const json = globals().json === true;
    const view = await withFleetApi(options, globals(), (api) =>
      options.follow
        ? followCampaign(api, campaignId(id), { bar: !json })
        : (api.call('GET', `/campaigns/${campaignId(id)}`) as Promise<CampaignView>),
    );
    emit(json, view, () => campaignText(view));
    if (options.follow) exitOnEnd(view);
  });
}

/** Starts the campaign and runs its job in this process's worker until it ends. */
async function runHere(api: FleetApi, id: string, json: boolean): Promise<CampaignView> {
  await api.call('POST', `/campaigns/${id}/start`);
  const interrupted = () => {
    printError('interrupted: the campaign goes on with the next worker (`ota worker`, `ota serve`)');
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  try {
    return await followCampaign(api, id, { bar: !json });
  } finally {
    process.off('SIGINT', interrupted);
  }
}
