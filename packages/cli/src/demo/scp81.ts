// Chapter: the operator manages the demo's own SIM over SCP81 (GP Amd B). The factory gave it an SCP81
// key set (PUT KEY) and the ISD's admin parameters (STORE DATA); the operator's key store (the OTA
// chapter's, the PSK sealed in it) gets the PSK. Three scripts are queued on the admin server (PSK-TLS);
// the trigger goes as an SCP80 SMS to the ISD (TAR 000000) through the local SMSC; the SIM's admin agent
// has the device's BIP terminal open a TCP channel (TS 102 223 OPEN CHANNEL), runs PSK-TLS to the server
// and fetches each script by HTTP POST: GET STATUS (the ISD and the applications), the IoT SAFE object
// list and a file container written (INSTALL [for personalization] + STORE DATA, docs/perso-format.md);
// each result is posted back and recorded, 204 ends the session. The device then reads the file back.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { byId, IoTSafe, MemoryTransport, runBipTerminal } from '@iotsafe/device';
import { AdminServer, OtaServer, OtaStore, SmppLink, TestNetwork } from '@iotsafe/ota';
import {
  buildInstallForPersonalization,
  buildStoreData,
  bytesToHex,
  CAT_TAG,
  concatBytes,
  decodeExpandedResponse,
  decodeObjectList,
  decodeStatusEntries,
  encodeAdminTrigger,
  encodeCommandApdu,
  encodeComprehensionTlv,
  encodeExpandedScript,
  encodePersoScript,
  hexToBytes,
  IOTSAFE_AID,
  type PersoOperation,
  TRANSPORT_PROTOCOL,
  u16be,
  utf8,
} from '@iotsafe/protocol';
import type { VirtualSim } from '@iotsafe/sim';
import { porStatusName } from '../errors.js';
import { DEMO_SIM, OPERATOR_FILE } from './factory.js';
import type { Report } from './report.js';

const GET_STATUS = encodeExpandedScript(
  [hexToBytes('80F28002024F0000'), hexToBytes('80F24002024F0000')], // GPCS 11.4: the ISD, the applications
  true,
);
const perso = (ops: PersoOperation[]) =>
  encodeExpandedScript(
    [
      encodeCommandApdu(buildInstallForPersonalization(IOTSAFE_AID)),
      encodeCommandApdu(buildStoreData(0, true, encodePersoScript(ops))),
    ],
    true,
  );
const fileRef = { id: hexToBytes(OPERATOR_FILE.id) };

/** The results of one script: each R-APDU's data and SW. */
function answers(result: Uint8Array | undefined) {
  if (!result) throw new Error('a script has no result');
  return decodeExpandedResponse(result).responses.map((r) => ({
    data: r.subarray(0, -2),
    sw: bytesToHex(r.subarray(-2)),
  }));
}

