// SCP80 benchmark: secured command packets built and opened per second (AES-128 and 3DES-2key,
// ciphered + CC), each against the bare cost of the same cipher and MAC over the same bytes.

import { OtaServer, OtaStore, SmppLink, TestNetwork } from '@iotsafe/ota';
import {
  cryptographicChecksum,
  encodeCommandPacket,
  hexToBytes,
  openCommandPacket,
  otaEncrypt,
} from '@iotsafe/protocol';
import { scp80KeySet, TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { measure, printTable } from './harness.js';

const script = hexToBytes('00a40004023f0000d6000010'.concat('41'.repeat(16)));

export async function otaBenchmarks(): Promise<void> {
  const rows = [];
  for (const set of [
    { name: 'AES-128', kic: 0x12, key: new Uint8Array(16).fill(1), cipher: 'aes-cbc', mac: 'aes-cmac' },
    {
      name: '3DES 2-key',
      kic: 0x15,
      key: new Uint8Array(16).fill(3),
      cipher: '3des-2key',
      mac: '3des-2key-mac',
    },
  ] as const) {
    const keys = { kic: set.key, kid: set.key };
    const input = {
      spi: hexToBytes('1619'),
      kic: set.kic,
      kid: set.kic,
      tar: hexToBytes('b00010'),
      counter: 1n,
      data: script,
    };
    const packet = encodeCommandPacket(input, keys);
    const plain = new Uint8Array(packet.length - 10); // what gets ciphered
    const signed = new Uint8Array(packet.length - 8); // what the CC covers
    const bare = await measure(`${set.name}: bare CBC + CC over the same bytes`, () => {
      cryptographicChecksum(set.mac, set.key, signed);
      otaEncrypt(set.cipher, set.key, plain);
    });
    const build = await measure(`${set.name}: build a secured packet`, () =>
      encodeCommandPacket(input, keys),
    );
    const open = await measure(`${set.name}: open and verify on the card`, () =>
      openCommandPacket(packet, keys),
    );
    const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
    rows.push(
      { name: bare.name, value: fmt(bare.opsPerSecond), unit: 'ops/s', ratio: '1.00x' },
      {
        name: build.name,
        value: fmt(build.opsPerSecond),
        unit: 'packets/s',
        ratio: `${(build.microseconds / bare.microseconds).toFixed(2)}x`,
      },
      {
        name: open.name,
        value: fmt(open.opsPerSecond),
        unit: 'packets/s',
        ratio: `${(open.microseconds / bare.microseconds).toFixed(2)}x`,
      },
    );
  }
  rows.push(await smsRoundTrip());
  printTable(`SCP80 (SPI 16 19, ${script.length}-byte script; ratio = time against bare cipher + MAC)`, rows);
}

/** Script → SMPP → local SMSC → handset → card → PoR → SMPP → server, one SMS each way (RFM SELECT). */
async function smsRoundTrip() {
  const key = new Uint8Array(16).fill(7);
  const sim = VirtualSim.inMemory(TYPE1_PROFILE);
  sim.isd.keySets.push(scp80KeySet(1, { kic: key, kid: key }));
  const network = await TestNetwork.start({ systemId: 'bench', password: 'bench' });
  network.attach('4917000000', sim.card);
  const store = await OtaStore.open(':memory:', new Uint8Array(32).fill(1));
  await store.sims.add({ iccid: '898821100000000000', msisdn: '4917000000' });
  await store.sims.putKeySet('898821100000000000', {
    kvn: 1,
    kicByte: 0x12,
    kidByte: 0x12,
    kic: key,
    kid: key,
  });
  const link = await SmppLink.connect({
    host: '127.0.0.1',
    port: network.port,
    systemId: 'bench',
    password: 'bench',
  });
  const server = new OtaServer(store, link, { worker: { idleMs: 1 } });
  const select = hexToBytes('00a40004022fe2');
  const result = await measure('SMS round trip: server → SMPP → SMSC → SIM → PoR', () =>
    server.send({ sim: '4917000000', tar: 'B00000', script: select }),
  );
  await server.close();
  await link.close();
  await store.close();
  await network.stop();
  return {
    name: result.name,
    value: Math.round(result.opsPerSecond).toLocaleString('en-US'),
    unit: 'round trips/s',
    ratio: '',
  };
}
