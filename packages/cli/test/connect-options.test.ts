// iotsafe connect's s_client-like options: --scp03-keys-file (the applet through a secure channel, both
// offload levels), --keylog, --showcerts, --timeout, --min-tls/--max-tls, and the usage errors of
// --groups, --ciphers and the version flags (exit 2, before any connection).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { bytesToHex, hexToBytes } from '@iotsafe/protocol';
import { TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { GP_TEST_KEYS } from '../../../test/helpers/cards.js';
import { runCliAsync } from '../../../test/helpers/cli.js';
import { type NodeTlsServer, startNodeTlsServer } from '../../../test/helpers/peers.js';
import { mutualTlsOptions, testPki } from '../../../test/helpers/pki.js';
import { certifySimKey } from '../../../test/helpers/sim-tls.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-connect-options-'));
const pki = testPki();
const STORAGE_KEY = '3d'.repeat(32);
const simDir = join(dir, 'sim');
const keysFile = join(dir, 'scp03.keys');
const caFile = join(dir, 'ca.pem');
let server: NodeTlsServer;

before(async () => {
  // A SIM whose ISD knows the SCP03 test keys (as `iotsafe sim create --isd-keys-file` makes one).
  const sim = VirtualSim.create(simDir, TYPE1_PROFILE, {
    storageKey: hexToBytes(STORAGE_KEY),
    isdKeys: { keys: GP_TEST_KEYS },
  });
  await certifySimKey(sim, pki.ca, 'options-device');
  sim.close();
  writeFileSync(
    keysFile,
    `# test keys only\nenc=${bytesToHex(GP_TEST_KEYS.enc)}\nmac=${bytesToHex(GP_TEST_KEYS.mac)}\ndek=${bytesToHex(GP_TEST_KEYS.dek)}\n`,
    { mode: 0o600 },
  );
  writeFileSync(caFile, pki.ca.certificatePem);
  server = await startNodeTlsServer(mutualTlsOptions(pki), (s) =>
    s.on('data', (d) => s.end(`${s.getPeerCertificate().subject?.CN} got ${d}`)),
  );
});
after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

function connectCli(args: string[], port = server.port, globals: string[] = []) {
  return runCliAsync(
    ['--sim', simDir, ...globals, 'connect', `tls://127.0.0.1:${port}`, '--servername', 'localhost', ...args],
    { IOTSAFE_STORAGE_KEY: STORAGE_KEY },
    'hello',
  );
}

for (const offload of ['sign', 'full'] as const)
  test(`--scp03-keys-file: ${offload} offload through an SCP03 channel to the applet (level renc)`, async () => {
    const r = await connectCli(
      ['--ca', caFile, '--offload', offload, '--scp03-keys-file', keysFile],
      server.port,
      ['--trace'],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'options-device got hello');
    assert.match(r.stderr, offload === 'sign' ? /SIM APDUs: 3/ : /SIM APDUs: 9/);
    // The trace shows the protected commands: INITIALIZE UPDATE and EXTERNAL AUTHENTICATE level 33.
    assert.match(r.stderr, /80 ?50/i);
    assert.match(r.stderr, /84 ?82 ?33/i);
  });

test('--keylog FILE, --showcerts, and --max-tls 1.2', async () => {
  const keylog = join(dir, 'keys.log');
  const r = await connectCli(['--ca', caFile, '--keylog', keylog, '--showcerts', '--max-tls', '1.2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Protocol: TLSv1\.2/);
  assert.match(r.stderr, /-----BEGIN CERTIFICATE-----/);
  assert.match(readFileSync(keylog, 'utf8'), /^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$/m);
  assert.equal(statSync(keylog).mode & 0o777, 0o600);
});

test('--timeout: a server that never answers ends the command with a non-zero exit, not after 30 s', async () => {
  const silent = net.createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const r = await connectCli(['--ca', caFile, '--timeout', '300'], (silent.address() as AddressInfo).port);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /the TLS handshake timed out/);
  } finally {
    silent.close();
  }
});

for (const [args, reason] of [
  [['--groups', 'P-999'], /--groups: unknown group P-999/],
  [['--ciphers', 'RC4-MD5'], /--ciphers: unknown cipher suite RC4-MD5/],
  [['--min-tls', '1.3', '--max-tls', '1.2'], /--min-tls is above --max-tls/],
  [['--tls-version', '1.2', '--min-tls', '1.2'], /give --tls-version, or --min-tls\/--max-tls/],
  [['--timeout', 'soon'], /--timeout takes a positive number of milliseconds/],
] as const)
  test(`a usage error for ${args.join(' ')}: exit 2, before any connection`, async () => {
    const r = await connectCli(['--ca', caFile, ...args], 9);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, reason);
  });
