// iotsafe connect tls://HOST:PORT: the handshake report on stderr, then stdin and stdout piped, with
// the server trusted through the CA certificate stored in a SIM file container; SSLKEYLOGFILE honoured.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { spawnCli } from '../../../test/helpers/cli.js';
import { startNodeTlsServer } from '../../../test/helpers/peers.js';
import { mutualTlsOptions, testPki } from '../../../test/helpers/pki.js';
import { typeOneSimDir } from './sim-dirs.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-connect-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('connect prints the session and pipes data; the CA comes from the SIM', async () => {
  const pki = testPki();
  const storageKey = '42'.repeat(32);
  const simDir = join(dir, 'sim');
  await typeOneSimDir(simDir, storageKey, pki.ca, 'cli-device');
  const serverKeyLog: string[] = [];
  const server = await startNodeTlsServer(mutualTlsOptions(pki), (s) =>
    s.on('data', (d) => s.end(`${s.getPeerCertificate().subject?.CN} said ${d}`)),
  );
  server.server.on('keylog', (line) => serverKeyLog.push(line.toString().trim()));
  const keyLogFile = join(dir, 'keys.log');
  const sessionFile = join(dir, 'tls.session');
  /** One `iotsafe connect`, full offload, sessions ended by the final UPDATE; stdin "hello". */
  const connectOnce = async () => {
    const child = spawnCli(
      [
        '--sim',
        simDir,
        '--session-end',
        'last-update',
        'connect',
        `tls://127.0.0.1:${server.port}`,
        '--servername',
        'localhost',
        '--ca-id',
        '03',
        '--offload',
        'full',
        '--session-file',
        sessionFile,
      ],
      { IOTSAFE_STORAGE_KEY: storageKey, SSLKEYLOGFILE: keyLogFile },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.stdin.end('hello');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    return { code, out, err };
  };
  try {
    const { code, out, err } = await connectOnce();
    assert.equal(code, 0, err);
    assert.match(err, /Protocol: TLSv1\.3/);
    assert.match(err, /Session: new/);
    // full offload with sessions ended by their final UPDATE: keygen 1, put 2, DH 1, HKDF 1, sign 2
    assert.match(err, /SIM APDUs: 7/);
    assert.match(err, /s:CN=localhost/);
    assert.equal(out, 'cli-device said hello');
    // SSLKEYLOGFILE: the client's secrets are the server's (what Wireshark needs to decrypt the capture)
    const clientKeyLog = readFileSync(keyLogFile, 'utf8').trim().split('\n');
    assert.ok(clientKeyLog.some((l) => l.startsWith('CLIENT_TRAFFIC_SECRET_0 ')));
    for (const line of clientKeyLog.filter((l) => !l.startsWith('EXPORTER_SECRET')))
      assert.ok(serverKeyLog.includes(line), `the server logged ${line.split(' ')[0]} too`);

    // The session file: sealed (no JSON, no PSK in clear), owner-only; the next run resumes without signing.
    const sealed = readFileSync(sessionFile, 'utf8');
    assert.match(sealed.trim(), /^[A-Za-z0-9+/=]+$/);
    assert.equal(statSync(sessionFile).mode & 0o777, 0o600);
    const again = await connectOnce();
    assert.equal(again.code, 0, again.err);
    assert.match(again.err, /Session: resumed/);
    assert.match(again.err, /SIM APDUs: 5/); // the ECDHE in the SIM, no signature
    assert.equal(again.out, 'cli-device said hello');
  } finally {
    await server.close();
  }
});

test('a server that answers and ends at once: stdin written after its FIN neither crashes nor fails the run', async () => {
  const pki = testPki();
  const storageKey = '42'.repeat(32);
  const simDir = join(dir, 'sim-ends');
  await typeOneSimDir(simDir, storageKey, pki.ca, 'cli-device');
  // like a cloud that greets the device and closes (docs/rotation.md's `ota rotation cloud`)
  const server = await startNodeTlsServer(mutualTlsOptions(pki), (s) => s.end('hello and goodbye\n'));
  try {
    const child = spawnCli(
      [
        '--sim',
        simDir,
        'connect',
        `tls://127.0.0.1:${server.port}`,
        '--servername',
        'localhost',
        '--ca-id',
        '03',
      ],
      { IOTSAFE_STORAGE_KEY: storageKey },
    );
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    child.stdout.on('data', (d) => {
      out += d;
      // the server has ended by now: what stdin gives the socket after this meets its FIN
      if (out.includes('goodbye')) for (let i = 0; i < 20; i++) child.stdin.write(`telemetry ${i}\n`);
    });
    const code = await exited;
    assert.equal(code, 0, err);
    assert.match(out, /hello and goodbye/);
    assert.doesNotMatch(err, /Unhandled|ended by the other party/);
  } finally {
    await server.close();
  }
});
