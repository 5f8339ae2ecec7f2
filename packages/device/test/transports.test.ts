// The IoT SAFE client over real transports: TCP to a served card; AT commands to the emulated modem
// on a pty (socat), for every modem preset in CSIM and CCHO/CGLA modes; PC/SC through pcscd + vpcd
// with opensc-tool and scriptor as third-party clients; then the faults of each.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  AtModemTransport,
  byId,
  encodeP256PublicKeyInfo,
  IoTSafe,
  PcscTransport,
  TcpTransport,
  type Transport,
  TransportError,
} from '@iotsafe/device';
import { ecdsaRawToDer, utf8 } from '@iotsafe/protocol';
import { type LatencyOptions, MODEM_PRESETS, serveModem, serveTcp, VirtualSim } from '@iotsafe/sim';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';
import { peerAvailable, startIsolatedPcscd, VPCD_DRIVER } from '../../../test/helpers/peers.js';
import { insertIntoVpcdInWorker } from '../../../test/helpers/vicc-worker.js';

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

function pcscAvailable(): true | string {
  for (const [command, args] of [
    ['pcscd', ['--version']],
    ['opensc-tool', ['--info']],
    ['scriptor', ['-h']],
    ['unshare', ['--version']],
    ['socat', ['-V']],
  ] as const) {
    const found = peerAvailable(command, [...args]);
    if (found !== true) return found;
  }
  if (existsSync(VPCD_DRIVER)) return true;
  if (process.env.CI === 'true') throw new Error('vsmartcard-vpcd is required in CI (installed by .ci/run)');
  return 'vsmartcard-vpcd is not installed';
}

