// `iotsafe ota rotate --via scp81` end to end: the SIM's admin server serving the store (as `ota admin
// serve` would, here in the test's process; then in the command's own with --admin-listen), a virtual
// SIM with its BIP terminal behind the local SMSC, a CA from `ca init`; this process plays the cloud and
// proves the new certificate through the shared store. --json checked against docs/json.md.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type OtaStore, RotationService } from '@iotsafe/ota';
import { bytesToHex } from '@iotsafe/protocol';
import { runCli, runCliAsync } from '../../../test/helpers/cli.js';
import { CREDENTIALS, ICCID, type Rig, STORAGE_KEY, startRig } from '../../ota/test/rig.js';
import { ADMIN_IDENTITY, type AdminRig, startAdminRig } from '../../ota/test/rotation-rig.js';
import { checkJson } from './json-schemas.js';

const env = { IOTSAFE_STORAGE_KEY: bytesToHex(STORAGE_KEY), IOTSAFE_SMPP_PASSWORD: CREDENTIALS.password };
let rig: Rig;
let store: OtaStore;
let adminRig: AdminRig;
let file: string;
let ca: string;

before(async () => {
  rig = await startRig();
  file = join(rig.dir, 'ota.db');
  store = await rig.openStore(file);
  adminRig = await startAdminRig(rig, store);
  ca = join(rig.dir, 'ca');
  const init = runCli(['ca', 'init', ca, '--cn', 'Operator CA'], env);
  assert.equal(init.code, 0, init.stderr);
});
after(async () => {
  await adminRig.stop();
  await store.close();
  await rig.stop();
});

/** The cloud: once the rotation awaits its proof, it reports having seen the new certificate. */
async function proveWhenWritten(): Promise<string> {
  const service = new RotationService(store, STORAGE_KEY);
  for (let i = 0; i < 1200; i++) {
    const [latest] = await service.list({ limit: 1 });
    if (latest?.state === 'awaiting-proof') {
      const record = await service.rotations.get(latest.id);
      assert.equal(await service.certificateSeen(record.certificate!), latest.id);
      return latest.id;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the rotation never reached awaiting-proof');
}

const rotate = (...more: string[]) => [
  '--json',
  'ota',
  'rotate',
  '--via',
  'scp81',
  '--store',
  file,
  '--smsc',
  `127.0.0.1:${rig.network.port}`,
  '--sim',
  ICCID,
  '--ca',
  ca,
  '--deadline',
  '60s',
  ...more,
];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('iotsafe ota rotate --via scp81', () => {
  test('with the admin server serving the store: completed, four admin scripts run once, four trigger SMS', async () => {
    const before = (await store.admin.scripts(ICCID)).length;
    const [run, proved] = await Promise.all([runCliAsync(rotate(), env), proveWhenWritten()]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const status = checkJson('ota rotate', run.stdout) as Record<string, unknown>;
    assert.equal(status.id, proved);
    assert.equal(status.via, 'scp81');
    assert.equal(status.state, 'completed');
    assert.equal(status.sms, 4);
    const scripts = (await store.admin.scripts(ICCID)).slice(before);
    assert.deepEqual(
      scripts.map((s) => `${s.state} ${s.sentCount}`),
      ['done 1', 'done 1', 'done 1', 'done 1'],
    );
  });

  test('--admin-listen: the command serves the admin session itself, on the port the SIM has stored', async () => {
    const port = await freePort();
    adminRig.sim.setAdminParameters({
      address: '127.0.0.1',
      port,
      pskIdentity: ADMIN_IDENTITY,
      retry: { counter: 5, delaySeconds: 1 },
    });
    const [run] = await Promise.all([
      runCliAsync(rotate('--admin-listen', String(port)), env),
      proveWhenWritten(),
    ]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stderr, new RegExp(`SCP81 admin server on 127\\.0\\.0\\.1:${port}`));
    const status = checkJson('ota rotate', run.stdout) as Record<string, unknown>;
    assert.equal(status.state, 'completed');
  });
});
