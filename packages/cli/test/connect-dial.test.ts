// iotsafe connect asks for the TCP connection before it opens the SIM client (select, key info, the
// certificate read), so DNS and TCP run during that setup; a setup that fails closes the socket, and a
// connect refused before TLS listens is reported, not lost.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { spawnCli } from '../../../test/helpers/cli.js';
import { testPki } from '../../../test/helpers/pki.js';
import { typeOneSimDir } from './sim-dirs.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-dial-'));
const storageKey = '43'.repeat(32);
const simDir = join(dir, 'sim');
const pki = testPki();
before(() => typeOneSimDir(simDir, storageKey, pki.ca, 'cli-device'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]) {
  const child = spawnCli(['--sim', simDir, 'connect', ...args], { IOTSAFE_STORAGE_KEY: storageKey });
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  child.stdin.end();
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, err };
}

test('the TCP connection is asked for first: a SIM setup that fails has connected, and closes it', async () => {
  const accepted: net.Socket[] = [];
  const closed: Promise<unknown>[] = [];
  const server = net.createServer((socket) => {
    accepted.push(socket);
    closed.push(once(socket, 'close'));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const port = (server.address() as AddressInfo).port;
    // File container 7E does not exist: the certificate read fails before any TLS.
    const { code, err } = await run([`tls://127.0.0.1:${port}`, '--ca-id', '03', '--cert-id', '7E']);
    assert.notEqual(code, 0, err);
    // The kernel completed TCP's handshake; our accept may come a turn after the CLI's exit.
    for (let i = 0; i < 50 && accepted.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(accepted.length, 1, `the connection was made while the SIM client was set up; ${err}`);
    await Promise.all(closed);
  } finally {
    server.close();
  }
});

test('a refused TCP connect is the error, with a non-zero exit', async () => {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const { code, err } = await run([`tls://127.0.0.1:${port}`, '--ca-id', '03']);
  assert.notEqual(code, 0);
  assert.match(err, /ECONNREFUSED/);
});
