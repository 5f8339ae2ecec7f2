// The whole OTA path on this machine: OtaServer → SMPP → the test network's SMSC → a handset → the
// virtual SIM's SCP80 receiving entity, and the PoR back. RFM and RAM (a new IoT SAFE certificate),
// a server restart that loses no counter, timeouts with retries that never reuse one.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OtaTimeoutError, SmppError, SmppLink } from '@iotsafe/ota';
import {
  compactPersonalizationScript,
  concatBytes,
  decodeCompactResponse,
  encodePersoScript,
  hexToBytes,
  IOTSAFE_AID,
} from '@iotsafe/protocol';
import { ICCID, MSISDN, type Rig, startRig } from './rig.js';

const h = hexToBytes;

let rig: Rig;
let network: Rig['network'];
let sim: Rig['sim'];
before(async () => {
  rig = await startRig();
  ({ network, sim } = rig);
});
after(() => rig.stop());

const openServer = (store = join(rig.dir, 'ota.db'), server = { timeoutMs: 3000 }) =>
  rig.openServer({ store, server });

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
    const path = join(rig.dir, 'ota.db'); // the store the earlier sends used: the SIM knows its counters
    const first = await openServer(path);
    const done = await first.server.send({ sim: ICCID, tar: 'B00000', script: h('00a40004022fe2') });
    const used = done.counter;
    await first.close();
    const second = await openServer(path);
    try {
      assert.equal(await second.store.sims.counter(ICCID, 1), used);
      const again = await second.server.send({ sim: ICCID, tar: 'B00000', script: h('00a40004022fe2') });
      assert.equal(again.counter, used + 1n);
      assert.equal(again.por?.status, 0, again.por?.statusText);
    } finally {
      await second.close();
    }
  });

  test('no PoR: bounded retries, each with a new counter; then a clear timeout', async () => {
    const { server, store, close } = await openServer(join(rig.dir, 'ota.db'), { timeoutMs: 300 });
    try {
      network.detach(MSISDN);
      const before = await store.sims.counter(ICCID, 1);
      await assert.rejects(
        server.send({ sim: ICCID, tar: 'B00000', script: h('00a40004022fe2') }),
        OtaTimeoutError,
      );
      assert.equal(await store.sims.counter(ICCID, 1), before + 2n, 'two attempts, two counters');
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

describe('the SMPP link', () => {
  test('a refused bind is an SmppError', async () => {
    await assert.rejects(
      SmppLink.connect({ host: '127.0.0.1', port: network.port, systemId: 'iotsafe', password: 'wrong' }),
      (error: SmppError) => error instanceof SmppError && /ESME_RINVPASWD \(0x0E\)/.test(error.message),
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
