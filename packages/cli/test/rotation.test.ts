// `iotsafe ota rotate` and `ota rotation status|list` as an operator runs them: a type1 SIM behind the
// local SMSC (`ota network`), a CA from `ca init`; this process plays the cloud, reporting through the
// shared store that it saw the new certificate (RotationService.certificateSeen), so the rotation
// completes; without that proof the next one rolls back at its deadline. --json checked against
// docs/json.md; SCP81 to a SIM without its PSK and bad durations refused as usage errors. Then
// `ota rotation cloud`: a certificate of the CA accepted, refused once revoked (its CRL made again).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { OtaStore, RotationService } from '@iotsafe/ota';
import { hexToBytes } from '@iotsafe/protocol';
import { type Background, runCli, runCliAsync, startCli } from '../../../test/helpers/cli.js';
import { otaReadySim } from '../../../test/helpers/ota-sim.js';
import { softwareCsr } from '../../pki/test/csr-helpers.js';
import { checkJson } from './json-schemas.js';

const ICCID = '8988211000000467285';
const STORAGE_KEY = '3e'.repeat(32);
const env = { IOTSAFE_STORAGE_KEY: STORAGE_KEY };
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-cli-rotation-'));
const store = join(dir, 'ota.db');
const ca = join(dir, 'ca');
let network: Background;
let smsc: string;

