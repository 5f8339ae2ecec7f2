// `iotsafe sim serve` puts a SIM directory behind TCP, an emulated AT modem and the PC/SC reader of
// vpcd; the device commands reach it with --tcp, --modem and --reader, and what they change lands in
// the SIM directory. A card that cannot be reached exits 5.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, startCli } from '../../../test/helpers/cli.js';
import { freePort, peerAvailable, startIsolatedPcscd, VPCD_DRIVER } from '../../../test/helpers/peers.js';
import { checkJson } from './json-schemas.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-cli-transports-'));
const keyFile = join(dir, 'storage.key');
const sim = join(dir, 'sim');

after(() => rmSync(dir, { recursive: true, force: true }));

const iotsafe = (args: string[], extra: Record<string, string> = {}) =>
  runCli(args, { IOTSAFE_STORAGE_KEY_FILE: keyFile, ...extra });

/** `iotsafe sim serve …` in the background, resolved once every front end has said where it is. */
/** `iotsafe sim serve …` in the background, once the last of its front ends has said where it is. */
function serve(args: string[], last: RegExp) {
  return startCli(['sim', 'serve', sim, ...args], { IOTSAFE_STORAGE_KEY_FILE: keyFile }, last);
}

before(() => {
  writeFileSync(keyFile, `${'6b'.repeat(32)}\n`);
  assert.equal(iotsafe(['sim', 'create', sim, '--profile', 'type1']).code, 0);
});

