// A SIM the OTA server can reach, made with the CLI as a user would: `sim create` with ISD test keys,
// an SCP80 key set loaded by `gp put-key` (KVN 01), the SIM added to a key store by `ota add-sim`.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './cli.js';

/** The test SCP80 keys (KIc, KID) of these SIMs: AES-128, key version 1. */
export const OTA_TEST_KIC = '200102030405060708090a0b0c0d0e0f';
export const OTA_TEST_KID = '201102030405060708090a0b0c0d0e0f';

/** Runs a CLI command that must succeed; its stdout. */
export function cliStep(args: string[], env: Record<string, string>): string {
  const r = runCli(args, env);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Creates `dir`/sim with key set 01 and adds it to `store` (created) as ICCID/MSISDN; the SIM's directory. */
export function otaReadySim(
  dir: string,
  env: Record<string, string>,
  { store, iccid, msisdn }: { store: string; iccid: string; msisdn: string },
): string {
  const sim = join(dir, 'sim');
  const gpKeys = join(dir, 'gp.keys');
  const scp80Keys = join(dir, 'scp80.keys');
  const otaKeys = join(dir, 'ota.keys');
  writeFileSync(gpKeys, `${'40'.repeat(16)}\n`);
  writeFileSync(scp80Keys, `enc=${OTA_TEST_KIC}\nmac=${OTA_TEST_KID}\ndek=${'33'.repeat(16)}\n`);
  writeFileSync(otaKeys, `kic=${OTA_TEST_KIC}\nkid=${OTA_TEST_KID}\n`);
  cliStep(['sim', 'create', sim, '--profile', 'type1', '--isd-keys-file', gpKeys], env);
  cliStep(
    ['--sim', sim, 'gp', '--keys-file', gpKeys, 'put-key', '--new-kvn', '01', '--new-keys-file', scp80Keys],
    env,
  );
  cliStep(
    [
      'ota',
      'add-sim',
      '--store',
      store,
      '--create',
      '--iccid',
      iccid,
      '--msisdn',
      msisdn,
      '--kic',
      '12',
      '--keys-file',
      otaKeys,
    ],
    env,
  );
  return sim;
}
