// Two processes on one SIM directory: while `sim serve DIR` runs, `--sim DIR sim write-file` and
// `ota network DIR` are refused with the owner's pid and command (before this, the write went through
// and the served card's next key generation put the old file back). Nothing the served card did is lost.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { bytesToHex, hexToBytes } from '@iotsafe/protocol';
import { VirtualSim } from '@iotsafe/sim';
import { runCli, startCli } from '../../../test/helpers/cli.js';
import { freePort } from '../../../test/helpers/peers.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-sim-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const storageKey = '5a'.repeat(32);
const env = { IOTSAFE_STORAGE_KEY: storageKey };

test('sim serve owns its directory: write-file and ota network are refused, naming it; after it stops they run', async () => {
  const sim = join(dir, 'sim');
  const file = join(dir, 'content.bin');
  writeFileSync(file, Buffer.from('30030201'.repeat(8), 'hex'));
  assert.equal(runCli(['sim', 'create', sim, '--profile', 'type1'], env).code, 0);
  const served = await startCli(
    ['sim', 'serve', sim, '--tcp', String(await freePort()), '--insecure-no-auth'],
    env,
    /serving on tcp 127\.0\.0\.1:(\d+)/,
  );
  try {
    const write = runCli(
      ['--sim', sim, 'sim', 'write-file', '--id', '02', '--in', file, '--raw', '--force'],
      env,
    );
    assert.equal(write.code, 4, write.stderr);
    assert.match(write.stderr, /in use by process \d+ \(main[\w.-]*\.m?[jt]s sim serve\) since \d{4}-/);
    const network = runCli(['ota', 'network', sim, '--msisdn', '447700900123'], env);
    assert.equal(network.code, 4, network.stderr);
    assert.match(network.stderr, /in use by process \d+ \(main[\w.-]*\.m?[jt]s sim serve\)/);
    // the served card changes the SIM meanwhile
    const keygen = runCli(
      ['--tcp', `127.0.0.1:${served.match[1]}`, '--json', 'keygen', '--id', '01', '--force'],
      env,
    );
    assert.equal(keygen.code, 0, keygen.stderr);
  } finally {
    assert.equal(await served.stop(), 0, served.output());
  }
  assert.equal(
    runCli(['--sim', sim, 'sim', 'write-file', '--id', '02', '--in', file, '--raw', '--force'], env).code,
    0,
  );
  const opened = VirtualSim.open(sim, { storageKey: hexToBytes(storageKey) });
  const key = opened.containers().find((c) => c.objectClass === 'privateKey' && bytesToHex(c.id) === '01');
  const cert = opened.containers().find((c) => c.objectClass === 'file' && bytesToHex(c.id) === '02');
  assert.ok(key?.objectClass === 'privateKey' && key.privateKey, 'the key generated through sim serve');
  assert.ok(
    cert?.objectClass === 'file' && cert.content && bytesToHex(cert.content) === '30030201'.repeat(8),
  );
  opened.close();
});
