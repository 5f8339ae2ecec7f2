// `iotsafe ota rotate | rotation status | rotation list`: network-initiated credential rotation
// (docs/rotation.md). `rotate` starts a certificate rotation in the store and runs it in this process
// over its own SMPP bind until it ends — over SCP80 the scripts go by SMS; over SCP81 they go on the
// SIM's admin queue, served by an `ota admin serve` on the same store (or by this process with
// --admin-listen), and only the triggers go by SMS. The cloud side proves the new certificate through
// the same store (RotationService.certificateSeen), else the rotation rolls back at its deadline.
import {
  AdminServer,
  FINAL_ROTATION_STATES,
  JobWorker,
  OtaServer,
  type OtaStore,
  RotationService,
  type RotationStatus,
  StorageError,
} from '@iotsafe/ota';
import { type Command, Option } from 'commander';
import { addServerFlags, openKeyStore, type ServerFlags, serverOptions, tracedPaced } from './ota-server.js';
import { emit, printError, table } from './output.js';
import { openCa } from './pki-commands.js';
import { registerRotationCloud } from './rotation-cloud.js';
import { type GlobalOptions, parseHostPort, storageKey, UsageError } from './session.js';
import { integerOption } from './usage.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as 500ms, 90s, 15m, 1h or 2d, in ms. */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  const ms = match ? Number(match[1]) * UNITS[match[2]!]! : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 1 || ms > 30 * 86_400_000)
    throw new UsageError(`${what} takes a duration up to 30 days: 500ms, 90s, 15m, 1h, 2d`);
  return ms;
}

/** A rotation the service refuses (SIM unknown, one under way, no key set): a usage error. */
async function refusedAsUsage<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof StorageError) throw new UsageError(error.message);
    throw error;
  }
}

function statusRows(s: RotationStatus): string[][] {
  return [
    ['rotation', s.id],
    ['SIM', s.iccid],
    ['credential', `${s.credential} over ${s.via}`],
    ['state', s.state],
    ['step', `${s.step} of ${s.steps}`],
    ['deadline', s.deadline],
    ...(s.oldSerial ? [['old serial', s.oldSerial]] : []),
    ...(s.newSerial ? [['new serial', s.newSerial]] : []),
    ...(s.oldIdentity ? [['old identity', s.oldIdentity]] : []),
    ...(s.newIdentity ? [['new identity', s.newIdentity]] : []),
    ['SMS', `${s.sms} in ${s.attempts} attempts`],
    ...(s.detail ? [['detail', s.detail]] : []),
  ];
}

