// SCP81 end to end against our admin server: scripts queued in the store, the trigger sent as an SCP80 SMS
// to the ISD (TAR 000000) through the OTA job path and the local SMSC, the virtual SIM's admin agent
// opening its channel through the device's BIP terminal, PSK-TLS with the PSK from the sealed store, and
// the dialog: GET STATUS of the ISD, the IoT SAFE object list, a file container written. Every result is
// in the store before the session ends.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryTransport, runBipTerminal } from '@iotsafe/device';
import { AdminServer, OtaServer, OtaStore, SmppLink, TestNetwork } from '@iotsafe/ota';
import {
  buildInstallForPersonalization,
  buildStoreData,
  decodeExpandedResponse,
  decodeObjectList,
  decodeStatusEntries,
  encodeAdminTrigger,
  encodeCommandApdu,
  encodeExpandedScript,
  encodePersoScript,
  hexToBytes,
  IOTSAFE_AID,
  type PersoOperation,
  utf8,
} from '@iotsafe/protocol';
import { ISD_AID, scp80KeySet, VirtualSim } from '@iotsafe/sim';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';
import { CREDENTIALS, KIC, KID, STORAGE_KEY } from './rig.js';

const ICCID = '8988211000000000029';
const MSISDN = '4915100000029';
/** TEST keys only: the SIM's TLS-PSK of key set 40 and its identity. */
const PSK = Uint8Array.from({ length: 16 }, (_, i) => 0xb0 + i);
const IDENTITY = 'e2e-sim-0029';

const expanded = (...commands: Uint8Array[]) => encodeExpandedScript(commands, true);
const perso = (ops: PersoOperation[]) =>
  expanded(
    encodeCommandApdu(buildInstallForPersonalization(IOTSAFE_AID)),
    encodeCommandApdu(buildStoreData(0, true, encodePersoScript(ops))),
  );
const CERTIFICATE = utf8('written by the admin server over SCP81');
const sw = (rapdu: Uint8Array) => (rapdu[rapdu.length - 2]! << 8) | rapdu[rapdu.length - 1]!;

test('trigger by SMS, the agent through the BIP terminal: GET STATUS, the object list, a file written', async () => {
  const store = await OtaStore.open(':memory:', STORAGE_KEY);
  const network = await TestNetwork.start(CREDENTIALS);
  const admin = await AdminServer.start(store);
  const sim = VirtualSim.inMemory(TEST_PROFILE, {
    scp81: {
      keys: { psk: PSK, dek: new Uint8Array(16).fill(0x44) },
      parameters: {
        address: '127.0.0.1',
        port: admin.port,
        host: 'admin.test',
        agentId: `//se-id/iccid/${ICCID}`,
        uri: `/ram?sim=${ICCID}`,
        pskIdentity: IDENTITY,
        retry: { counter: 0, delaySeconds: 0 },
      },
      timeouts: { handshakeMs: 10_000, responseMs: 10_000, terminalResponseMs: 10_000 },
    },
  });
  sim.isd.keySets.push(scp80KeySet(1, { kic: KIC, kid: KID }));
  network.attach(MSISDN, sim.card);
  const terminal = await runBipTerminal(new MemoryTransport(sim.card), {
    wake: (notify) => sim.card.toolkit.onPending(notify),
    pollIntervalMs: 50,
  });
  const link = await SmppLink.connect({ host: '127.0.0.1', port: network.port, ...CREDENTIALS });
  const ota = new OtaServer(store, link, { timeoutMs: 5000, worker: { idleMs: 20 } });
  try {
    await store.sims.add({ iccid: ICCID, msisdn: MSISDN, pskIdentity: IDENTITY });
    await store.sims.putKeySet(ICCID, { kvn: 1, kicByte: 0x12, kidByte: 0x12, kic: KIC, kid: KID });
    await store.sims.putPsk(ICCID, PSK);
    await admin.reloadKeys();
    const ids = [
      await store.admin.push(ICCID, { script: expanded(hexToBytes('80F28002024F0000')) }),
      await store.admin.push(ICCID, { script: perso([{ op: 'list' }]) }),
      await store.admin.push(ICCID, {
        script: perso([
          {
            op: 'content',
            objectClass: 'file',
            ref: { id: Uint8Array.of(0x03) },
            content: { kind: 'file', content: CERTIFICATE },
          },
        ]),
      }),
    ];
    // GP Amd B Table 3-3 `81 00`: the session parameters stored on the card, by SCP80 to TAR 000000
    const trigger = await ota.send({ sim: ICCID, tar: '000000', script: encodeAdminTrigger(), spi: '1619' });
    assert.equal(trigger.por?.status, 0, 'the ISD took the trigger');
    await sim.admin.idle();
    const session = sim.admin.sessions.at(-1);
    assert.equal(session?.outcome, 'completed', session?.error);
    const [status, list, write] = await Promise.all(ids.map((id) => store.admin.script(id)));
    for (const s of [status, list, write]) assert.equal(s?.state, 'done');
    const entry = decodeExpandedResponse(status!.result!).responses[0]!;
    assert.equal(sw(entry), 0x9000);
    assert.deepEqual([...decodeStatusEntries(entry.subarray(0, -2))[0]!.aid], [...ISD_AID]);
    const listed = decodeExpandedResponse(list!.result!).responses[1]!;
    const objects = decodeObjectList(listed.subarray(0, -2));
    assert.equal(objects.length, sim.containers().length);
    assert.equal(sw(decodeExpandedResponse(write!.result!).responses[1]!), 0x9000);
    const file = sim.containers().find((c) => c.objectClass === 'file' && c.id[0] === 3);
    assert.deepEqual(file?.objectClass === 'file' && [...(file.content ?? [])], [...CERTIFICATE]);
    let [recorded] = await store.admin.sessions(ICCID);
    for (let i = 0; i < 100 && recorded?.endedAt === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20)); // written once the card's close arrives
      [recorded] = await store.admin.sessions(ICCID);
    }
    assert.equal(recorded?.outcome, 'completed');
    assert.equal(recorded?.protocol, 'TLSv1.2');
    assert.equal(recorded?.posts, 4);
  } finally {
    await ota.close();
    await link.close();
    await terminal.stop();
    await admin.close();
    await network.stop();
    await store.close();
  }
});