const socat = peerAvailable('socat', ['-V']);
describe('iotsafe over TCP and an AT modem', { skip: socat === true ? false : socat }, () => {
  test('a key generated over --tcp is the one --modem reads and the SIM directory keeps', async () => {
    const port = await freePort();
    const access = join(dir, 'card.key');
    const served = await serve(
      ['--tcp', String(port), '--tcp-key', access, '--modem', dir, '--preset', 'cinterion'],
      /^emulating/m,
    );
    try {
      assert.match(served.output(), /a new access key is in .*card\.key \(owner-only\)/);
      assert.equal(statSync(access).mode & 0o777, 0o600);
      assert.match(readFileSync(access, 'utf8'), /^[0-9A-F]{64}\n$/);
      const card = ['--tcp', `127.0.0.1:${port}`, '--tcp-key', access];
      const keygen = iotsafe([...card, 'keygen', '--id', '01', '--force']);
      assert.equal(keygen.code, 0, keygen.stderr);
      const overModem = iotsafe(['--modem', join(dir, 'modem'), '--at-mode', 'cgla', 'pubkey', '--id', '01']);
      assert.equal(overModem.code, 0, overModem.stderr);
      assert.match(overModem.stdout.trim(), /^04[0-9A-F]{128}$/);
      assert.ok(keygen.stdout.includes(overModem.stdout.trim()), 'the point keygen printed');
      const sign = iotsafe(['--modem', join(dir, 'modem'), 'sign', '--id', '01', '--text', 'over AT']);
      assert.equal(sign.code, 0, sign.stderr);
      assert.match(sign.stdout.trim(), /^[0-9A-F]{128}$/);
      const verify = iotsafe([
        ...card,
        'verify',
        '--id',
        '01',
        '--text',
        'over AT',
        '--signature',
        sign.stdout.trim(),
      ]);
      assert.equal(verify.code, 0, verify.stderr + verify.stdout);
      assert.equal(await served.stop(), 0);
      assert.equal(iotsafe(['--sim', sim, 'pubkey', '--id', '01']).stdout, overModem.stdout);
    } finally {
      await served.stop();
    }
    assert.equal(existsSync(join(dir, 'modem')), false, 'the pty link is removed');
  });

  test('a silent port (the wrong ttyUSB): info exits 5 after the bound, probe says it is not the AT port', async () => {
    // a pty pair with nobody on the other side: what a modem's NMEA or diagnostic port looks like
    const silent = join(dir, 'silent');
    const socatPair = spawn('setpriv', [
      '--pdeathsig',
      'KILL',
      'socat',
      `pty,raw,echo=0,link=${silent}`,
      `pty,raw,echo=0,link=${silent}-other`,
    ]);
    try {
      for (let i = 0; i < 100 && !existsSync(silent); i++) await new Promise((r) => setTimeout(r, 50));
      const r = iotsafe(['--modem', silent, '--card-timeout', '300', 'info']);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /did not answer ATE0 within 300 ms: this port may not be the modem's AT port/);
      const probe = iotsafe(['--json', 'modem', 'probe', silent, '--timeout', '300']);
      assert.equal(probe.code, 5);
      const result = JSON.parse(probe.stdout);
      assert.equal(result.answers, false);
      assert.match(result.advice[0], /not the AT port.*ModemManager/);
    } finally {
      socatPair.kill();
    }
  });

  test('modem probe finds the applet through the emulated modem; --pin on a SIM without one is a warning', async () => {
    const served = await serve(['--modem', dir, '--preset', 'sequans'], /^emulating/m);
    try {
      const probe = iotsafe(['modem', 'probe', join(dir, 'modem')]);
      assert.equal(probe.code, 0, probe.stderr);
      assert.match(probe.stdout, /SIM PIN\s+READY/);
      assert.match(probe.stdout, /AT\+CCHO\/CGLA\s+yes, IoT SAFE applet found/);
      const withPin = iotsafe(['--modem', join(dir, 'modem'), '--pin', '1234', 'random', '4']);
      assert.equal(withPin.code, 0, withPin.stderr);
    } finally {
      await served.stop();
    }
    const tcpPin = iotsafe(['--sim', sim, '--pin', '1234', 'random', '4']);
    assert.equal(tcpPin.code, 0, tcpPin.stderr);
    assert.match(tcpPin.stderr, /no PIN to verify/);
    assert.equal(iotsafe(['--sim', sim, '--pin', '12ab', 'random', '4']).code, 2);
  });

  test('the TCP card authenticates its callers: no key, a wrong key, plain TCP against PSK-TLS are refused', async () => {
    const port = await freePort();
    const access = join(dir, 'auth.key');
    writeFileSync(access, `${'a5'.repeat(32)}\n`, { mode: 0o600 });
    const served = await serve(['--tcp', String(port), '--tcp-key', access], /^serving on tcp/m);
    try {
      assert.match(served.output(), /PSK-TLS, iotsafe --tcp … --tcp-key /);
      const card = `127.0.0.1:${port}`;
      const good = iotsafe(['--tcp', card, '--tcp-key', access, 'random', '4']);
      assert.equal(good.code, 0, good.stderr);
      const plain = iotsafe(['--tcp', card, '--card-timeout', '2000', 'random', '4']);
      assert.equal(plain.code, 5, plain.stderr);
      const wrong = join(dir, 'wrong.key');
      writeFileSync(wrong, `${'5a'.repeat(32)}\n`, { mode: 0o600 });
      const refused = iotsafe(['--tcp', card, '--tcp-key', wrong, 'random', '4']);
      assert.equal(refused.code, 5, refused.stderr);
      assert.match(refused.stderr, /refused the access key/);
      assert.doesNotMatch(refused.stderr, /5a5a|a5a5/i, 'no key in the error');
      const garbage = join(dir, 'garbage.key');
      writeFileSync(garbage, 'not hex\n', { mode: 0o600 });
      const bad = iotsafe(['--tcp', card, '--tcp-key', garbage, 'random', '4']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /the access key in .*garbage\.key must be 16, 17/);
      // the server is still there for the caller with the key
      assert.equal(iotsafe(['--tcp', card, '--tcp-key', access, 'random', '4']).code, 0);
    } finally {
      await served.stop();
    }
    const noAuth = iotsafe(['sim', 'serve', sim, '--tcp', '0']);
    assert.equal(noAuth.code, 2);
    assert.match(noAuth.stderr, /--tcp needs --tcp-key FILE .* or --insecure-no-auth on loopback/);
    const open = iotsafe(['sim', 'serve', sim, '--tcp', '0.0.0.0:40999', '--insecure-no-auth']);
    assert.equal(open.code, 2);
    assert.match(open.stderr, /--insecure-no-auth serves on a loopback address only, not 0\.0\.0\.0/);
  });

  test('an unreachable card exits 5 with where it looked; two transports at once is a usage error', async () => {
    const port = await freePort();
    const r = iotsafe(['--tcp', String(port), 'info']);
    assert.equal(r.code, 5);
    assert.match(r.stderr, new RegExp(`cannot reach the card at 127\\.0\\.0\\.1:${port}`));
    const missing = iotsafe(['--modem', join(dir, 'no-such-tty'), 'info']);
    assert.equal(missing.code, 5);
    assert.match(missing.stderr, /cannot open .*no-such-tty/);
    const both = iotsafe(['--tcp', String(port), '--modem', join(dir, 'x'), 'info']);
    assert.equal(both.code, 2);
    assert.equal(iotsafe(['--tcp', 'nowhere:port', 'info']).code, 2);
  });
});

