// Chapter 4: the operator reaches the SIM over the air. The OTA server (key store in SQLite, counters
// durable) sends SCP80-secured SMS (ETSI TS 102 225) through a local SMSC to the handset holding the SIM:
// first a PUT KEY (RAM, TAR 000000) that loads a new SCP80 key set 02 wrapped by the KIK of set 01, then,
// under the new set, an RFM script (TAR B00000) that writes EF SPN and reads it back; each PoR checked.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { OtaServer, OtaStore, SmppLink, TestNetwork } from '@iotsafe/ota';
import { bytesToHex, encodeCommandApdu, encodePutKeySet } from '@iotsafe/protocol';
import type { VirtualSim } from '@iotsafe/sim';
import { porStatusName } from '../errors.js';
import { DEMO_SIM } from './factory.js';
import type { Report } from './report.js';

const { msisdn: MSISDN, iccid: ICCID } = DEMO_SIM;
/** The local SMSC's account for this run (SMPP 3.4 §5.2.1: a password is at most 8 characters). */
const smppAccount = () => ({ systemId: 'iotsafe', password: randomBytes(4).toString('hex') });

const aes = () => new Uint8Array(randomBytes(16));

export async function overTheAir(
  report: Report,
  base: string,
  storageKey: Uint8Array,
  sim: VirtualSim,
  keySet01: { kic: Uint8Array; kid: Uint8Array; kik: Uint8Array },
) {
  report.chapter('Over the air: SCP80 through a local SMSC — a new key set, then a file written with it');
  const account = smppAccount();
  const network = await TestNetwork.start({ ...account, port: 0 });
  network.attach(MSISDN, sim.card);
  let store: OtaStore | undefined;
  let link: SmppLink | undefined;
  let server: OtaServer | undefined;
  try {
    store = await OtaStore.open(join(base, 'ota.db'), storageKey, { create: true });
    link = await SmppLink.connect({ host: '127.0.0.1', port: network.port, ...account });
    await store.sims.add({ iccid: ICCID, msisdn: MSISDN });
    await store.sims.putKeySet(ICCID, { kvn: 1, kicByte: 0x12, kidByte: 0x12, ...keySet01 });
    server = new OtaServer(store, link, { timeoutMs: 5000, worker: { idleMs: 20 } });
    report.line(
      `SMSC on 127.0.0.1:${network.port}; handset ${MSISDN} holds the SIM; key store ${join(base, 'ota.db')}`,
    );

    const next = { enc: aes(), mac: aes(), dek: aes() };
    const putKey = encodeCommandApdu({
      cla: 0x80,
      ins: 0xd8,
      p1: 0x00,
      p2: 0x81,
      data: encodePutKeySet(0x02, keySet01.kik, next),
    });
    const first = await server.send({ sim: ICCID, tar: '000000', script: putKey, kvn: 1 });
    const firstStatus = first.por?.status ?? -1;
    report.line(
      `RAM PUT KEY (key set 02, keys wrapped by KIK 01): CNTR ${first.counter}, PoR ${porStatusName(firstStatus)}`,
    );
    if (firstStatus !== 0) throw new Error(`PUT KEY over the air failed: PoR ${firstStatus}`);
    await store.sims.putKeySet(ICCID, {
      kvn: 2,
      kicByte: 0x22,
      kidByte: 0x22,
      kic: next.enc,
      kid: next.mac,
      kik: next.dek,
    });

    const spn = `01${Buffer.from('iotsafe demo').toString('hex')}${'ff'.repeat(4)}`;
    const rfm = Buffer.from(`00a40004027f2000a40004026f4600d6000011${spn}00b0000011`, 'hex');
    const second = await server.send({ sim: ICCID, tar: 'B00000', script: new Uint8Array(rfm), kvn: 2 });
    const secondStatus = second.por?.status ?? -1;
    const data = second.por ? bytesToHex(second.por.data) : '';
    report.line(
      `RFM under key set 02: EF SPN written and read back: PoR ${porStatusName(secondStatus)}, data ${data}`,
    );
    if (secondStatus !== 0 || !data.endsWith(spn.toUpperCase()))
      throw new Error('the RFM update did not land');
    const result = {
      msisdn: MSISDN,
      smsDelivered: network.delivered,
      putKey: { keySet: '02', counter: first.counter, por: porStatusName(firstStatus) },
      rfm: { keySet: '02', counter: second.counter, por: porStatusName(secondStatus), data },
    };
    report.set('ota', result);
    return result;
  } finally {
    await server?.close();
    await link?.close();
    await network.stop();
    await store?.close();
  }
}