async function withStore<T>(
  location: string,
  globals: GlobalOptions,
  run: (store: OtaStore) => Promise<T>,
): Promise<T> {
  const store = await openKeyStore(location, storageKey(globals), false);
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

export function registerRotationCommands(ota: Command, globals: () => GlobalOptions): void {
  const rotate = ota
    .command('rotate')
    .description(
      "rotate a SIM's certificate over the air and run the rotation until it ends (docs/rotation.md)",
    )
    .requiredOption('--sim <iccid|msisdn>', 'the SIM')
    .requiredOption('--ca <dir>', "the operator's CA (`iotsafe ca init`)")
    .addOption(
      new Option('--via <channel>', 'scp80: scripts by SMS; scp81: scripts over the admin session')
        .choices(['scp80', 'scp81'])
        .default('scp80'),
    )
    .option(
      '--admin-listen <[host:]port>',
      "with --via scp81: serve the PSK-TLS admin server in this process (the SIM's stored address)",
    )
    .option(
      '--session-timeout <duration>',
      'with --via scp81: time for the admin session of each step',
      '30s',
    )
    .option('--deadline <duration>', 'time for the device to prove the new certificate (90s, 15m, 1h)', '1h')
    .option('--current-serial <hex>', 'serial of the certificate in use (revoked once the new one is proven)')
    .option('--kvn <n>', 'SCP80 key version', '1');
  addServerFlags(rotate).action(
    async (
      options: ServerFlags & {
        sim: string;
        ca: string;
        via: 'scp80' | 'scp81';
        deadline: string;
        currentSerial?: string;
        kvn: string;
        adminListen?: string;
        sessionTimeout: string;
      },
    ) => {
      if (options.via !== 'scp81' && options.adminListen !== undefined)
        throw new UsageError('--admin-listen goes with --via scp81');
      const adminAt =
        options.adminListen === undefined ? undefined : parseHostPort(options.adminListen, '--admin-listen');
      const sessionTimeoutMs = parseDuration(options.sessionTimeout, '--session-timeout');
      const deadlineMs = parseDuration(options.deadline, '--deadline');
      const kvn = integerOption(options.kvn, '--kvn', 1, 15);
      if (options.currentSerial !== undefined && !/^[0-9A-Fa-f]{1,40}$/.test(options.currentSerial))
        throw new UsageError('--current-serial takes the serial number in hex');
      const settings = serverOptions(options);
      const ca = await openCa(options.ca, globals());
      await withStore(options.store, globals(), async (store) => {
        const service = new RotationService(store, storageKey(globals()), { ca });
        // bound before the rotation is recorded: an SMSC that cannot be reached leaves none behind
        const link = await tracedPaced(options, store, globals().trace);
        const rotation = await refusedAsUsage(() =>
          service.start({
            sim: options.sim,
            via: options.via,
            deadlineMs,
            kvn,
            porTimeoutMs: settings.timeoutMs,
            ...(options.via === 'scp81' ? { sessionTimeoutMs } : {}),
            ...(options.currentSerial ? { currentSerial: options.currentSerial } : {}),
            createdBy: 'cli',
          }),
        ).catch(async (error) => {
          await link.close();
          throw error;
        });
        printError(`rotation ${rotation.id} started for ${rotation.iccid} over ${rotation.via}`);
        const admin = adminAt && (await AdminServer.start(store, adminAt));
        if (admin) printError(`SCP81 admin server on ${adminAt!.host}:${admin.port} (PSK-TLS)`);
        const server = new OtaServer(store, link, { ...settings, worker: false });
        const worker = new JobWorker(store, [server.scp80, service.kind(server.scp80)], { idleMs: 20 });
        worker.on('error', (error: Error) => printError(`worker: ${error.message}`));
        worker.start();
        let status: RotationStatus;
        try {
          let said = '';
          for (;;) {
            status = await service.status(rotation.id);
            if (status.state !== said && !globals().json) printError(`… ${status.state}`);
            said = status.state;
            if (FINAL_ROTATION_STATES.includes(status.state)) break;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        } finally {
          await worker.stop();
          await server.close();
          await admin?.close();
          await link.close();
        }
        emit(globals().json, status, () => table(statusRows(status)));
        if (status.state !== 'completed') process.exitCode = 3;
      });
    },
  );

  const rotation = ota
    .command('rotation')
    .description('where rotations stand, and the cloud that proves them (docs/rotation.md)');
  registerRotationCloud(rotation, globals);
  rotation
    .command('status <id>')
    .description('one rotation: its state, step, serials and SMS')
    .requiredOption('--store <file|url>', 'the OTA store')
    .action(async (id: string, options: { store: string }) => {
      await withStore(options.store, globals(), async (store) => {
        const service = new RotationService(store, storageKey(globals()));
        const status = await refusedAsUsage(() => service.status(id));
        emit(globals().json, status, () => table(statusRows(status)));
      });
    });
  rotation
    .command('list')
    .description('the latest rotations, newest first')
    .requiredOption('--store <file|url>', 'the OTA store')
    .option('--sim <iccid|msisdn>', 'of this SIM only')
    .option('--limit <n>', 'how many', '100')
    .action(async (options: { store: string; sim?: string; limit: string }) => {
      const limit = integerOption(options.limit, '--limit', 1, 1000);
      await withStore(options.store, globals(), async (store) => {
        const service = new RotationService(store, storageKey(globals()));
        const rotations = await refusedAsUsage(() =>
          service.list({ ...(options.sim ? { sim: options.sim } : {}), limit }),
        );
        emit(globals().json, { rotations }, () =>
          rotations.length === 0
            ? 'no rotations'
            : table([
                ['ID', 'SIM', 'CREDENTIAL', 'STATE', 'STEP', 'CREATED'],
                ...rotations.map((r) => [
                  r.id,
                  r.iccid,
                  r.credential,
                  r.state,
                  `${r.step}/${r.steps}`,
                  r.createdAt,
                ]),
              ]),
        );
      });
    });
}
