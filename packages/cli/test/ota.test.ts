// `iotsafe ota encode | decode` as a pySim user would run them: the published vectors reproduced,
// every wrapping (packet, user data, SMS-DELIVER, ENVELOPE) opened, and wrong keys refused.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli, startCli } from '../../../test/helpers/cli.js';

const KIC = '200102030405060708090a0b0c0d0e0f';
const KID = '201102030405060708090a0b0c0d0e0f';
const PACKET = '00281506192222B00011E87CCEEBB2D93083011CE294F93FC4D8DE80DA1ABAE8C37CA3E72EC4432E5058'; // pysim-aes128-cipher-cc

const iotsafe = runCli;

describe('iotsafe ota', () => {
  const common = [
    '--spi',
    '0619',
    '--kic',
    '22',
    '--tar',
    'b00011',
    '--counter',
    '0',
    '--script',
    '00a40004023f00',
  ];
  test('encode reproduces the pySim AES vector; keys from the environment work too', () => {
    const r = iotsafe(['ota', 'encode', ...common, '--kic-key', KIC, '--kid-key', KID]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), PACKET);
    const env = iotsafe(['ota', 'encode', ...common], { IOTSAFE_OTA_KIC: KIC, IOTSAFE_OTA_KID: KID });
    assert.equal(env.stdout.trim(), PACKET);
    assert.ok(!r.stdout.includes(KIC.toUpperCase()) && !r.stderr.includes(KIC), 'keys are never printed');
  });
  test('decode opens the packet in every wrapping', () => {
    for (const form of ['packet', 'user-data', 'sms-deliver', 'envelope']) {
      const wrapped = iotsafe([
        'ota',
        'encode',
        ...common,
        '--kic-key',
        KIC,
        '--kid-key',
        KID,
        '--as',
        form,
      ]).stdout.trim();
      const r = iotsafe(['--json', 'ota', 'decode', wrapped, '--kic-key', KIC, '--kid-key', KID]);
      assert.equal(r.code, 0, `${form}: ${r.stderr}`);
      const decoded = JSON.parse(r.stdout);
      assert.equal(decoded.tar, 'B00011');
      assert.deepEqual(decoded.commands, ['00A40004023F00']);
    }
  });
  test('a PoR decodes with the compact response; a wrong key or a missing SPI is refused clearly', () => {
    const por = '027100002412b00011ebc6b497e2cad7aedf36ace0e3a29b38853f0fe9ccde81913be5702b73abce1f';
    const r = iotsafe([
      'ota',
      'decode',
      por,
      '--spi',
      '0619',
      '--kic',
      '22',
      '--kic-key',
      KIC,
      '--kid-key',
      KID,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /00 PoR OK/);
    assert.match(r.stdout, /1 executed, last SW 6132/);
    const wrong = iotsafe(['ota', 'decode', PACKET, '--kic-key', KIC, '--kid-key', '00'.repeat(16)]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /RC\/CC\/DS failed/);
    assert.equal(iotsafe(['ota', 'decode', por, '--kic-key', KIC, '--kid-key', KID]).code, 2);
    assert.equal(iotsafe(['ota', 'encode', ...common, '--kic-key', 'zz']).code, 2);
  });
});

