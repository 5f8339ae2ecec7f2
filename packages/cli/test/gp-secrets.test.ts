// iotsafe gp perso refuses, before opening the SIM, to send a private key or a secret at a level
// without C-DECRYPTION; at level enc its --trace shows the clear STORE DATA with the key redacted.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runCli } from '../../../test/helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-gp-secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { IOTSAFE_STORAGE_KEY: '24'.repeat(32) };
const PRIVATE_KEY = 'C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721';

test('gp --level mac perso with a private key: refused, exit 2, no APDU traced; --level enc: done, key redacted', () => {
  const keys = join(dir, 'gp.keys');
  writeFileSync(keys, '# GP test key, tests only\n404142434445464748494A4B4C4D4E4F\n', { mode: 0o600 });
  const profile = join(dir, 'profile.json');
  writeFileSync(
    profile,
    JSON.stringify({
      containers: [
        { class: 'privateKey', id: '01', functions: ['sign'], key: { privateKeyHex: PRIVATE_KEY } },
      ],
    }),
  );
  const sim = join(dir, 'sim');
  assert.equal(runCli(['sim', 'create', sim, '--profile', 'blank', '--isd-keys-file', keys], env).code, 0);
  const gp = (level: string) =>
    runCli(['--sim', sim, '--trace', 'gp', '--keys-file', keys, '--level', level, 'perso', profile], env);
  const refused = gp('mac');
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /refused before sending anything.*a private key \(ID 01\).*--level enc/);
  assert.doesNotMatch(refused.stderr, /→/, 'no APDU left');
  const done = gp('enc');
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stderr, /→ \(clear, before SCP03\) 80 E2 88 00 .*A0 02 .*<\d+ bytes redacted>/);
  assert.ok(!`${done.stdout}${done.stderr}`.replace(/ /g, '').includes(PRIVATE_KEY));
});
