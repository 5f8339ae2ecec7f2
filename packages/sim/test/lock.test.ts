// One process at a time on a SIM directory: a second process gets an error naming the owner (pid and
// command) and changes nothing; the lock goes when the owner closes the SIM or exits, and a lock whose
// process was killed is taken over. Tested with real child processes.
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bytesToHex, hexToBytes } from '@iotsafe/protocol';
import {
  LOCK_FILE,
  newStorageKey,
  ProvisioningError,
  SimLockedError,
  STATE_FILE,
  TYPE1_PROFILE,
  VirtualSim,
} from '@iotsafe/sim';

const holderScript = fileURLToPath(new URL('./fixtures/lock-holder.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'iotsafe-lock-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function newSim() {
  const dir = join(root, `sim-${n++}`);
  const storageKey = newStorageKey();
  VirtualSim.create(dir, TYPE1_PROFILE, { storageKey }).close();
  return { dir, storageKey };
}

/** A child process that opens the SIM, changes it, and holds it; resolves once it said "ready". */
async function holder(dir: string, storageKey: Uint8Array) {
  const child: ChildProcessWithoutNullStreams = spawn('setpriv', [
    '--pdeathsig',
    'KILL',
    process.execPath,
    '--conditions=development',
    '--import',
    'tsx',
    holderScript,
    dir,
    bytesToHex(storageKey),
  ]);
  let out = '';
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const point = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /ready ([0-9a-f]+)/.exec(out);
      if (m) resolve(m[1]!.toUpperCase());
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    void exited.then(() => reject(new Error(`the holder exited: ${out}`)));
  });
  return { child, point, exited };
}

const publicKeyOf = (sim: VirtualSim) => {
  const key = sim.containers().find((c) => c.objectClass === 'privateKey' && bytesToHex(c.id) === '01');
  return key?.objectClass === 'privateKey' && key.publicKey ? bytesToHex(key.publicKey) : undefined;
};

describe('a SIM directory has one owner', () => {
  test('another process holds it: open is refused, naming its pid and command; nothing is lost', async () => {
    const { dir, storageKey } = newSim();
    const { child, point, exited } = await holder(dir, storageKey);
    assert.throws(
      () => VirtualSim.open(dir, { storageKey }),
      (e: Error) =>
        e instanceof SimLockedError &&
        e instanceof ProvisioningError &&
        e.holder.pid === child.pid &&
        e.message.includes(`process ${child.pid} (lock-holder (test))`),
    );
    child.stdin.end(); // the holder exits normally: its lock goes
    assert.equal((await exited).code, 0);
    const sim = VirtualSim.open(dir, { storageKey });
    assert.equal(publicKeyOf(sim), point, "the holder's key generation is on disk");
    sim.close();
  });
  test('a holder killed with SIGKILL leaves a stale lock that the next open takes over', async () => {
    const { dir, storageKey } = newSim();
    const { child, point, exited } = await holder(dir, storageKey);
    child.kill('SIGKILL');
    assert.equal((await exited).signal, 'SIGKILL');
    assert.match(readFileSync(join(dir, LOCK_FILE), 'utf8'), new RegExp(`"pid":${child.pid}`));
    const sim = VirtualSim.open(dir, { storageKey });
    assert.equal(publicKeyOf(sim), point);
    assert.match(readFileSync(join(dir, LOCK_FILE), 'utf8'), new RegExp(`"pid":${process.pid}`));
    sim.close();
  });
  test('a lock naming a pid that now runs another program (another start time) is stale too', () => {
    const { dir, storageKey } = newSim();
    writeFileSync(
      join(dir, LOCK_FILE),
      JSON.stringify({ pid: process.pid, command: 'long gone', since: '2020-01-01T00:00:00Z', start: '1' }),
    );
    VirtualSim.open(dir, { storageKey }).close();
  });
  test('in one process too: a second VirtualSim on the directory is refused until the first is closed', () => {
    const { dir, storageKey } = newSim();
    const first = VirtualSim.open(dir, { storageKey, holder: 'first' });
    assert.throws(() => VirtualSim.open(dir, { storageKey }), /in use by this process \(first\)/);
    first.close();
    // a closed SIM saves nothing more: its next change fails (6581) rather than overwrite the new owner's
    const second = VirtualSim.open(dir, { storageKey });
    first.card.transmit(hexToBytes('00A4040007A0000005590010'));
    assert.equal(bytesToHex(first.card.transmit(hexToBytes('80B9000003840101')).subarray(-2)), '6581');
    second.close();
  });
  test('the lock file and sim.json are owner-only (0600)', () => {
    const { dir, storageKey } = newSim();
    const sim = VirtualSim.open(dir, { storageKey });
    assert.equal(statSync(join(dir, LOCK_FILE)).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, STATE_FILE)).mode & 0o777, 0o600);
    sim.close();
    assert.throws(() => statSync(join(dir, LOCK_FILE)), /ENOENT/);
  });
});