function pcscAvailable(): true | string {
  const tools = peerAvailable('pcscd', ['--version']);
  if (tools !== true) return tools;
  if (existsSync(VPCD_DRIVER)) return true;
  if (process.env.CI === 'true') throw new Error('vsmartcard-vpcd is required in CI (installed by .ci/run)');
  return 'vsmartcard-vpcd is not installed';
}

const pcsc = pcscAvailable();
describe('iotsafe over PC/SC', { skip: pcsc === true ? false : pcsc }, () => {
  test('sim serve --vpcd inserts the SIM into a pcscd reader; --reader signs with it', async () => {
    const daemon = await startIsolatedPcscd(mkdtempSync(join(dir, 'pcscd-')));
    const served = await serve(['--vpcd', daemon.vpcd], /^inserting/m);
    try {
      const pcscEnv = { PCSCLITE_CSOCK_NAME: daemon.socket };
      let info = iotsafe(['--reader', 'Virtual PCD 00 00', 'info'], pcscEnv);
      for (let i = 0; i < 50 && info.code !== 0; i++) {
        await new Promise((r) => setTimeout(r, 100)); // pcscd polls vpcd for the card
        info = iotsafe(['--reader', 'Virtual PCD 00 00', 'info'], pcscEnv);
      }
      assert.equal(info.code, 0, info.stderr);
      assert.match(info.stdout, /A0000005590010/);
      const sign = iotsafe(['--reader', '0', 'sign', '--id', '01', '--text', 'over PC/SC'], pcscEnv);
      assert.equal(sign.code, 0, sign.stderr);
      assert.match(sign.stdout.trim(), /^[0-9A-F]{128}$/);
      const readers = iotsafe(['--json', 'readers'], pcscEnv);
      assert.equal(readers.code, 0, readers.stderr);
      const listed = checkJson('readers', readers.stdout) as { name: string; card: boolean; atr?: string }[];
      assert.equal(listed[0]!.name, 'Virtual PCD 00 00');
      assert.equal(listed[0]!.card, true);
      assert.match(listed[0]!.atr ?? '', /^3B/);
      assert.match(iotsafe(['readers'], pcscEnv).stdout, /0\s+Virtual PCD 00 00\s+present\s+3B/);
      const none = iotsafe(['--reader', 'No Such Reader', 'info'], pcscEnv);
      assert.equal(none.code, 5);
      assert.match(
        none.stderr,
        /no PC\/SC reader "No Such Reader" \(found: Virtual PCD 00 00, Virtual PCD 00 01\)/,
      );
    } finally {
      await served.stop();
      await daemon.stop();
    }
  });
});
