// The admin session trigger as operators send it (GP Amd B Table 3-3): not only `81 00` ("use the stored
// parameters") but the session's parameters in the SMS — the connection (OPEN CHANNEL TLVs of TS 102
// 223 §6.6.27: bearer, buffer size, TCP port, IPv4 address), the security (PSK identity, KVN, KID) and
// the HTTP POST parameters (host, agent id, URI). The card's stored parameters point nowhere useful
// (port 9, an unknown identity), so a session that completes proves the card took the trigger's. Sent
// SCP80-secured (SPI 1619) and plain (SPI 0001, which a SIM requiring security refuses: PoR 0A).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AdminServer, OtaServer, OtaStore, SmppLink, TestNetwork } from '@iotsafe/ota';
import {
  ADDRESS_TYPE,
  BEARER,
  concatBytes,
  encodeAdminTrigger,
  encodeExpandedScript,
  hexToBytes,
  openChannelTlvs,
  TRANSPORT_PROTOCOL,
  utf8,
} from '@iotsafe/protocol';
import { CREDENTIALS, KIC, KID, STORAGE_KEY } from './rig.js';
import { triggerCard } from './trigger-card.js';

/** TEST keys only. */
const PSK = Uint8Array.from({ length: 16 }, (_, i) => 0xc0 + i);
const IDENTITY = 'trigger-sim';
const GET_STATUS = encodeExpandedScript([hexToBytes('80F28002024F0000')], true);

const fullTrigger = (port: number, iccid: string) =>
  encodeAdminTrigger({
    connection: concatBytes(
      ...openChannelTlvs({
        bearer: { type: BEARER.DEFAULT, parameters: new Uint8Array(0) },
        bufferSize: 1400,
        transport: { protocol: TRANSPORT_PROTOCOL.TCP_CLIENT_REMOTE, port },
        address: { type: ADDRESS_TYPE.IPV4, address: Uint8Array.of(127, 0, 0, 1) },
      }),
    ),
    security: { pskIdentity: utf8(IDENTITY), keyVersion: 0x40, keyId: 0x01 },
    http: { host: 'admin.trigger.test', agentId: `//se-id/iccid/${iccid}`, uri: `/ram?sim=${iccid}` },
  });

describe('the admin session trigger with its parameters, through the local SMSC', () => {
  let store: OtaStore;
  let network: TestNetwork;
  let admin: AdminServer;
  let link: SmppLink;
  let ota: OtaServer;
  const stops: (() => Promise<void>)[] = [];
  before(async () => {
    store = await OtaStore.open(':memory:', STORAGE_KEY);
    network = await TestNetwork.start(CREDENTIALS);
    admin = await AdminServer.start(store);
    link = await SmppLink.connect({ host: '127.0.0.1', port: network.port, ...CREDENTIALS });
    ota = new OtaServer(store, link, { timeoutMs: 5000, worker: { idleMs: 20 } });
  });
  after(async () => {
    await ota.close();
    await link.close();
    for (const stop of stops) await stop();
    await admin.close();
    await network.stop();
    await store.close();
  });

  async function card(n: number, options: { otaMinimumSecurityLevel?: number } = {}) {
    const iccid = `89882110000000003${String(n).padStart(2, '0')}`;
    const msisdn = `49151000003${String(n).padStart(2, '0')}`;
    const { sim, stop } = await triggerCard(
      { network, store, admin },
      { iccid, msisdn, psk: PSK, identity: IDENTITY, kic: KIC, kid: KID, ...options },
    );
    stops.push(stop);
    return { iccid, sim };
  }

  for (const [name, spi, level] of [
    ['SCP80-secured (SPI 1619)', '1619', undefined],
    ['plain (SPI 0001) to a SIM that accepts it', '0001', 0x00],
  ] as const)
    test(`${name}: the session goes where the trigger says, the script runs`, async () => {
      const { iccid, sim } = await card(
        spi === '1619' ? 1 : 2,
        level === undefined ? {} : { otaMinimumSecurityLevel: level },
      );
      const id = await store.admin.push(iccid, { script: GET_STATUS });
      const trigger = await ota.send({
        sim: iccid,
        tar: '000000',
        script: fullTrigger(admin.port, iccid),
        spi,
      });
      assert.equal(trigger.por?.status, 0, 'the ISD took the trigger');
      await sim.admin.idle();
      const session = sim.admin.sessions.at(-1);
      assert.equal(session?.outcome, 'completed', session?.error);
      const done = await store.admin.script(id);
      assert.equal(done?.state, 'done');
      const [recorded] = await store.admin.sessions(iccid);
      assert.equal(recorded?.iccid, iccid);
    });

  test('plain (SPI 0001) to a SIM that requires security: refused, no session', async () => {
    const { iccid, sim } = await card(3);
    const id = await store.admin.push(iccid, { script: GET_STATUS });
    // the card refuses it (TS 102 225 §5.1: below its minimum security level); whether its error PoR
    // reaches the server or not, no session starts
    const status = await ota
      .send({ sim: iccid, tar: '000000', script: fullTrigger(admin.port, iccid), spi: '0001' })
      .then((r) => r.por?.status)
      .catch(() => undefined);
    assert.notEqual(status, 0);
    await sim.admin.idle();
    assert.equal(sim.admin.sessions.length, 0);
    assert.equal((await store.admin.script(id))?.state, 'queued', 'the script waits for a session');
  });
});