describe('iotsafe ota over SMPP, end to end', () => {
  test('SCP80 keys loaded by gp put-key; a script sent through the local SMSC updates EF SPN', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'iotsafe-cli-ota-'));
    const env = { IOTSAFE_STORAGE_KEY: '3d'.repeat(32) };
    try {
      const sim = join(dir, 'sim');
      writeFileSync(join(dir, 'gp.keys'), `${'40'.repeat(16)}\n`);
      writeFileSync(join(dir, 'scp80.keys'), `enc=${KIC}\nmac=${KID}\ndek=${'33'.repeat(16)}\n`);
      writeFileSync(join(dir, 'ota.keys'), `kic=${KIC}\nkid=${KID}\n`);
      const step = (args: string[]) => {
        const r = iotsafe(args, env);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      step(['sim', 'create', sim, '--profile', 'type1', '--isd-keys-file', join(dir, 'gp.keys')]);
      step([
        '--sim',
        sim,
        'gp',
        '--keys-file',
        join(dir, 'gp.keys'),
        'put-key',
        '--new-kvn',
        '01',
        '--new-keys-file',
        join(dir, 'scp80.keys'),
      ]);
      const store = join(dir, 'ota.db');
      step([
        'ota',
        'add-sim',
        '--store',
        store,
        '--iccid',
        '8988211000000467285',
        '--msisdn',
        '4917000001',
        '--kic',
        '12',
        '--keys-file',
        join(dir, 'ota.keys'),
      ]);
      const network = await startCli(
        ['ota', 'network', sim, '--msisdn', '4917000001'],
        env,
        /SMSC on 127\.0\.0\.1:(\d+)/,
      );
      try {
        const port = network.match[1]!;
        const spn = `01${Buffer.from('cli over sms').toString('hex')}ffffffff`;
        const sent = step([
          '--json',
          'ota',
          'send',
          '--store',
          store,
          '--smsc',
          `127.0.0.1:${port}`,
          '--iccid',
          '8988211000000467285',
          '--tar',
          'B00000',
          '--script',
          `00a40004027f2000a40004026f4600d6000011${spn}00b0000011`,
        ]);
        const result = JSON.parse(sent);
        assert.equal(result.por.status, 'ok');
        assert.equal(result.counter, 1);
        assert.equal(result.por.data.toLowerCase(), `049000${spn}`);

        // --trace: every SMS and PoR decoded, the data of STORE DATA (key material) redacted
        const send = (flags: string[], to: string, tar: string, script: string, ...more: string[]) =>
          iotsafe(
            [
              ...flags,
              'ota',
              'send',
              '--store',
              store,
              '--smsc',
              `127.0.0.1:${port}`,
              '--to',
              to,
              '--tar',
              tar,
              '--script',
              script,
              ...more,
            ],
            env,
          );
        const traced = send(['--trace'], '4917000001', '000000', '80E2800005DEADBEEF01');
        assert.match(traced.stderr, /SMS → 4917000001: \d+ bytes of user data/);
        assert.match(traced.stderr, /SPI 1619 \(ciphered, CC, counter higher/);
        assert.match(traced.stderr, /compact script: 80E2800005 <5 bytes redacted>/);
        assert.match(traced.stderr, /PoR TAR 000000, CNTR 2, status ok/);
        assert.doesNotMatch(traced.stderr + traced.stdout, /DEADBEEF/i);
        assert.doesNotMatch(traced.stderr, new RegExp(KIC, 'i'));
        // a SIM no handset answers for: a progress line while waiting, then a timeout with a hint
        step([
          'ota',
          'add-sim',
          '--store',
          store,
          '--iccid',
          '8988211000000467286',
          '--msisdn',
          '4917000099',
          '--kic',
          '12',
          '--keys-file',
          join(dir, 'ota.keys'),
        ]);
        const silent = send([], '4917000099', 'B00000', '00A40004022FE2', '--timeout', '1500');
        assert.equal(silent.code, 1);
        assert.match(
          silent.stderr,
          /… waiting for the PoR from 4917000099 \(attempt 1 of 2, up to 1\.5 s each\)/,
        );
        assert.match(silent.stderr, /no PoR from 4917000099/);
        assert.match(silent.stderr, /hint: .*ota network/);

        // the same through `ota serve`: the SMPP link stays up, scripts come in on POST /send
        const served = await startCli(
          ['ota', 'serve', '--store', store, '--smsc', `127.0.0.1:${port}`],
          env,
          /POST (http:\/\/127\.0\.0\.1:\d+\/send)/,
        );
        try {
          const url = served.match[1]!;
          const post = (body: unknown) =>
            fetch(url, { method: 'POST', body: JSON.stringify(body) }).then(async (r) => ({
              status: r.status,
              json: (await r.json()) as Record<string, unknown>,
            }));
          const ok = await post({ to: '4917000001', tar: 'B00000', script: '00a40004022fe200b000000a' });
          assert.equal(ok.status, 200, JSON.stringify(ok.json));
          assert.equal(ok.json.status, 0);
          assert.equal(ok.json.counter, '3', 'the counter went on from the ones `ota send` used');
          assert.equal((await post({ to: '4917000001', tar: 'nope', script: '' })).status, 400);
          assert.equal((await post({ to: '0000', tar: 'B00000', script: '00' })).status, 400);
        } finally {
          await served.stop();
        }
      } finally {
        await network.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