function step(args: string[]): string {
  const r = runCli(args, env);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

before(async () => {
  const sim = otaReadySim(dir, env, { store, iccid: ICCID, msisdn: '4917000001' });
  step(['ca', 'init', ca, '--cn', 'Operator CA']);
  network = await startCli(['ota', 'network', sim, '--msisdn', '4917000001'], env, /127\.0\.0\.1:(\d+)/);
  smsc = `127.0.0.1:${network.match[1]}`;
});
after(async () => {
  await network?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const rotate = (...more: string[]) => [
  '--json',
  'ota',
  'rotate',
  '--store',
  store,
  '--smsc',
  smsc,
  '--sim',
  ICCID,
  '--ca',
  ca,
  ...more,
];

/** The cloud: once the rotation has written its certificate, it reports having seen it. */
async function proveWhenWritten(): Promise<string> {
  const ota = await OtaStore.open(store, hexToBytes(STORAGE_KEY));
  try {
    const service = new RotationService(ota, hexToBytes(STORAGE_KEY));
    for (let i = 0; i < 600; i++) {
      const [latest] = await service.list({ limit: 1 });
      if (latest?.state === 'awaiting-proof') {
        const record = await service.rotations.get(latest.id);
        assert.equal(await service.certificateSeen(record.certificate!), latest.id);
        return latest.id;
      }
      if (latest && ['completed', 'rolled-back', 'failed'].includes(latest.state) && i > 0)
        throw new Error(`the rotation ended before its proof: ${JSON.stringify(latest)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('the rotation never reached awaiting-proof');
  } finally {
    await ota.close();
  }
}

describe('iotsafe ota rotate', () => {
  test('proven by the cloud: completed (commit, every step), and status says the same', async () => {
    const [run, proved] = await Promise.all([
      runCliAsync(rotate('--deadline', '60s'), env),
      proveWhenWritten(),
    ]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const status = checkJson('ota rotate', run.stdout) as Record<string, unknown>;
    assert.equal(status.id, proved);
    assert.equal(status.state, 'completed');
    assert.equal(status.decision, 'commit');
    assert.equal(status.step, status.steps);
    assert.match(String(status.newSerial), /^[0-9A-F]+$/);
    const shown = checkJson(
      'ota rotation status',
      step(['--json', 'ota', 'rotation', 'status', proved, '--store', store]),
    );
    assert.deepEqual(shown, status);
    const text = step(['ota', 'rotation', 'status', proved, '--store', store]);
    assert.match(text, /state\s+completed/);
  });

  test('not proven: rolled back at its deadline, exit code 3; the list holds both, newest first', async () => {
    const run = await runCliAsync(rotate('--deadline', '2s'), env);
    assert.equal(run.code, 3, run.stdout + run.stderr);
    const status = checkJson('ota rotate', run.stdout) as Record<string, unknown>;
    assert.equal(status.state, 'rolled-back');
    assert.equal(status.decision, 'rollback');
    const list = checkJson(
      'ota rotation list',
      step(['--json', 'ota', 'rotation', 'list', '--store', store, '--sim', ICCID]),
    ) as { rotations: { id: string; state: string }[] };
    assert.deepEqual(
      list.rotations.map((r) => r.state),
      ['rolled-back', 'completed'],
    );
    assert.equal(list.rotations[0]!.id, status.id);
  });

  test('SCP81 without a PSK, a bad deadline, an unknown SIM or rotation: usage errors (exit 2), nothing started', () => {
    const before = runCli(['--json', 'ota', 'rotation', 'list', '--store', store], env).stdout;
    for (const [args, message] of [
      [rotate('--admin-listen', '4000'), /--admin-listen goes with --via scp81/],
      [rotate('--via', 'scp81'), /has no SCP81 PSK in the store: rotate it over scp80/],
      [rotate('--deadline', '10y'), /--deadline takes a duration/],
      [rotate('--deadline', '31d'), /--deadline takes a duration/],
      [['--json', 'ota', 'rotate', '--store', store, '--smsc', smsc, '--sim', '1234', '--ca', ca], /1234/],
      [['--json', 'ota', 'rotation', 'status', 'no-such-rotation', '--store', store], /no rotation/],
    ] as const) {
      const r = runCli([...args], env);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      const error = checkJson('error', r.stdout) as { error: { code: string; message: string } };
      assert.equal(error.error.code, 'usage');
      assert.match(error.error.message, message);
    }
    assert.equal(runCli(['--json', 'ota', 'rotation', 'list', '--store', store], env).stdout, before);
  });
});

describe('iotsafe ota rotation cloud', () => {
  /** One mutual-TLS exchange with the cloud as a client holding `key`/`cert`: its line, or why it ended. */
  async function hello(port: number, key: string, cert: string): Promise<string> {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: readFileSync(join(ca, 'ca.pem')),
      key: readFileSync(key),
      cert: readFileSync(cert),
    });
    let text = '';
    socket.on('data', (d) => {
      text += d;
    });
    try {
      await once(socket, 'close');
    } catch {
      // a refusal: what was read so far (nothing) is the answer
    }
    return text || 'closed without a word';
  }

  test('accepts a certificate of the CA (no rotation awaits it), refuses it once revoked: the CRL made again', async () => {
    const key = join(dir, 'client.key');
    const csr = join(dir, 'client.csr');
    const cert = join(dir, 'client.pem');
    const request = await softwareCsr('CN=cloud-client');
    writeFileSync(key, request.keyPem, { mode: 0o600 });
    writeFileSync(csr, request.csr);
    step(['ca', 'issue', '--ca', ca, '--csr', csr, '--out', cert]);
    const cloud = await startCli(
      ['--json', 'ota', 'rotation', 'cloud', '--store', store, '--ca', ca],
      env,
      /"port":\s*(\d+)/,
    );
    try {
      const ready = checkJson('ota rotation cloud', cloud.stdout()) as { port: number };
      const port = ready.port;
      assert.match(await hello(port, key, cert), /^hello CN=cloud-client: certificate [0-9A-F]+ accepted\n$/);
      step(['ca', 'revoke', '--ca', ca, '--cert', cert, '--reason', 'keyCompromise']);
      assert.equal(await hello(port, key, cert), 'closed without a word');
      assert.match(cloud.output(), /cloud: refused CN=cloud-client: CERT_REVOKED/);
    } finally {
      await cloud.stop();
    }
  });
});
