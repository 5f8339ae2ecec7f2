// A CSR and signatures made inside the virtual SIM, checked by the openssl command.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { byId, createCsr, encodeP256PublicKeyInfo, IoTSafe, MemoryTransport, toPem } from '@iotsafe/device';
import { ecdsaRawToDer, utf8 } from '@iotsafe/protocol';
import { TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const skip = !hasOpenssl && process.env.CI !== 'true' ? 'openssl command not installed' : false;
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-csr-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function client() {
  const sim = VirtualSim.inMemory(TYPE1_PROFILE);
  return { sim, client: await IoTSafe.connect(new MemoryTransport(sim.card)) };
}

describe('checked by the openssl command', { skip }, () => {
  test('openssl req -verify accepts a CSR signed inside the SIM, with our subject and key', async () => {
    const { client: c } = await client();
    const pair = await c.generateKeyPair(byId('01'));
    const csr = await createCsr(c, {
      key: pair.privateKey,
      publicKey: pair.point,
      subject: { commonName: 'device-42', organization: 'Example', country: 'FR' },
    });
    const file = join(dir, 'device.csr');
    writeFileSync(file, toPem(csr, 'CERTIFICATE REQUEST'));
    const out = execFileSync('openssl', ['req', '-in', file, '-verify', '-noout', '-subject', '-pubkey'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.match(out, /CN ?= ?device-42/);
    assert.match(out, /O ?= ?Example/);
    assert.ok(out.includes(toPem(encodeP256PublicKeyInfo(pair.point), 'PUBLIC KEY').trim().split('\n')[1]!));
  });

  test('openssl dgst -verify accepts SIM signatures in every mode and hash; a tampered message fails', async () => {
    const { client: c } = await client();
    const point = await c.readPublicKey(byId('01'));
    const pub = join(dir, 'pub.pem');
    writeFileSync(pub, toPem(encodeP256PublicKeyInfo(point), 'PUBLIC KEY'));
    const message = utf8('signed by the SIM, checked by OpenSSL\n'.repeat(7));
    const msgFile = join(dir, 'msg.bin');
    writeFileSync(msgFile, message);
    for (const hash of ['sha256', 'sha384', 'sha512'] as const) {
      for (const mode of ['padAndSign', 'fullText', 'lastBlock'] as const) {
        const sigFile = join(dir, `sig-${hash}-${mode}.der`);
        writeFileSync(sigFile, ecdsaRawToDer(await c.sign(byId('01'), { message }, { hash, mode })));
        const ok = spawnSync(
          'openssl',
          ['dgst', `-${hash}`, '-verify', pub, '-signature', sigFile, msgFile],
          { encoding: 'utf8' },
        );
        assert.equal(ok.status, 0, `${hash} ${mode}: ${ok.stdout}${ok.stderr}`);
        assert.match(ok.stdout, /Verified OK/);
      }
    }
    writeFileSync(msgFile, utf8('another message'));
    const bad = spawnSync(
      'openssl',
      ['dgst', '-sha256', '-verify', pub, '-signature', join(dir, 'sig-sha256-padAndSign.der'), msgFile],
      { encoding: 'utf8' },
    );
    assert.notEqual(bad.status, 0);
  });
});

describe('certificate written back', () => {
  test('a certificate stored in a file container reads back identical over READ FILE', async () => {
    const { client: c, sim } = await client();
    const certificate = new Uint8Array(900).map((_, i) => (i * 31) & 0xff);
    certificate.set([0x30, 0x82, 0x03, 0x80]);
    sim.writeFile(byId('02'), certificate);
    assert.deepEqual([...(await c.readFile(byId('02')))], [...certificate]);
    const info = await c.objectInfo('file', byId('02'));
    assert.equal(info.fileSize, 900);
    assert.equal(info.state, 1);
  });
});
