// Durability: a child process changes a SIM directory without pause and is killed with SIGKILL at a
// random moment, 200 times; after each kill the SIM must open, consistent, with a whole file.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bytesToHex, equalBytes, publicKeyFromPrivate } from '@iotsafe/protocol';
import { newStorageKey, TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { bundle } from '../../../scripts/bundle.mjs';
import { SeededRandom } from '../../../test/helpers/random.js';

const KILLS = 200;
const PARALLEL = 2;
const root = mkdtempSync(join(tmpdir(), 'iotsafe-durability-'));
after(() => rmSync(root, { recursive: true, force: true }));
// bundled once: 200 children under tsx would spend most of the test transpiling
const child = bundle(
  fileURLToPath(new URL('./fixtures/durability-child.ts', import.meta.url)),
  join(root, 'durability-child.mjs'),
);

function runAndKill(dir: string, key: Uint8Array, delayMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dir, bytesToHex(key)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d) => {
      stderr += d;
    });
    proc.stdout.once('data', () => setTimeout(() => proc.kill('SIGKILL'), delayMs));
    proc.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`child exited on its own (code ${code}): ${stderr}`));
    });
  });
}

function checkSim(dir: string, key: Uint8Array): void {
  const sim = VirtualSim.open(dir, { storageKey: key }); // takes over the lock the killed child left
  assert.deepEqual(sim.checkConsistency(), []);
  const privateKey = sim
    .containers()
    .find((c) => c.objectClass === 'privateKey' && bytesToHex(c.id) === '01');
  assert.ok(privateKey?.objectClass === 'privateKey' && privateKey.privateKey && privateKey.publicKey);
  assert.ok(
    equalBytes(publicKeyFromPrivate('p256', privateKey.privateKey), privateKey.publicKey),
    'key pair halves match',
  );
  const file = sim.containers().find((c) => c.objectClass === 'file' && bytesToHex(c.id) === '02');
  if (file?.objectClass === 'file' && file.content) {
    const body = file.content.subarray(0, -32);
    assert.equal(
      bytesToHex(createHash('sha256').update(body).digest()),
      bytesToHex(file.content.subarray(-32)),
      'file is whole',
    );
  }
  sim.close();
}

test(`a SIM directory survives ${KILLS} SIGKILLs during writes`, { timeout: 600_000 }, async () => {
  const random = new SeededRandom(0x5eed);
  const lanes = Array.from({ length: PARALLEL }, (_, lane) => {
    const dir = join(root, `sim-${lane}`);
    const key = newStorageKey();
    const created = VirtualSim.create(dir, TYPE1_PROFILE, { storageKey: key });
    created.close();
    const initial = created
      .containers()
      .find((c) => c.objectClass === 'privateKey' && bytesToHex(c.id) === '01');
    return {
      dir,
      key,
      initialKey: initial?.objectClass === 'privateKey' ? bytesToHex(initial.publicKey!) : '',
    };
  });
  let done = 0;
  await Promise.all(
    lanes.map(async ({ dir, key }) => {
      while (done < KILLS) {
        done++;
        await runAndKill(dir, key, random.int(40));
        checkSim(dir, key);
      }
    }),
  );
  // The children did change the SIMs: the test would pass vacuously otherwise.
  for (const { dir, key, initialKey } of lanes) {
    const now = VirtualSim.open(dir, { storageKey: key })
      .containers()
      .find((c) => c.objectClass === 'privateKey' && bytesToHex(c.id) === '01');
    assert.notEqual(now?.objectClass === 'privateKey' ? bytesToHex(now.publicKey!) : '', initialKey);
  }
  assert.ok(done >= KILLS);
});
