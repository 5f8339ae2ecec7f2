// `iotsafe ota encode | decode` as a pySim user would run them: the published vectors reproduced,
// every wrapping (packet, user data, SMS-DELIVER, ENVELOPE) opened, and wrong keys refused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const KIC = '200102030405060708090a0b0c0d0e0f';
const KID = '201102030405060708090a0b0c0d0e0f';
const PACKET = '00281506192222B00011E87CCEEBB2D93083011CE294F93FC4D8DE80DA1ABAE8C37CA3E72EC4432E5058'; // pysim-aes128-cipher-cc

function iotsafe(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--conditions=development', '--import', 'tsx', main, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

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
