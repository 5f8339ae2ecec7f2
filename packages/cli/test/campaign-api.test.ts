// `iotsafe campaign … --api URL`: the CLI driving a running API server over HTTP, as an operator would
// drive `ota serve`. The server listens on 127.0.0.1 with its tokens from the store (an operator's and
// a viewer's, stored hashed); a worker in it runs the campaign over a virtual fleet. The CLI runs as a
// child process: it creates the campaign and starts it with --wait, its progress and result read back
// over HTTP, and the viewer's token may read the campaign but is refused (403) starting or creating one.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  importVendorFile,
  OtaServer,
  OtaStore,
  PacedSmsLink,
  type ServedApi,
  SmppLink,
  serveOtaApi,
  TokenStore,
} from '@iotsafe/ota';
import { runCliAsync } from '../../../test/helpers/cli.js';
import type { CampaignView } from '../src/campaign-progress.js';
import { VirtualFleet } from '../src/virtual-fleet.js';

const ACCOUNT = { systemId: 'iotsafe', password: 'fleet-a' };
const SIMS = 12;

describe('campaign commands over HTTP (--api)', () => {
  let dir: string;
  let fleet: VirtualFleet;
  let store: OtaStore;
  let paced: PacedSmsLink;
  let server: OtaServer;
  let api: ServedApi;
  let operatorFile: string;
  let viewerFile: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iotsafe-campaign-api-'));
    fleet = await VirtualFleet.start({ sims: SIMS, network: ACCOUNT });
    store = await OtaStore.open(':memory:', new Uint8Array(32).fill(9));
    const report = await importVendorFile(store, fleet.vendorCsv());
    assert.equal(report.imported, SIMS);
    const tokens = new TokenStore(store.engine);
    operatorFile = join(dir, 'operator.token');
    viewerFile = join(dir, 'viewer.token');
    writeFileSync(operatorFile, (await tokens.create('ops', 'operator')).token, { mode: 0o600 });
    writeFileSync(viewerFile, (await tokens.create('watcher', 'viewer')).token, { mode: 0o600 });
    const link = await SmppLink.connect({ host: '127.0.0.1', port: fleet.network.port, ...ACCOUNT });
    paced = new PacedSmsLink([link], { window: 20 });
    // a PoR comes within milliseconds; 20 s leaves room for a loaded machine, no retry is needed
    server = new OtaServer(store, paced, { timeoutMs: 20_000, worker: { idleMs: 10, sweepMs: 50 } });
    // the server's own token (admin, as `ota serve --token-file` has) is not the one the CLI is given
    const serverToken = randomBytes(24).toString('hex');
    api = await serveOtaApi(server, {
      host: '127.0.0.1',
      tokens: [serverToken],
      rateLimit: { global: 10_000 },
    });
  });
  after(async () => {
    await api?.stop();
    await server?.close();
    await paced?.close();
    await store?.close();
    await fleet?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (tokenFile: string, ...args: string[]) =>
    runCliAsync(['--json', 'campaign', ...args, '--api', api.url, '--token-file', tokenFile]);
  // with --json an error is a JSON object on stdout
  const refusal = (stdout: string) => (JSON.parse(stdout) as { error: { message: string } }).error.message;
  const CREATE = ['create', '--name', 'read ICCID', '--batch', 'sim', '--tar', 'B00000'];
  const SCRIPT = ['--script', '00A40004022FE200B000000A', '--retry-no-por', '0'];

  test('an operator creates and starts a campaign; --wait follows it to its end over HTTP', async () => {
    const created = await cli(operatorFile, ...CREATE, ...SCRIPT);
    assert.equal(created.code, 0, created.stderr);
    const draft = JSON.parse(created.stdout) as CampaignView;
    assert.equal(draft.state, 'draft');

    const started = await cli(operatorFile, 'start', draft.id, '--wait');
    assert.equal(started.code, 0, started.stderr);
    const ended = JSON.parse(started.stdout) as CampaignView;
    assert.equal(ended.id, draft.id);
    assert.equal(ended.job?.state, 'completed', started.stdout);
    assert.deepEqual(ended.job?.progress.outcomes, { ok: SIMS });

    // what the CLI reported is what the store holds: one attempt per SIM, each with its PoR
    const attempts = await store.jobs.attemptsOf(ended.job!.id);
    assert.equal(attempts.length, SIMS);
    assert.ok(attempts.every((a) => a.state === 'por' && a.porStatus === 0 && a.sentAt !== undefined));

    // a viewer reads it…
    const status = await cli(viewerFile, 'status', draft.id);
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual((JSON.parse(status.stdout) as CampaignView).job?.progress.outcomes, { ok: SIMS });
  });

  test("a viewer's token is refused creating or starting a campaign (403), nothing sent", async () => {
    const created = await cli(viewerFile, ...CREATE, ...SCRIPT);
    assert.notEqual(created.code, 0);
    assert.match(refusal(created.stdout), /needs the operator role; the token has viewer/);

    const draft = await cli(operatorFile, ...CREATE, ...SCRIPT);
    assert.equal(draft.code, 0, draft.stderr);
    const { id } = JSON.parse(draft.stdout) as CampaignView;
    const submitted = fleet.network.accepted;
    const started = await cli(viewerFile, 'start', id, '--wait');
    assert.notEqual(started.code, 0);
    assert.match(refusal(started.stdout), /needs the operator role; the token has viewer/);
    const after = (await cli(operatorFile, 'status', id)).stdout;
    assert.equal((JSON.parse(after) as CampaignView).state, 'draft', 'still a draft');
    assert.equal(fleet.network.accepted, submitted, 'no SMS went out');
  });
});
