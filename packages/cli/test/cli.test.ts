// The iotsafe command as a user runs it: outputs, --json, --trace, and exit codes with messages a
// user can act on (0 ok, 1 failure/invalid signature, 2 usage, 3 status word, 4 SIM or storage key).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../../test/helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-cli-'));
const keyFile = join(dir, 'storage.key');
const sim = join(dir, 'sim');
after(() => rmSync(dir, { recursive: true, force: true }));

const iotsafe = (args: string[], env: Record<string, string> = { IOTSAFE_STORAGE_KEY_FILE: keyFile }) =>
  runCli(args, env);

before(() => {
  writeFileSync(keyFile, `${'5a'.repeat(32)}\n`, { mode: 0o600 });
  const created = iotsafe(['sim', 'create', sim, '--profile', 'type1']);
  assert.equal(created.code, 0, created.stderr);
});

describe('iotsafe against a SIM directory', () => {
  test('info --json names the applet and its capacities', () => {
    const r = iotsafe(['--sim', sim, '--json', 'info']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.aid, 'A0000005590010');
    assert.equal(info.maxPrivateKeys, 2);
  });

  test('keygen, pubkey, sign and verify round trip; a wrong signature exits 1', () => {
    const gen = iotsafe(['--sim', sim, '--json', 'keygen', '--id', '01', '--force']);
    assert.equal(gen.code, 0, gen.stderr);
    const point = JSON.parse(gen.stdout).point as string;
    assert.equal(iotsafe(['--sim', sim, 'pubkey', '--id', '01']).stdout.trim(), point);
    assert.match(iotsafe(['--sim', sim, 'pubkey', '--id', '01', '--pem']).stdout, /BEGIN PUBLIC KEY/);
    const sig = iotsafe(['--sim', sim, 'sign', '--id', '01', '--text', 'hello']).stdout.trim();
    assert.match(sig, /^[0-9A-F]{128}$/);
    const ok = iotsafe(['--sim', sim, 'verify', '--id', '01', '--text', 'hello', '--signature', sig]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /valid/);
    const bad = iotsafe(['--sim', sim, 'verify', '--id', '01', '--text', 'hellO', '--signature', sig]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /does NOT match/);
  });

  test('csr writes a request openssl accepts; write-file and read-file round-trip a certificate', () => {
    const csrFile = join(dir, 'device.csr');
    const r = iotsafe(['--sim', sim, 'csr', '--id', '01', '--cn', 'cli-device', '--out', csrFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(readFileSync(csrFile, 'utf8'), /BEGIN CERTIFICATE REQUEST/);
    const verify = spawnSync('openssl', ['req', '-in', csrFile, '-verify', '-noout'], { encoding: 'utf8' });
    if (verify.error === undefined) assert.equal(verify.status, 0, verify.stderr);
    const ca = join(dir, 'ca');
    assert.equal(iotsafe(['ca', 'init', ca]).code, 0);
    const pem = join(dir, 'device.pem');
    const issued = iotsafe(['ca', 'issue', '--ca', ca, '--csr', csrFile, '--out', pem]);
    assert.equal(issued.code, 0, issued.stderr);
    const written = iotsafe([
      '--sim',
      sim,
      'sim',
      'write-file',
      '--label',
      'device-certificate',
      '--key-id',
      '01',
      '--in',
      pem,
    ]);
    assert.equal(written.code, 0, written.stderr);
    const der = Buffer.from(readFileSync(pem, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
    assert.equal(
      iotsafe(['--sim', sim, 'read-file', '--id', '02']).stdout.trim(),
      der.toString('hex').toUpperCase(),
    );
  });

  test('objects lists every container; random gives N bytes; --trace shows APDUs on stderr', () => {
    const list = iotsafe(['--sim', sim, 'objects']);
    assert.match(list.stdout, /device-key/);
    assert.equal(list.stdout.trim().split('\n').length, 9);
    const random = iotsafe(['--sim', sim, '--trace', 'random', '16']);
    assert.match(random.stdout.trim(), /^[0-9A-F]{32}$/);
    assert.match(random.stderr, /→ 81 84 00 00 10/);
    assert.ok(
      !random.stderr.replace(/ /g, '').includes(random.stdout.trim().slice(0, 12)),
      'random bytes are redacted',
    );
    assert.match(random.stderr, /<16 bytes redacted> 9000/);
  });
});

describe('errors a user can act on', () => {
  test('no storage key: exit 4, naming the variables to set', () => {
    const r = iotsafe(['--sim', sim, 'info'], {});
    assert.equal(r.code, 4);
    assert.match(r.stderr, /IOTSAFE_STORAGE_KEY/);
  });
  test('a wrong storage key: exit 4', () => {
    const wrong = join(dir, 'wrong.key');
    writeFileSync(wrong, '11'.repeat(32));
    const r = iotsafe(['--sim', sim, 'info'], { IOTSAFE_STORAGE_KEY_FILE: wrong });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /wrong storage key/);
  });
  test('an unknown object: exit 3 with the status word', () => {
    const r = iotsafe(['--sim', sim, 'read-file', '--id', '99']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /6A82/);
  });
  test('usage errors: exit 2', () => {
    assert.equal(iotsafe(['--sim', sim, 'sign', '--text', 'x']).code, 2);
    assert.equal(iotsafe(['info']).code, 2);
    assert.equal(iotsafe(['--sim', sim, 'random', '999']).code, 2);
    assert.equal(iotsafe(['frobnicate']).code, 2);
    assert.equal(iotsafe(['sim', 'create', join(dir, 'x'), '--profile', join(dir, 'absent.json')]).code, 2);
  });
});

describe('the demo', () => {
  test('the demo tells the story end to end: SCP03 personalisation, mTLS, PSK, OTA, SCP81, a campaign, reconnect, rotation', () => {
    const r = iotsafe(['demo', '--dir', join(dir, 'demo')], {});
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /SCP03 \(level 33\) STORE DATA: \d+ operations, the key pair generated in the SIM/,
    );
    assert.match(
      r.stdout,
      /certificate → file 02, CA → file 03; SCP80 key set 01 loaded \(PUT KEY\); personalisation locked \(A0FF\): administered over the air from now on/,
    );
    assert.match(r.stdout, /SCP81 key set 40 \(TLS-PSK, DEK\) by PUT KEY; the ISD's admin parameters/);
    assert.match(r.stdout, /sign offload, sessions end by INIT close : TLSv1\.3 \S+, 3 APDUs/);
    assert.match(
      r.stdout,
      /full offload, sessions end by INIT close : TLSv1\.3 \S+, 9 APDUs.*hello demo-device-0001/,
    );
    assert.match(r.stdout, /sign offload, sessions end by final UPDATE: TLSv1\.3 \S+, 2 APDUs/);
    assert.match(
      r.stdout,
      /full offload, sessions end by final UPDATE: TLSv1\.3 \S+, 7 APDUs.*hello demo-device-0001/,
    );
    assert.match(r.stdout, /TLSv1\.3 TLS_AES_128_GCM_SHA256 with PSK identity demo-device-0002: 1 APDU/);
    assert.match(r.stdout, /RAM PUT KEY \(key set 02, keys wrapped by KIK 01\): CNTR 1, PoR ok/);
    assert.match(r.stdout, /RFM under key set 02: EF SPN written and read back: PoR ok/);
    assert.match(r.stdout, /the device \(IoT SAFE client\) reads file 07: the \d+ bytes written/);
    assert.match(r.stdout, /campaign demo: .*: completed, 40 of 40 SIMs ended/);
    assert.match(
      r.stdout,
      /the device reconnected with the pending key 11: the cloud accepted it, the rotation committed/,
    );
    // the cloud that checks the CRL in the handshake (openssl s_server) refuses the old certificate as revoked
    assert.match(
      r.stdout,
      /the device with key 11 accepted .*; a client presenting the old certificate refused with certificate_revoked \(alert 44\)/,
    );
    assert.match(r.stdout, /TLS 1\.3 PSK on the new one: hello .*; the old identity refused/);
    assert.match(
      r.stdout,
      /sign offload, resumed session \(no certificate\): TLSv1\.3 \S+, 0 APDUs.*hello demo-device-0001/,
    );
    assert.match(r.stdout, /Done in \d+ ms, \d+ APDUs/);
  });
  test('--json prints one summary: every chapter, the APDU counts, the time', () => {
    const r = iotsafe(['--json', 'demo', '--dir', join(dir, 'demo-json')], {});
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.ok, true);
    assert.deepEqual(
      summary.tls.map((t: { apdus: number }) => t.apdus),
      [3, 9, 2, 7],
    );
    assert.equal(summary.psk.apdus, 1);
    assert.equal(summary.ota.putKey.por, 'ok');
    assert.equal(summary.ota.rfm.por, 'ok');
    assert.equal(summary.reconnect.resumed.apdus, 0);
    assert.equal(summary.rotation.certificate.refusal, 'openssl s_server: certificate_revoked (alert 44)');
    assert.equal(typeof summary.milliseconds, 'number');
  });
});

describe('the README example', () => {
  test('examples/quickstart.ts runs and verifies', () => {
    const example = fileURLToPath(new URL('../../../examples/quickstart.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--conditions=development', '--import', 'tsx', example], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /verified\s+true/);
  });
});

describe('iotsafe gp: personalise a blank SIM over SCP03, then use it', () => {
  const blank = join(dir, 'blank');
  const gpKeys = join(dir, 'gp.keys');
  test('sim create blank, gp info/list/perso, then sign and read the certificate with the IoT SAFE client', () => {
    writeFileSync(gpKeys, '# GP test key, tests only\n404142434445464748494A4B4C4D4E4F\n');
    assert.equal(iotsafe(['sim', 'create', blank, '--profile', 'blank', '--isd-keys-file', gpKeys]).code, 0);
    const info = iotsafe(['--sim', blank, '--json', 'gp', '--keys-file', gpKeys, 'info']);
    assert.equal(info.code, 0, info.stderr);
    assert.equal(JSON.parse(info.stdout).keys.length, 3);
    const list = iotsafe(['--sim', blank, 'gp', '--keys-file', gpKeys, '--level', 'renc', 'list']);
    assert.match(list.stdout, /APP\s+A0000005590010\s+SELECTABLE/);
    const profile = join(dir, 'perso.json');
    writeFileSync(
      profile,
      JSON.stringify({
        containers: [
          { class: 'privateKey', id: '01', label: 'device-key', key: 'generate', publicKeyId: '01' },
          { class: 'publicKey', id: '01', functions: ['verify'], access: ['read'] },
          {
            class: 'file',
            id: '02',
            label: 'device-certificate',
            usage: 'certificate',
            content: { hex: '3003020107' },
          },
        ],
      }),
    );
    const perso = iotsafe([
      '--sim',
      blank,
      '--trace',
      'gp',
      '--keys-file',
      gpKeys,
      'perso',
      profile,
      '--lock',
    ]);
    assert.equal(perso.code, 0, perso.stderr);
    assert.match(perso.stdout, /personalised: 6 operations, personalisation locked/);
    assert.match(perso.stderr, /→ 84 E2/, 'STORE DATA travelled protected');
    assert.doesNotMatch(perso.stderr, /404142434445464748494A4B4C4D4E4F/i, 'keys are never echoed');
    assert.equal(
      iotsafe(['--sim', blank, 'read-file', '--label', 'device-certificate']).stdout.trim(),
      '3003020107',
    );
    const sig = iotsafe(['--sim', blank, 'sign', '--id', '01', '--text', 'hi']).stdout.trim();
    assert.equal(
      iotsafe(['--sim', blank, 'verify', '--id', '01', '--text', 'hi', '--signature', sig]).code,
      0,
    );
  });
  test('wrong GP keys fail cleanly (exit 1, no key echoed); missing keys are a usage error', () => {
    const wrong = iotsafe(['--sim', blank, 'gp', '--key', '00112233445566778899AABBCCDDEEFF', 'info']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /wrong keys or diversification/);
    assert.doesNotMatch(wrong.stderr, /00112233445566778899/i);
    assert.equal(iotsafe(['--sim', blank, 'gp', 'info']).code, 2);
  });
  test('put-key, then the new keys open the ISD; lock hides the applet, unlock restores it', () => {
    const newKeys = join(dir, 'new.keys');
    writeFileSync(
      newKeys,
      'enc=11111111111111111111111111111111\nmac=22222222222222222222222222222222\ndek=33333333333333333333333333333333\n',
    );
    assert.equal(
      iotsafe([
        '--sim',
        blank,
        'gp',
        '--keys-file',
        gpKeys,
        'put-key',
        '--new-kvn',
        '31',
        '--new-keys-file',
        newKeys,
      ]).code,
      0,
    );
    assert.equal(iotsafe(['--sim', blank, 'gp', '--keys-file', newKeys, '--kvn', '31', 'lock']).code, 0);
    const locked = iotsafe(['--sim', blank, 'random', '8']);
    assert.equal(locked.code, 3);
    assert.equal(iotsafe(['--sim', blank, 'gp', '--keys-file', newKeys, '--kvn', '31', 'unlock']).code, 0);
    assert.equal(iotsafe(['--sim', blank, 'random', '8']).code, 0);
  });
});

describe('safe by default', () => {
  const safe = join(dir, 'safe');
  const env = { IOTSAFE_STORAGE_KEY_FILE: keyFile };
  before(() => {
    assert.equal(iotsafe(['sim', 'create', safe, '--profile', 'type1']).code, 0);
    assert.equal(iotsafe(['ca', 'init', join(dir, 'safe-ca')]).code, 0);
  });

  test('write-file refuses a PEM private key, bytes that are not a certificate, and a certificate for another key', () => {
    const keyPem = join(dir, 'private.pem');
    const made = spawnSync('openssl', [
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      keyPem,
    ]);
    if (made.error)
      writeFileSync(keyPem, '-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n');
    const key = iotsafe(['--sim', safe, 'sim', 'write-file', '--id', '02', '--in', keyPem], env);
    assert.equal(key.code, 2);
    assert.match(key.stderr, /is a private key: keys never go into a file container/);
    const junk = join(dir, 'junk.bin');
    writeFileSync(junk, 'not a certificate');
    const notCert = iotsafe(['--sim', safe, 'sim', 'write-file', '--id', '02', '--in', junk], env);
    assert.equal(notCert.code, 2);
    assert.match(notCert.stderr, /not an X\.509 certificate \(pass --raw/);
    // a certificate issued for another SIM's key
    const other = join(dir, 'other');
    assert.equal(iotsafe(['sim', 'create', other, '--profile', 'type1']).code, 0);
    const csr = join(dir, 'other.csr');
    assert.equal(iotsafe(['--sim', other, 'csr', '--id', '01', '--cn', 'other', '--out', csr]).code, 0);
    const cert = join(dir, 'other.pem');
    assert.equal(iotsafe(['ca', 'issue', '--ca', join(dir, 'safe-ca'), '--csr', csr, '--out', cert]).code, 0);
    const wrong = iotsafe(
      ['--sim', safe, 'sim', 'write-file', '--id', '02', '--key-id', '01', '--in', cert],
      env,
    );
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /issued for another key/);
    // --raw stores any bytes; then replacing them needs --force
    assert.equal(iotsafe(['--sim', safe, 'sim', 'write-file', '--id', '02', '--raw', '--in', junk]).code, 0);
    const again = iotsafe(['--sim', safe, 'sim', 'write-file', '--id', '02', '--in', cert], env);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already holds 17 bytes: pass --force/);
    assert.equal(
      iotsafe(['--sim', safe, 'sim', 'write-file', '--id', '02', '--force', '--in', cert]).code,
      0,
    );
  });

  test('keygen over a filled container needs --force, and nothing changes without it', () => {
    const before = iotsafe(['--sim', safe, 'pubkey', '--id', '01']).stdout;
    const refused = iotsafe(['--sim', safe, 'keygen', '--id', '01']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /already holds a key.*--force/);
    assert.equal(iotsafe(['--sim', safe, 'pubkey', '--id', '01']).stdout, before);
    assert.equal(iotsafe(['--sim', safe, 'keygen', '--id', '01', '--force']).code, 0);
    assert.notEqual(iotsafe(['--sim', safe, 'pubkey', '--id', '01']).stdout, before);
  });

  test('gp delete and set-state terminated refuse without --yes, before any APDU; lock names its way back', () => {
    const gpSim = join(dir, 'safe-gp');
    const gpKeys = join(dir, 'safe-gp.keys');
    assert.equal(iotsafe(['keys', 'new', '--gp', gpKeys]).code, 0);
    assert.equal(iotsafe(['sim', 'create', gpSim, '--profile', 'type1', '--isd-keys-file', gpKeys]).code, 0);
    const gp = ['--sim', gpSim, '--trace', 'gp', '--keys-file', gpKeys];
    for (const args of [['delete'], ['delete', '--key-set', '30'], ['set-state', 'terminated']]) {
      const r = iotsafe([...gp, ...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /cannot be undone: pass --yes/);
      assert.doesNotMatch(r.stderr, /→/, 'no APDU was sent');
    }
    assert.equal(iotsafe(['--sim', gpSim, 'gp', '--keys-file', gpKeys, 'lock']).code, 0);
    const locked = iotsafe(['--sim', gpSim, 'random', '4']);
    assert.equal(locked.code, 3);
    assert.match(locked.stderr, /hint: .*gp unlock/);
    assert.equal(iotsafe(['--sim', gpSim, 'gp', '--keys-file', gpKeys, 'unlock']).code, 0);
    assert.equal(
      iotsafe(['--sim', gpSim, 'gp', '--keys-file', gpKeys, 'set-state', 'terminated', '--yes']).code,
      0,
    );
    assert.equal(iotsafe(['--sim', gpSim, 'random', '4']).code, 3);
  });

  test('key files are written 0600 and never replaced silently; a readable key file gets a warning', () => {
    const gpKeys = join(dir, 'mode.keys');
    assert.equal(iotsafe(['keys', 'new', '--gp', gpKeys]).code, 0);
    assert.equal(statSync(gpKeys).mode & 0o777, 0o600);
    assert.match(readFileSync(gpKeys, 'utf8'), /^enc=[0-9A-F]{32}\nmac=[0-9A-F]{32}\ndek=[0-9A-F]{32}$/m);
    const again = iotsafe(['keys', 'new', '--gp', gpKeys]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /exists: pass --force/);
    const ca = join(dir, 'safe-ca');
    assert.equal(statSync(join(ca, 'ca.key')).mode & 0o777, 0o600);
    assert.doesNotMatch(readFileSync(join(ca, 'ca.key'), 'utf8'), /PRIVATE KEY/, 'the CA key is sealed');
    chmodSync(gpKeys, 0o644);
    const warned = iotsafe([
      'sim',
      'create',
      join(dir, 'warned'),
      '--profile',
      'blank',
      '--isd-keys-file',
      gpKeys,
    ]);
    assert.equal(warned.code, 0);
    assert.match(
      warned.stderr,
      /mode\.keys holds keys and is accessible by others \(mode 644\); run chmod 600/,
    );
    chmodSync(keyFile, 0o640);
    try {
      assert.match(
        iotsafe(['--sim', safe, 'random', '4']).stderr,
        /storage\.key can be read by others \(mode 0640\)/,
      );
    } finally {
      chmodSync(keyFile, 0o600);
    }
  });

  test('--version, and npm run iotsafe resolves paths from where npm was started (INIT_CWD)', () => {
    assert.match(iotsafe(['--version']).stdout, /^\d+\.\d+\.\d+\n$/);
    const sub = mkdtempSync(join(fileURLToPath(new URL('../../../', import.meta.url)), '.init-cwd-'));
    try {
      const r = spawnSync('npm', ['run', '-s', 'iotsafe', '--', 'keys', 'new', '--psk', './psk.key'], {
        cwd: sub,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', HOME: sub },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(
        existsSync(join(sub, 'psk.key')),
        'written in the directory npm ran in, not the repository root',
      );
    } finally {
      rmSync(sub, { recursive: true, force: true });
    }
  });
});
