// The IoT SAFE client over real transports: TCP to a served card, and AT commands to the emulated
// modem on a pty (socat), for every modem preset in CSIM and CCHO/CGLA modes; then the faults.
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  AtModemTransport,
  byId,
  encodeP256PublicKeyInfo,
  IoTSafe,
  TcpTransport,
  type Transport,
  TransportError,
} from '@iotsafe/device';
import { ecdsaRawToDer, utf8 } from '@iotsafe/protocol';
import { MODEM_PRESETS, serveModem, serveTcp, VirtualSim } from '@iotsafe/sim';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';
import { peerAvailable } from '../../../test/helpers/peers.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-transports-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** What every transport must carry unchanged: discovery, a multi-chunk file, a signature, DH, PRF. */
async function clientMatrix(transport: Transport, options: Parameters<typeof IoTSafe.connect>[1] = {}) {
  const client = await IoTSafe.connect(transport, options);
  assert.equal((await client.listObjects()).length, TEST_PROFILE.containers.length);
  assert.equal((await client.readFile(byId('02'))).length, 260);
  const pair = await client.generateKeyPair(byId('01'));
  const message = utf8('over a real transport');
  const signature = await client.sign(pair.privateKey, { message });
  const key = createPublicKey({
    key: Buffer.from(encodeP256PublicKeyInfo(pair.point)),
    format: 'der',
    type: 'spki',
  });
  assert.ok(verify('sha256', message, key, Buffer.from(ecdsaRawToDer(signature))));
  assert.equal(await client.verify(byId('01'), { message }, signature), true);
  assert.equal(
    (
      await client.prf({
        mode: 'psk',
        secret: byId('10'),
        label: 'master secret',
        seed: new Uint8Array(64),
        length: 48,
      })
    ).length,
    48,
  );
  assert.equal((await client.random(100)).length, 100);
  await client.close();
}

describe('TCP', () => {
  test('the client matrix over TcpTransport to a served card', async () => {
    const sim = VirtualSim.inMemory(TEST_PROFILE, { personality: 'zariot' });
    const served = await serveTcp(sim.card);
    const transport = new TcpTransport({ host: '127.0.0.1', port: served.port });
    try {
      assert.equal((await transport.reset())[0], 0x3b);
      await clientMatrix(transport, { fullTextLength: 'fixed3' });
    } finally {
      await transport.close();
      await served.stop();
    }
  });
  test('the card going away mid-session is a TransportError; the next command after it returns works', async () => {
    const sim = VirtualSim.inMemory(TEST_PROFILE);
    let served = await serveTcp(sim.card);
    const port = served.port;
    const transport = new TcpTransport({ host: '127.0.0.1', port, timeoutMs: 1000 });
    try {
      await transport.transmit(Uint8Array.of(0x00, 0xa4, 0x04, 0x00, 0x07, 0xa0, 0, 0, 5, 0x59, 0, 0x10));
      await served.stop();
      await assert.rejects(transport.transmit(Uint8Array.of(0x80, 0x84, 0, 0, 8)), TransportError);
      served = await serveTcp(sim.card, { port });
      assert.equal((await transport.transmit(Uint8Array.of(0x00, 0x84, 0, 0, 8))).length, 10); // 8 random bytes and 9000
    } finally {
      await transport.close();
      await served.stop();
    }
  });
});

const socat = peerAvailable('socat', ['-V']);
describe('AT modem on a pty', { skip: socat === true ? false : socat }, () => {
  for (const preset of Object.values(MODEM_PRESETS)) {
    for (const mode of ['csim', 'cgla'] as const) {
      test(`${preset.name} (${preset.description}), ${mode}`, async () => {
        // A link that cuts long answers needs a card that hands out Le bytes and 61xx (T=1 here) and a
        // client that asks for less (maxResponseData); the others run the ZARIOT (T=0) card.
        const cutting = preset.maxResponseBytes !== undefined && !preset.splitWithGetResponse;
        const sim = VirtualSim.inMemory(TEST_PROFILE, { personality: cutting ? 'reference' : 'zariot' });
        const served = await serveModem(sim.card, mkdtempSync(join(dir, 'pty-')), { preset });
        try {
          const transport = await AtModemTransport.open(served.devicePath, { mode, timeoutMs: 5000 });
          await clientMatrix(transport, cutting ? { maxResponseData: 100 } : { fullTextLength: 'fixed3' });
          await transport.close();
        } finally {
          await served.stop();
        }
      });
    }
  }

  test('faults: silence times out, garbage is named, dropped channels recover, all without hanging', async () => {
    const sim = VirtualSim.inMemory(TEST_PROFILE);
    const served = await serveModem(sim.card, mkdtempSync(join(dir, 'pty-')));
    try {
      const transport = await AtModemTransport.open(served.devicePath, { timeoutMs: 500 });
      const client = await IoTSafe.connect(transport);
      served.modem.setSilent(true);
      const started = Date.now();
      await assert.rejects(
        client.random(8),
        (e: Error) => e instanceof TransportError && /did not answer/.test(e.message),
      );
      assert.ok(Date.now() - started < 2000);
      served.modem.setSilent(false);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal((await client.random(8)).length, 8);
      served.modem.setGarbage(true);
      await assert.rejects(
        client.random(8),
        (e: Error) => e instanceof TransportError && /not a \+CSIM response/.test(e.message),
      );
      served.modem.setGarbage(false);
      served.modem.dropChannels();
      await assert.rejects(client.random(8), (e: Error & { sw?: number }) => e.sw === 0x6881);
      const again = await IoTSafe.connect(transport);
      assert.equal((await again.random(8)).length, 8);
      await transport.close();
    } finally {
      await served.stop();
    }
  });
});
