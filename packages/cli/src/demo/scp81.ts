// Chapter: the operator manages a SIM over SCP81 (GP Amd B). A script is queued on the admin server
// (PSK-TLS, the SIM's PSK sealed in the store); the trigger goes as an SCP80 SMS to the ISD (TAR
// 000000) through the local SMSC; the SIM's admin agent has the device's BIP terminal open a TCP
// channel (TS 102 223 OPEN CHANNEL), runs PSK-TLS to the server, fetches the script by HTTP POST, runs
// it (GET STATUS of the ISD) and posts the result back; the server records it and ends with 204.
// This SIM is one of its own, made for the chapter with every key generated for the run: the
// personalised demo SIM carries no SCP81 key set.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MemoryTransport, runBipTerminal } from '@iotsafe/device';
import { AdminServer, OtaServer, OtaStore, SmppLink, TestNetwork } from '@iotsafe/ota';
import {
  bytesToHex,
  decodeExpandedResponse,
  decodeStatusEntries,
  encodeAdminTrigger,
  encodeExpandedScript,
  hexToBytes,
} from '@iotsafe/protocol';
import { scp80KeySet, TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { porStatusName } from '../errors.js';
import type { Report } from './report.js';

const ICCID = '89000123456789012366';
const MSISDN = '4917000003';
const IDENTITY = 'demo-sim-0003';
const GET_STATUS_ISD = encodeExpandedScript([hexToBytes('80F28002024F0000')], true);
const aes = () => new Uint8Array(randomBytes(16));

export async function overHttps(report: Report, base: string, storageKey: Uint8Array) {
  report.chapter('Over HTTPS: SCP81 — a script pushed to the SIM, its result back over PSK-TLS');
  const started = performance.now();
  const at = () => `${Math.round(performance.now() - started)} ms`;
  const psk = aes();
  const scp80 = { kic: aes(), kid: aes() };
  const account = { systemId: 'iotsafe', password: randomBytes(4).toString('hex') };
  const store = await OtaStore.open(join(base, 'admin.db'), storageKey, { create: true });
  const cleanup: (() => Promise<void>)[] = [() => store.close()];
  try {
    const admin = await AdminServer.start(store);
    cleanup.unshift(() => admin.close());
    const network = await TestNetwork.start({ ...account, port: 0 });
    cleanup.unshift(() => network.stop());
    const sim = VirtualSim.inMemory(TYPE1_PROFILE, {
      scp81: {
        keys: { psk, dek: aes() },
        parameters: {
          address: '127.0.0.1',
          port: admin.port,
          host: 'admin.demo',
          agentId: `//se-id/iccid/${ICCID}`,
          uri: `/ram?sim=${ICCID}`,
          pskIdentity: IDENTITY,
          retry: { counter: 0, delaySeconds: 0 },
        },
      },
    });
    sim.isd.keySets.push(scp80KeySet(1, scp80));
    network.attach(MSISDN, sim.card);
    const terminal = await runBipTerminal(new MemoryTransport(sim.card), {
      wake: (notify) => sim.card.toolkit.onPending(notify),
      pollIntervalMs: 50,
    });
    cleanup.unshift(() => terminal.stop());
    const link = await SmppLink.connect({ host: '127.0.0.1', port: network.port, ...account });
    cleanup.unshift(() => link.close());
    const ota = new OtaServer(store, link, { timeoutMs: 5000, worker: { idleMs: 20 } });
    cleanup.unshift(() => ota.close());

    await store.sims.add({ iccid: ICCID, msisdn: MSISDN, pskIdentity: IDENTITY });
    await store.sims.putKeySet(ICCID, { kvn: 1, kicByte: 0x12, kidByte: 0x12, ...scp80 });
    await store.sims.putPsk(ICCID, psk);
    await admin.reloadKeys();
    const id = await store.admin.push(ICCID, { script: GET_STATUS_ISD });
    report.line(
      `admin server (PSK-TLS) on 127.0.0.1:${admin.port}; script ${id} queued: GET STATUS of the ISD`,
    );

    const trigger = await ota.send({ sim: ICCID, tar: '000000', script: encodeAdminTrigger(), spi: '1619' });
    const triggerStatus = trigger.por?.status ?? -1;
    report.line(
      `${at()}: trigger SMS (SCP80, RAM to the ISD) through the SMSC: PoR ${porStatusName(triggerStatus)}`,
    );
    if (triggerStatus !== 0) throw new Error(`the admin trigger failed: PoR ${triggerStatus}`);
    await sim.admin.idle();
    const session = sim.admin.sessions.at(-1);
    if (session?.outcome !== 'completed') throw new Error(`the admin session failed: ${session?.error}`);
    const done = await store.admin.script(id);
    if (done?.state !== 'done' || !done.result) throw new Error('the script has no result');
    const response = decodeExpandedResponse(done.result).responses[0]!;
    const sw = bytesToHex(response.subarray(-2));
    const aid = bytesToHex(decodeStatusEntries(response.subarray(0, -2))[0]!.aid);
    const [recorded] = await store.admin.sessions(ICCID);
    report.line(
      `${at()}: the card opened its BIP channel, ${recorded?.protocol ?? 'TLS'} ${recorded?.cipher ?? ''} to the server, ran the script: ISD ${aid}, SW ${sw}; the server ended the session (204)`,
    );
    const result = {
      iccid: ICCID,
      trigger: porStatusName(triggerStatus),
      sw,
      isd: aid,
      milliseconds: Math.round(performance.now() - started),
    };
    report.set('scp81', result);
    return result;
  } finally {
    for (const step of cleanup) await step();
  }
}
