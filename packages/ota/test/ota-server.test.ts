// The whole OTA path on this machine: OtaServer → SMPP → the test network's SMSC → a handset → the
// virtual SIM's SCP80 receiving entity, and the PoR back. RFM and RAM (a new IoT SAFE certificate),
// a server restart that loses no counter, timeouts with retries that never reuse one, and a key store
// that keeps keys sealed.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  KeyStoreError,
  OtaKeyStore,
  OtaServer,
  OtaTimeoutError,
  SmppError,
  SmppLink,
  TestNetwork,
} from '@iotsafe/ota';
import {
  compactPersonalizationScript,
  concatBytes,
  decodeCompactResponse,
  encodePersoScript,
  hexToBytes,
  IOTSAFE_AID,
  SealError,
} from '@iotsafe/protocol';
import { scp80KeySet, VirtualSim } from '@iotsafe/sim';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';

const h = hexToBytes;
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-ota-server-'));
const storageKey = new Uint8Array(32).fill(0x5c);
const KIC = new Uint8Array(16).fill(0x61);
const KID = new Uint8Array(16).fill(0x62);
const ICCID = '8988211000000467285';
const MSISDN = '4915112345678';
const credentials = { systemId: 'iotsafe', password: 'iotsafe' };

let network: TestNetwork;
let sim: VirtualSim;
before(async () => {
  network = await TestNetwork.start(credentials);
  sim = VirtualSim.inMemory(TEST_PROFILE);
  sim.isd.keySets.push(scp80KeySet(1, { kic: KIC, kid: KID }));
  network.attach(MSISDN, sim.card);
});
after(async () => {
  await network.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function openServer(path = join(dir, 'ota.db'), options = { timeoutMs: 3000 }) {
  const store = OtaKeyStore.open(path, storageKey);
  store.addSim({ iccid: ICCID, msisdn: MSISDN });
  store.putKeySet(ICCID, { kvn: 1, kicByte: 0x12, kidByte: 0x12, kic: KIC, kid: KID });
  const link = await SmppLink.connect({ host: '127.0.0.1', port: network.port, ...credentials });
  const server = new OtaServer(store, link, options);
  return {
    store,
    server,
    close: async () => {
      await link.close();
      store.close();
    },
  };
}

describe('OTA over SMPP to a virtual SIM', () => {
  test('RFM: EF SPN updated and read back in one script; the PoR comes back secured', async () => {
    const { server, close } = await openServer();
    try {
      const spn = concatBytes(
        Uint8Array.of(0x01),
        new TextEncoder().encode('over the air'),
        new Uint8Array(4).fill(0xff),
      );
      const result = await server.send({
        sim: ICCID,
        tar: 'B00000',
        script: concatBytes(h('00a40004027f20'), h('00a40004026f46'), h('00d6000011'), spn, h('00b0000011')),
      });
      assert.equal(result.por?.status, 0);
      assert.equal(result.por?.secured, true);
      assert.deepEqual(decodeCompactResponse(result.por!.data).data, spn);
      assert.deepEqual(sim.files.find((f) => f.path === '3F00/7F20/6F46')!.data, spn);
    } finally {
      await close();
    }
  });

  test('RAM: a new IoT SAFE certificate in concatenated SMS, addressed by MSISDN', async () => {
    const { server, close } = await openServer();
    try {
      const certificate = new Uint8Array(400).map((_, i) => (i * 7) & 0xff);
      const perso = encodePersoScript([
        {
          op: 'content',
          objectClass: 'file',
          ref: { id: Uint8Array.of(0x02) },
          content: { kind: 'file', content: certificate },
        },
      ]);
      const delivered = network.delivered;
      const result = await server.send({
        sim: MSISDN,
        tar: '000000',
        script: compactPersonalizationScript(IOTSAFE_AID, perso),
      });
      assert.equal(result.por?.status, 0);
      assert.equal(decodeCompactResponse(result.por!.data).sw, 0x9000);
      assert.ok(network.delivered - delivered >= 4, 'the script went in several SMS');
      const file = sim.containers().find((c) => c.objectClass === 'file' && c.id[0] === 0x02) as {
        content?: Uint8Array;
      };
      assert.deepEqual(file.content, certificate);
    } finally {
      await close();
    }
  });

  test('a server restart loses no counter: the next packet is accepted, the old counter is not reused', async () => {
    const path = join(dir, 'ota.db'); // the store the earlier sends used: the SIM knows its counters
    const first = await openServer(path);
    const done = await first.server.send({ sim: ICCID, tar: 'B00000', script: h('00a40004022fe2') });
    const used = done.counter;
    await first.close();
    const second = await openServer(path);
    try {
      assert.equal(second.store.counter(ICCID, 1), used);
      const again = await second.server.send({ sim: ICCID, tar: 'B00000', script: h('00a40004022fe2') });
      assert.equal(again.counter, used + 1n);
      assert.equal(again.por?.status, 0, again.por?.statusText);
    } finally {
      await second.close();
    }
  });

  test('no PoR: bounded retries, each with a new counter; then a clear timeout', async () => {
    const { server, store, close } = await openServer(join(dir, 'ota.db'), { timeoutMs: 300 });
    try {
      network.detach(MSISDN);
      const before = store.counter(ICCID, 1);
      await assert.rejects(
        server.send({ sim: ICCID, tar: 'B00000', script: h('00a40004022fe2') }),
        OtaTimeoutError,
      );
      assert.equal(store.counter(ICCID, 1), before + 2n, 'two attempts, two counters');
    } finally {
      network.attach(MSISDN, sim.card);
      await close();
    }
  });

  test('refusals reach the server as PoR statuses: unknown TAR 09', async () => {
    const { server, close } = await openServer();
    try {
      const result = await server.send({ sim: ICCID, tar: 'B0FFFF', script: h('00a40004022fe2') });
      assert.equal(result.por?.status, 0x09);
      assert.equal(result.por?.secured, false);
    } finally {
      await close();
    }
  });
});

describe('the key store and the SMPP link', () => {
  test('keys are sealed at rest; a wrong storage key cannot open them; unknown SIMs are KeyStoreErrors', () => {
    const path = join(dir, 'sealed.db');
    const store = OtaKeyStore.open(path, storageKey);
    store.addSim({ iccid: ICCID, msisdn: MSISDN });
    store.putKeySet(ICCID, { kvn: 1, kicByte: 0x12, kidByte: 0x12, kic: KIC, kid: KID });
    assert.deepEqual(store.keySet(ICCID, 1).kid, KID);
    store.close();
    const bytes = readFileSync(path);
    assert.equal(bytes.includes(Buffer.from(KIC)), false);
    assert.equal(bytes.includes(Buffer.from(KID)), false);
    const wrong = OtaKeyStore.open(path, new Uint8Array(32));
    assert.throws(() => wrong.keySet(ICCID, 1), SealError);
    assert.throws(() => wrong.sim('000'), KeyStoreError);
    assert.throws(() => wrong.nextCounter(ICCID, 9), KeyStoreError);
    wrong.close();
  });

  test('a refused bind is an SmppError', async () => {
    await assert.rejects(
      SmppLink.connect({ host: '127.0.0.1', port: network.port, systemId: 'iotsafe', password: 'wrong' }),
      SmppError,
    );
  });
});

describe('PoR via SMS-SUBMIT (SPI2 b6)', () => {
  test('the card answers 91xx, the handset FETCHes SEND SHORT MESSAGE and the PoR reaches the server', async () => {
    const { server, close } = await openServer();
    try {
      const pors = network.porsReturned;
      const result = await server.send({
        sim: ICCID,
        tar: 'B00000',
        spi: '1639',
        script: h('00a40004022fe200b000000a'),
      });
      assert.equal(result.por?.status, 0, result.por?.statusText);
      assert.deepEqual(decodeCompactResponse(result.por!.data).data, h('98001032547698103214'));
      assert.equal(network.porsReturned, pors + 1);
    } finally {
      await close();
    }
  });
});