export async function overHttps(
  report: Report,
  base: string,
  storageKey: Uint8Array,
  sim: VirtualSim,
  scp81: { psk: Uint8Array; pskIdentity: string },
) {
  report.chapter('Over HTTPS: SCP81 — the demo SIM managed by its admin server, over PSK-TLS through BIP');
  const started = performance.now();
  const at = () => `${Math.round(performance.now() - started)} ms`;
  const account = { systemId: 'iotsafe', password: randomBytes(4).toString('hex') };
  // the operator's key store of the OTA chapter: the SIM's SCP80 key sets and counters are in it
  const store = await OtaStore.open(join(base, 'ota.db'), storageKey, { create: true });
  const cleanup: (() => Promise<void>)[] = [() => store.close()];
  try {
    await store.sims.add({ iccid: DEMO_SIM.iccid, msisdn: DEMO_SIM.msisdn, pskIdentity: scp81.pskIdentity });
    await store.sims.putPsk(DEMO_SIM.iccid, scp81.psk);
    const admin = await AdminServer.start(store);
    cleanup.unshift(() => admin.close());
    const network = await TestNetwork.start({ ...account, port: 0 });
    cleanup.unshift(() => network.stop());
    network.attach(DEMO_SIM.msisdn, sim.card);
    const terminal = await runBipTerminal(new MemoryTransport(sim.card), {
      wake: (notify) => sim.card.toolkit.onPending(notify),
      pollIntervalMs: 50,
    });
    cleanup.unshift(() => terminal.stop());
    const link = await SmppLink.connect({ host: '127.0.0.1', port: network.port, ...account });
    cleanup.unshift(() => link.close());
    const ota = new OtaServer(store, link, { timeoutMs: 5000, worker: { idleMs: 20 } });
    cleanup.unshift(() => ota.close());

    const written = utf8(`operator data for ${DEMO_SIM.iccid}, written over SCP81`);
    const ids = [
      await store.admin.push(DEMO_SIM.iccid, { script: GET_STATUS }),
      await store.admin.push(DEMO_SIM.iccid, { script: perso([{ op: 'list' }]) }),
      await store.admin.push(DEMO_SIM.iccid, {
        script: perso([
          { op: 'content', objectClass: 'file', ref: fileRef, content: { kind: 'file', content: written } },
        ]),
      }),
    ];
    report.line(
      `admin server (PSK-TLS) on 127.0.0.1:${admin.port}, PSK of "${scp81.pskIdentity}" sealed in the key store; scripts ${ids.join(', ')} queued: GET STATUS, the IoT SAFE object list, file ${OPERATOR_FILE.id} written`,
    );

    // The ISD's stored parameters hold everything but this run's port: the trigger's connection
    // parameters carry it (84 { 3C transport level: TCP client mode, port }, TS 102 223 §8.59).
    const connection = encodeComprehensionTlv(
      CAT_TAG.TRANSPORT_LEVEL,
      concatBytes(Uint8Array.of(TRANSPORT_PROTOCOL.TCP_CLIENT_REMOTE), u16be(admin.port)),
      true,
    );
    const trigger = await ota.send({
      sim: DEMO_SIM.iccid,
      tar: '000000',
      script: encodeAdminTrigger({ connection }),
      spi: '1619',
    });
    const triggerStatus = trigger.por?.status ?? -1;
    report.line(
      `${at()}: trigger SMS (SCP80, to the ISD, the stored parameters and this run's port) through the SMSC: PoR ${porStatusName(triggerStatus)}`,
    );
    if (triggerStatus !== 0) throw new Error(`the admin trigger failed: PoR ${triggerStatus}`);
    await sim.admin.idle();
    const session = sim.admin.sessions.at(-1);
    if (session?.outcome !== 'completed') throw new Error(`the admin session failed: ${session?.error}`);
    const [recorded] = (await store.admin.sessions(DEMO_SIM.iccid)).slice(-1);
    report.line(
      `${at()}: the card opened its BIP channel to the server: ${recorded?.protocol ?? 'TLS'} ${recorded?.cipher ?? ''}, ${session.scripts} scripts run, the server ended the session (204)`,
    );

    const results = await Promise.all(ids.map((id) => store.admin.script(id)));
    if (results.some((r) => r?.state !== 'done')) throw new Error('a script was not done');
    const [isd, apps] = answers(results[0]?.result);
    const aidOf = (data: Uint8Array | undefined) =>
      bytesToHex(decodeStatusEntries(data ?? new Uint8Array(0))[0]?.aid ?? new Uint8Array(0));
    const applications = decodeStatusEntries(apps?.data ?? new Uint8Array(0)).map((e) => bytesToHex(e.aid));
    report.line(
      `GET STATUS: ISD ${aidOf(isd?.data)} (SW ${isd?.sw}), applications ${applications.join(', ')} (SW ${apps?.sw})`,
    );
    const listed = answers(results[1]?.result)[1];
    if (listed?.sw !== '9000') throw new Error(`the object list failed: SW ${listed?.sw}`);
    const objects = decodeObjectList(listed.data).map(
      (o) => o.label ?? bytesToHex(o.id ?? new Uint8Array(0)),
    );
    report.line(`IoT SAFE object list over the session: ${objects.length} objects (${objects.join(', ')})`);
    const write = answers(results[2]?.result)[1];
    if (write?.sw !== '9000') throw new Error(`the file was not written: SW ${write?.sw}`);
    report.line(
      `file ${OPERATOR_FILE.id} (${OPERATOR_FILE.label}) written over the session: ${written.length} bytes, SW ${write.sw}`,
    );

    const device = await IoTSafe.connect(new MemoryTransport(sim.card));
    const readBack = await device.readFile(byId(OPERATOR_FILE.id)).finally(() => device.close());
    if (bytesToHex(readBack) !== bytesToHex(written)) throw new Error('the device read other bytes back');
    report.line(
      `the device (IoT SAFE client) reads file ${OPERATOR_FILE.id}: the ${readBack.length} bytes written`,
    );

    const result = {
      iccid: DEMO_SIM.iccid,
      trigger: porStatusName(triggerStatus),
      sw: isd?.sw ?? '',
      isd: aidOf(isd?.data),
      applications,
      objects: objects.length,
      fileWritten: { id: OPERATOR_FILE.id, bytes: written.length, readBack: true },
      scripts: session.scripts,
      milliseconds: Math.round(performance.now() - started),
    };
    report.set('scp81', result);
    return result;
  } finally {
    for (const step of cleanup) await step();
  }
}
