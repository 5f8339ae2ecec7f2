// `--json` as documented: every command of the CLI has a schema in docs/json.md, and the output of
// every command, errors included, is validated against it (ajv), run as a user would run them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Command } from 'commander';
import { type Background, runCli, startCli } from '../../../test/helpers/cli.js';
import { peerAvailable } from '../../../test/helpers/peers.js';
import { createProgram } from '../src/program.js';
import { ajv, checkJson, schemas } from './json-schemas.js';

function leafCommands(command: Command, prefix = ''): string[] {
  return command.commands.flatMap((c) => {
    const name = `${prefix}${c.name()}`;
    return c.commands.length ? leafCommands(c, `${name} `) : [name];
  });
}

const validated = new Set<string>();
function check(id: string, stdout: string): unknown {
  validated.add(id);
  return checkJson(id, stdout);
}

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-json-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { IOTSAFE_STORAGE_KEY: '4e'.repeat(32) };
/** Runs `iotsafe --json ARGS`, expects `code`, validates stdout against schema `id`. */
function json(id: string, args: string[], code = 0): Record<string, unknown> {
  const r = runCli(['--json', ...args], env);
  assert.equal(r.code, code, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return check(id, r.stdout) as Record<string, unknown>;
}

/** The whole JSON document a background command printed on starting (the pipe may deliver it in parts). */
async function startedDocument(server: Background): Promise<string> {
  for (let i = 0; ; i++) {
    const text = server.stdout();
    try {
      JSON.parse(text);
      return text;
    } catch (error) {
      if (i >= 200) throw new Error(`no complete JSON document after 10 s: ${text}`, { cause: error });
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('--json output against docs/json.md', () => {
  test('every command has a schema, and every schema is valid JSON Schema', () => {
    for (const schema of schemas) assert.ok(ajv.getSchema(schema.$id), schema.$id); // compiles, strict
    const documented = new Set(schemas.map((s) => s.$id));
    const commands = leafCommands(createProgram(['node', 'iotsafe']).program);
    assert.deepEqual(
      commands.filter((c) => !documented.has(c)),
      [],
      'commands without a schema',
    );
  });

  test('a SIM, keys, a CA, the device commands and errors', () => {
    const sim = join(dir, 'sim');
    json('keys new', ['keys', 'new', '--gp', join(dir, 'isd.keys')]);
    json('keys new', ['keys', 'new', '--scp80', join(dir, 'scp80.keys')]);
    json('keys new', ['keys', 'new', '--storage', join(dir, 'storage.key')]);
    json('keys new', ['keys', 'new', '--psk', join(dir, 'psk.key'), '--length', '16']);
    json('sim create', [
      'sim',
      'create',
      sim,
      '--profile',
      'type1',
      '--isd-keys-file',
      join(dir, 'isd.keys'),
    ]);
    json('sim personalities', ['sim', 'personalities']);
    json('info', ['--sim', sim, 'info']);
    const objects = json('objects', ['--sim', sim, 'objects']) as unknown as { state: string }[];
    assert.equal(objects[0]!.state, 'filled');
    json('random', ['--sim', sim, 'random', '8']);
    json('keygen', ['--sim', sim, 'keygen', '--id', '01', '--force']);
    json('pubkey', ['--sim', sim, 'pubkey', '--id', '01']);
    const signed = json('sign', ['--sim', sim, 'sign', '--id', '01', '--text', 'x']);
    json('verify', [
      '--sim',
      sim,
      'verify',
      '--id',
      '01',
      '--text',
      'x',
      '--signature',
      String(signed.signature),
    ]);
    json(
      'verify',
      ['--sim', sim, 'verify', '--id', '01', '--text', 'y', '--signature', String(signed.signature)],
      1,
    );
    json('csr', ['--sim', sim, 'csr', '--id', '01', '--cn', 'json-device', '--out', join(dir, 'device.csr')]);
    json('ca init', ['ca', 'init', join(dir, 'ca')]);
    json('ca issue', [
      'ca',
      'issue',
      '--ca',
      join(dir, 'ca'),
      '--csr',
      join(dir, 'device.csr'),
      '--out',
      join(dir, 'device.pem'),
    ]);
    json('ca issue', [
      'ca',
      'issue',
      '--ca',
      join(dir, 'ca'),
      '--server',
      'localhost',
      '--out',
      join(dir, 's.pem'),
      '--key-out',
      join(dir, 's.key'),
    ]);
    json('sim write-file', [
      '--sim',
      sim,
      'sim',
      'write-file',
      '--id',
      '02',
      '--key-id',
      '01',
      '--in',
      join(dir, 'device.pem'),
    ]);
    json('read-file', ['--sim', sim, 'read-file', '--id', '02']);
    json('apdu', ['--sim', sim, 'apdu', '00A4040007A0000005590010', '00B0000000'], 3);
    // errors: usage (2), card refused (3), SIM unusable (4), unreachable (5)
    assert.equal(json('error', ['--sim', sim, 'frobnicate'], 2).error && true, true);
    const refused = json('error', ['--sim', sim, 'read-file', '--id', '77'], 3) as {
      error: { sw: string; hint: string };
    };
    assert.equal(refused.error.sw, '6A82');
    assert.match(refused.error.hint, /iotsafe objects/);
    json('error', ['--sim', join(dir, 'none'), 'info'], 4);
    json('error', ['--tcp', '127.0.0.1:1', 'info'], 5);
    json('error', ['--sim', sim, 'keygen', '--id', '01'], 2);
  });

  test('gp: info, list, keys, lock, perso, raw APDUs in the session', () => {
    const blank = join(dir, 'blank');
    const gp = ['--sim', blank, 'gp', '--keys-file', join(dir, 'isd.keys')];
    json('sim create', [
      'sim',
      'create',
      blank,
      '--profile',
      'blank',
      '--isd-keys-file',
      join(dir, 'isd.keys'),
    ]);
    json('gp info', [...gp, 'info']);
    json('gp list', [...gp, 'list']);
    json('gp put-key', [...gp, 'put-key', '--new-kvn', '01', '--new-keys-file', join(dir, 'scp80.keys')]);
    json('gp apdu', [...gp, 'apdu', '80CA00E000']);
    json('gp lock', [...gp, 'lock']);
    json('gp unlock', [...gp, 'unlock']);
    json('gp set-state', [...gp, 'set-state', 'locked']);
    json('gp unlock', [...gp, 'unlock']);
    json('error', [...gp, 'delete'], 2);
    json('gp delete', [...gp, 'delete', '--yes']);
    json('gp install', [...gp, 'install']);
    json('gp perso', [...gp, '--level', 'renc', 'perso', 'type1']);
  });

  test('ota: encode, decode (a packet and a PoR), add-sim, network, send, rotate, serve', async () => {
    const common = [
      '--spi',
      '1619',
      '--kic',
      '12',
      '--tar',
      'B00000',
      '--script',
      '00A40004022FE200B000000A',
    ];
    const keys = ['--keys-file', join(dir, 'scp80.keys')];
    const encoded = json('ota encode', ['ota', 'encode', ...common, '--counter', '3', ...keys]) as {
      hex: string[];
    };
    json('ota decode', ['ota', 'decode', encoded.hex[0]!, ...keys]);
    const vectorKeys = [
      '--kic-key',
      '200102030405060708090a0b0c0d0e0f',
      '--kid-key',
      '201102030405060708090a0b0c0d0e0f',
    ];
    const por = '027100002412b00011ebc6b497e2cad7aedf36ace0e3a29b38853f0fe9ccde81913be5702b73abce1f';
    json('ota decode', ['ota', 'decode', por, '--spi', '0619', '--kic', '22', ...vectorKeys]);
    const store = join(dir, 'ota.db');
    json('ota add-sim', [
      'ota',
      'add-sim',
      '--store',
      store,
      '--create',
      '--iccid',
      '89000123456789012341',
      '--msisdn',
      '4917000009',
      '--kic',
      '12',
      ...keys,
    ]);
    const sim = ['--store', store, '--sim', '89000123456789012341'];
    json('ota admin psk', [
      'ota',
      'admin',
      'psk',
      ...sim,
      '--identity',
      'card-1',
      '--psk-file',
      join(dir, 'psk.key'),
    ]);
    json('ota admin push', ['ota', 'admin', 'push', ...sim, '--script', 'AE80220580CA0085000000']);
    const adminServer = await startCli(
      ['--json', 'ota', 'admin', 'serve', '--store', store, '--insecure-no-auth'],
      env,
      /"auth"/,
    );
    try {
      check('ota admin serve', await startedDocument(adminServer));
    } finally {
      await adminServer.stop();
    }
    const network = await startCli(
      ['--json', 'ota', 'network', join(dir, 'blank'), '--msisdn', '4917000009'],
      env,
      /"smsc": "127\.0\.0\.1:(\d+)"/,
    );
    try {
      check('ota network', network.output());
      const smsc = `127.0.0.1:${network.match[1]}`;
      json('ota send', [
        'ota',
        'send',
        '--store',
        store,
        '--smsc',
        smsc,
        '--to',
        '4917000009',
        '--tar',
        'B00000',
        '--script',
        '00A40004022FE200B000000A',
      ]);
      // a rotation nobody proves (no cloud in this test): rolled back at its short deadline
      json('ca init', ['ca', 'init', join(dir, 'rotation-ca')]);
      const rotation = json(
        'ota rotate',
        [
          'ota',
          'rotate',
          '--store',
          store,
          '--smsc',
          smsc,
          '--sim',
          '4917000009',
          '--ca',
          join(dir, 'rotation-ca'),
          '--deadline',
          '2s',
        ],
        3,
      );
      assert.equal(rotation.state, 'rolled-back');
      json('ota rotation status', ['ota', 'rotation', 'status', String(rotation.id), '--store', store]);
      const listed = json('ota rotation list', ['ota', 'rotation', 'list', '--store', store]);
      assert.equal((listed.rotations as unknown[]).length, 1);
      json(
        'error',
        [
          'ota',
          'rotate',
          '--store',
          store,
          '--smsc',
          smsc,
          '--sim',
          '4917000009',
          '--ca',
          dir,
          '--via',
          'scp81',
        ],
        2,
      );
      const triggered = runCli(
        ['--json', 'ota', 'trigger', '--store', store, '--smsc', smsc, '--sim', '4917000009'],
        env,
      );
      assert.ok([0, 3].includes(triggered.code ?? -1), triggered.stdout + triggered.stderr);
      check('ota trigger', triggered.stdout);
      const served = await startCli(
        ['--json', 'ota', 'serve', '--store', store, '--smsc', smsc],
        { ...env, IOTSAFE_OTA_TOKEN: 'a-test-token-of-the-json-suite' },
        /"url"/,
      );
      try {
        check('ota serve', await startedDocument(served));
      } finally {
        await served.stop();
      }
      const worker = await startCli(
        ['--json', 'ota', 'worker', '--store', store, '--smsc', smsc],
        env,
        /"store"/,
      );
      try {
        check('ota worker', worker.output());
      } finally {
        await worker.stop();
      }
    } finally {
      await network.stop();
    }
  });

  test('fleet and campaign commands (docs/fleet.md) over a simulated fleet', async () => {
    const csv = join(dir, 'fleet.csv');
    const simulated = await startCli(
      ['--json', 'fleet', 'simulate', '--sims', '20', '--off', '10', '--csv', csv, '--password', 'fleet'],
      env,
      /"smsc": "127\.0\.0\.1:(\d+)"/,
    );
    try {
      check('fleet simulate', await startedDocument(simulated));
      const store = ['--store', join(dir, 'fleet.db')];
      const imported = json('fleet import', ['fleet', 'import', csv, ...store, '--create']);
      assert.equal(imported.imported, 20);
      const listed = json('fleet list', ['fleet', 'list', ...store, '--tag', 'off']);
      assert.equal(listed.total, 3); // i × 37 mod 100 under 10: SIMs 0, 11 and 19
      const create = (name: string) =>
        json('campaign create', [
          'campaign',
          'create',
          ...store,
          '--name',
          name,
          '--batch',
          'sim',
          '--tar',
          'B00000',
          '--script',
          '00A40004022FE200B000000A',
          '--retry-no-por',
          '0',
          '--por-timeout',
          '500',
        ]).id as string;
      const id = create('read ICCID');
      const plan = json('campaign dry-run', ['campaign', 'dry-run', id, ...store, '--tps', '10']);
      assert.equal(plan.sms, 20);
      const smsc = `127.0.0.1:${simulated.match[1]}`;
      const ran = json('campaign start', [
        'campaign',
        'start',
        id,
        ...store,
        '--smsc',
        smsc,
        '--password',
        'fleet',
      ]) as { job: { state: string; progress: { states: Record<string, number> } } };
      assert.equal(ran.job.state, 'completed');
      assert.deepEqual(ran.job.progress.states, { done: 17, failed: 3 });
      json('campaign status', ['campaign', 'status', id, ...store]);
      const shown = json('fleet show', [
        'fleet',
        'show',
        (listed.sims as { iccid: string }[])[0]!.iccid,
        ...store,
      ]);
      assert.deepEqual(
        (shown.ledger as { state: string }[]).map((a) => a.state),
        ['no_por'],
      );
      // started with no worker here: it waits for one; pause, resume, cancel
      const held = create('held');
      json('campaign start', ['campaign', 'start', held, ...store]);
      json('campaign pause', ['campaign', 'pause', held, ...store]);
      json('campaign resume', ['campaign', 'resume', held, ...store]);
      const cancelled = json('campaign cancel', ['campaign', 'cancel', held, ...store]) as {
        job: { state: string };
      };
      assert.equal(cancelled.job.state, 'cancelled');
      json('error', ['campaign', 'resume', held, ...store], 2);
    } finally {
      await simulated.stop();
    }
  });

  const socat = peerAvailable('socat', ['-V']);
  test('sim serve and modem probe (emulated modem on a pty)', {
    skip: socat === true ? false : socat,
  }, async () => {
    const served = await startCli(
      ['--json', 'sim', 'serve', join(dir, 'sim'), '--tcp', '0', '--insecure-no-auth', '--modem', dir],
      env,
      /"modem": "[^"]+"\n/,
    );
    try {
      check('sim serve', await startedDocument(served));
      const probe = json('modem probe', ['modem', 'probe', join(dir, 'modem')]);
      assert.equal(probe.cgla, true);
    } finally {
      await served.stop();
    }
  });

  test('the demo summary, with --json after the command as `npm run demo -- --json` passes it', () => {
    const r = runCli(['demo', '--json', '--dir', join(dir, 'demo')], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const demo = check('demo', r.stdout) as { personalisation: { personalisationLock: string } };
    assert.equal(demo.personalisation.personalisationLock, 'ota', 'the factory locks over the air only');
  });

  test('the PKI commands (docs/pki.md): ca revoke, ca crl, est serve, renew', async () => {
    const ca = join(dir, 'ca'); // the CA and the SIM certificate of the first test
    const served = await startCli(
      ['--json', 'est', 'serve', '--ca', ca, '--port-file', join(dir, 'est.port')],
      env,
      /"auth"[^}]*}/,
    );
    try {
      const started = check('est serve', await startedDocument(served)) as { url: string };
      const renew = json('renew', [
        '--sim',
        join(dir, 'sim'),
        'renew',
        '--est',
        started.url,
        '--ca-cert',
        join(ca, 'ca.pem'),
        '--next-key-id',
        '04',
        '--next-cert-id',
        '03',
      ]);
      assert.equal(renew.renewed, false);
    } finally {
      await served.stop();
    }
    const revoked = json('ca revoke', [
      'ca',
      'revoke',
      '--ca',
      ca,
      '--cert',
      join(dir, 'device.pem'),
      '--reason',
      'superseded',
    ]);
    assert.equal(revoked.already, false);
    const crl = json('ca crl', ['ca', 'crl', '--ca', ca, '--out', join(dir, 'crl.pem')]);
    assert.equal(crl.revoked, 1);
    json('error', ['ca', 'revoke', '--ca', ca, '--serial', '01'], 2);
  });

  test('every schema was exercised (readers: in transports.test.ts, with pcscd; connect, mqtt, bip, coap and ota rotation cloud: in their tests)', () => {
    const coap = ['get', 'put', 'post', 'delete', 'observe'].map((m) => `coap ${m}`);
    const elsewhere = new Set([
      'common',
      'readers',
      'connect',
      'mqtt pub',
      'mqtt sub',
      'bip',
      ...coap,
      'ota rotation cloud', // rotation.test.ts: needs a rotation's device on the other side
    ]);
    const unexercised = schemas.map((s) => s.$id).filter((id) => !elsewhere.has(id) && !validated.has(id));
    assert.deepEqual(unexercised, []);
  });
});
