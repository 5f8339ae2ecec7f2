// `iotsafe ota encode | decode` as a pySim user would run them: the published vectors reproduced,
// every wrapping (packet, user data, SMS-DELIVER, ENVELOPE) opened, and wrong keys refused.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { runCli, startCli } from '../../../test/helpers/cli.js';
import { cliStep, otaReadySim } from '../../../test/helpers/ota-sim.js';

/** A port free on 0.0.0.0 right now. */
const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '0.0.0.0', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });

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
    const { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'iotsafe-cli-ota-'));
    const env = { IOTSAFE_STORAGE_KEY: '3d'.repeat(32) };
    try {
      const store = join(dir, 'ota.db');
      const sim = otaReadySim(dir, env, { store, iccid: '8988211000000467285', msisdn: '4917000001' });
      const step = (args: string[]) => cliStep(args, env);
      const network = await startCli(
        ['ota', 'network', sim, '--msisdn', '4917000001'],
        env,
        /SMSC on 127\.0\.0\.1:(\d+)/,
      );
      try {
        const port = network.match[1]!;
        const spn = `01${Buffer.from('cli over sms').toString('hex')}ffffffff`;
        const smsc = ['--store', store, '--smsc', `127.0.0.1:${port}`];
        const send = (script: string, options: string[] = [], at = smsc) => [
          'ota',
          'send',
          ...at,
          '--iccid',
          '8988211000000467285',
          '--tar',
          'B00000',
          '--script',
          script,
          ...options,
        ];
        const sent = step(['--json', ...send(`00a40004027f2000a40004026f4600d6000011${spn}00b0000011`)]);
        const result = JSON.parse(sent);
        assert.equal(result.por.status, 'ok');
        assert.equal(result.counter, 1);
        assert.equal(result.por.data.toLowerCase(), `049000${spn}`);

        // --trace: every SMS and PoR decoded, the data of STORE DATA (key material) redacted
        const traced = iotsafe(
          [
            '--trace',
            'ota',
            'send',
            ...smsc,
            '--to',
            '4917000001',
            '--tar',
            '000000',
            '--script',
            '80E2800005DEADBEEF01',
          ],
          env,
        );
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
        const silent = iotsafe(
          [
            'ota',
            'send',
            ...smsc,
            '--to',
            '4917000099',
            '--tar',
            'B00000',
            '--script',
            '00A40004022FE2',
            '--timeout',
            '1500',
          ],
          env,
        );
        assert.equal(silent.code, 1);
        assert.match(
          silent.stderr,
          /… waiting for the PoR from 4917000099 \(attempt 1 of 2, up to 1\.5 s each\)/,
        );
        assert.match(silent.stderr, /no PoR from 4917000099/);
        assert.match(silent.stderr, /hint: .*ota network/);

        // the same through `ota serve`: the SMPP link stays up, scripts come in on POST /send
        const tokenFile = join(dir, 'ota.token');
        writeFileSync(tokenFile, `${'7e'.repeat(24)}\n`, { mode: 0o600 });
        const served = await startCli(
          ['ota', 'serve', ...smsc, '--token-file', tokenFile],
          env,
          /POST (http:\/\/127\.0\.0\.1:\d+\/send)/,
        );
        try {
          const url = served.match[1]!;
          const post = (body: unknown, token = '7e'.repeat(24)) =>
            fetch(url, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
              body: JSON.stringify(body),
            }).then(async (r) => ({ status: r.status, json: (await r.json()) as Record<string, unknown> }));
          const script = { to: '4917000001', tar: 'B00000', script: '00a40004022fe200b000000a' };
          assert.equal((await post(script, 'not-the-token-00000000')).status, 401);
          const accepted = await post(script);
          assert.equal(accepted.status, 202, JSON.stringify(accepted.json));
          let job: { state?: string; result?: { status?: number; counter?: string } } = {};
          for (let i = 0; i < 100 && (!job.state || job.state === 'running'); i++) {
            await new Promise((resolve) => setTimeout(resolve, 100));
            job = await fetch(url.replace(/\/send$/, `/jobs/${accepted.json.job}`), {
              headers: { authorization: `Bearer ${'7e'.repeat(24)}` },
            }).then((r) => r.json() as typeof job);
          }
          assert.equal(job.result?.status, 0, JSON.stringify(job));
          assert.equal(job.result?.counter, '3', 'the counter went on from the ones `ota send` used');
          assert.equal((await post({ to: '4917000001', tar: 'nope', script: '' })).status, 400);
          assert.equal((await post({ to: '0000', tar: 'B00000', script: '00' })).status, 404);
          assert.ok(!served.output().includes('7e'.repeat(24)), 'the token is never printed');
        } finally {
          await served.stop();
        }

        // serve refuses to start without a token, and without one off loopback even when asked
        const noToken = iotsafe(['ota', 'serve', ...smsc], env);
        assert.equal(noToken.code, 2);
        assert.match(noToken.stderr, /needs a bearer token: --token-file FILE or IOTSAFE_OTA_TOKEN/);
        const open = iotsafe(['ota', 'serve', ...smsc, '--insecure-no-auth', '--listen', '0.0.0.0:1'], env);
        assert.equal(open.code, 2);
        assert.match(open.stderr, /loopback address only/);
        // bound to every interface, it says so; the token may come from the environment
        const anyAddress = await startCli(
          ['ota', 'serve', ...smsc, '--listen', `0.0.0.0:${await freePort()}`],
          { ...env, IOTSAFE_OTA_TOKEN: '5a'.repeat(20) },
          /POST (http:\/\/[^/]+)\/send .*IOTSAFE_OTA_TOKEN/,
        );
        try {
          assert.match(anyAddress.match[1]!, /^http:\/\/0\.0\.0\.0:\d+$/);
        } finally {
          await anyAddress.stop();
        }

        // a mistyped store is an error, not a new empty store; a wrong storage key is exit 4
        const typo = iotsafe(
          send('00', [], ['--store', join(dir, 'otadb'), '--smsc', `127.0.0.1:${port}`]),
          env,
        );
        assert.equal(typo.code, 2);
        assert.match(typo.stderr, /no OTA key store at .*otadb/);
        assert.equal(existsSync(join(dir, 'otadb')), false);
        const wrongKey = iotsafe(send('00'), { IOTSAFE_STORAGE_KEY: '3e'.repeat(32) });
        assert.equal(wrongKey.code, 4);
        assert.match(wrongKey.stderr, /sealed under another storage key/);
        const inbox = iotsafe(send('00', ['--dcs', '04']), env);
        assert.equal(inbox.code, 2);
        assert.match(inbox.stderr, /only 8-bit class 2/);
        assert.equal(statSync(store).mode & 0o777, 0o600);
      } finally {
        await network.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