const pcsc = pcscAvailable();
describe('PC/SC through pcscd + vpcd', { skip: pcsc === true ? false : pcsc }, () => {
  const SELECT_IOTSAFE = '00A4040007A0000005590010';
  // One pcscd for the suite: libpcsclite reads PCSCLITE_CSOCK_NAME once per process.
  let daemon: Awaited<ReturnType<typeof startIsolatedPcscd>>;
  before(async () => {
    daemon = await startIsolatedPcscd(mkdtempSync(join(dir, 'pcscd-')));
    process.env.PCSCLITE_CSOCK_NAME = daemon.socket; // read by libpcsclite here and in the tools
  });
  after(() => daemon?.stop());

  /**
   * A fresh virtual SIM in the reader "Virtual PCD 00 00", present once pcscd has seen it. It answers
   * from a worker thread: PcscTransport's synchronous calls would deadlock with a card on this thread.
   */
  async function insertCard(personality = 'reference', latency?: LatencyOptions) {
    const card = insertIntoVpcdInWorker({ path: daemon.vpcd, personality, ...(latency ? { latency } : {}) });
    await cardPresent(true);
    return {
      remove: async () => {
        await card.remove();
        await cardPresent(false);
      },
      insert: async () => {
        await card.insert();
        await cardPresent(true);
      },
      /** Out of the reader for good: the worker ends. */
      stop: async () => {
        await card.stop();
        await cardPresent(false);
      },
    };
  }

  /** Runs a PC/SC tool without blocking the event loop: the card answering it lives in this process. */
  function tool(command: string, args: string[], input = ''): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.stderr.on('data', (d) => {
        out += d;
      });
      child.on('error', reject);
      child.on('close', () => resolve(out));
      child.stdin.on('error', () => {}); // a tool that exits without reading its input
      child.stdin.end(input);
    });
  }

  /** Waits until pcscd reports the card present in the first vpcd reader (it polls vpcd). */
  async function cardPresent(present: boolean) {
    for (let i = 0; i < 100; i++) {
      const listing = await tool('opensc-tool', ['--list-readers']);
      if (new RegExp(`0\\s+${present ? 'Yes' : 'No'}\\s+Virtual PCD 00 00`).test(listing)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`the card never became ${present ? 'present' : 'absent'} in Virtual PCD 00 00`);
  }

  test('opensc-tool and scriptor drive the virtual SIM; the client matrix runs over PcscTransport', async () => {
    const card = await insertCard();
    try {
      const opensc = await tool('opensc-tool', ['-r', '0', '-s', SELECT_IOTSAFE, '-s', '80CB000000']);
      assert.match(opensc, /Received \(SW1=0x90, SW2=0x00\)[\s\S]*iotsafe-sta/);
      const scriptor = await tool('scriptor', ['-r', 'Virtual PCD 00 00'], `${SELECT_IOTSAFE}\n0084000008\n`);
      assert.match(scriptor, /< 90 00 : Normal processing/);
      assert.match(scriptor, /< (?:[0-9A-F]{2} ){8}90 00/);

      assert.ok((await PcscTransport.listReaders()).includes('Virtual PCD 00 00'));
      const transport = await PcscTransport.open({ reader: 'Virtual PCD 00 00' });
      try {
        assert.equal(transport.atr[0], 0x3b);
        assert.deepEqual(await transport.reset(), transport.atr);
        await clientMatrix(transport);
      } finally {
        await transport.close();
      }
    } finally {
      await card.stop();
    }
  });

  test('a card pulled from the reader is a TransportError and reported; put back, reconnect() resumes', async () => {
    const card = await insertCard('zariot');
    const events: string[] = [];
    const watcher = await PcscTransport.watch((e) => events.push(`${e.type} ${e.reader}`));
    try {
      const transport = await PcscTransport.open({ reader: 'Virtual PCD 00 00' });
      try {
        const client = await IoTSafe.connect(transport, { fullTextLength: 'fixed3' });
        assert.equal((await client.random(8)).length, 8);
        await card.remove();
        await assert.rejects(client.random(8), TransportError);
        await card.insert();
        await transport.reconnect();
        const again = await IoTSafe.connect(transport, { fullTextLength: 'fixed3' });
        assert.equal((await again.random(8)).length, 8);
        for (let i = 0; i < 50 && !events.includes('card-inserted Virtual PCD 00 00'); i++)
          await new Promise((r) => setTimeout(r, 100));
        const removed = events.indexOf('card-removed Virtual PCD 00 00');
        assert.ok(removed >= 0, `card removal reported (${events.join('; ')})`);
        assert.ok(
          events.indexOf('card-inserted Virtual PCD 00 00', removed) > removed,
          'then the re-insertion',
        );
      } finally {
        watcher.stop();
        await transport.close();
      }
      await assert.rejects(
        PcscTransport.open({ reader: 'No Such Reader' }),
        /no PC\/SC reader "No Such Reader"/,
      );
    } finally {
      await card.stop();
    }
  });

  const select = Uint8Array.of(0x00, 0xa4, 0x04, 0x00, 0x07, 0xa0, 0, 0, 5, 0x59, 0, 0x10);
  const ok = (response: Uint8Array) => response.at(-2) === 0x90 && response.at(-1) === 0x00;

  test('exclusive access keeps others out until closed; T=1 can be asked for', async () => {
    const card = await insertCard();
    try {
      const exclusive = await PcscTransport.open({ reader: 0, exclusive: true, protocol: 'T=1' });
      try {
        await assert.rejects(PcscTransport.open({ reader: 0 }), /Sharing violation/);
        assert.ok(ok(await exclusive.transmit(select)));
      } finally {
        await exclusive.close();
      }
      const shared = await PcscTransport.open({ reader: 0 });
      assert.ok(ok(await shared.transmit(select)));
      await shared.close();
    } finally {
      await card.stop();
    }
  });

  test('opens that fail before pcscd has seen the card keep no context: the transport then closes', async () => {
    // Open at once after insertion, as a device at boot does: pcscd polls vpcd, so the first opens fail.
    const inserted = insertIntoVpcdInWorker({ path: daemon.vpcd });
    try {
      let transport: PcscTransport | undefined;
      let failures = 0;
      while (!transport && failures < 500) {
        // pcscd polls vpcd: slower on a loaded machine
        transport = await PcscTransport.open({ reader: 0 }).catch(() => {
          failures++;
          return new Promise<undefined>((r) => setTimeout(() => r(undefined), 20));
        });
      }
      assert.ok(transport && failures > 0, `opened after ${failures} failures`);
      const client = await IoTSafe.connect(transport);
      assert.equal((await client.random(8)).length, 8);
      await client.close();
      await transport.close(); // SCardDisconnect hung here while the failed opens' contexts were open
    } finally {
      await inserted.stop();
      await cardPresent(false);
    }
  });

  test('the reader losing the card mid-command is a TransportError, not a hang', async () => {
    const card = await insertCard('reference', { perInsMs: { 132: 3000 } }); // a slow GET RANDOM
    try {
      const transport = await PcscTransport.open({ reader: 0 });
      try {
        assert.ok(ok(await transport.transmit(select)));
        const started = Date.now();
        const failed = assert.rejects(transport.transmit(Uint8Array.of(0x00, 0x84, 0, 0, 8)), TransportError);
        await new Promise((r) => setTimeout(r, 300));
        await card.remove();
        await failed;
        assert.ok(Date.now() - started < 3000, 'the error came before the card would have answered');
        await card.insert();
        await transport.reconnect();
        assert.ok(ok(await transport.transmit(select)));
      } finally {
        await transport.close();
      }
    } finally {
      await card.stop();
    }
  });
});
