// The test network's delivery delay: each SMS is forwarded after it (to the handset, and the PoR back to
// the ESME); with none, the default, the handset has the SMS before the submit_sm_resp leaves.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { shortMessageOf, TestNetwork, type TestNetworkOptions } from '@iotsafe/ota';
import smpp from 'smpp';
import { SIM_DOWNLOAD_SUBMIT } from './rig.js';

const CREDENTIALS = { systemId: 'delay', password: 'delay' };
const POR = Uint8Array.of(0x02, 0x71, 0x00, 0x00, 0x0b, 0x0a, 0xb0, 0x00, 0x00);

/** A card that answers every ENVELOPE with a PoR (response data and 9000). */
function porCard() {
  const envelopes: Uint8Array[] = [];
  return {
    envelopes,
    transmit(command: Uint8Array) {
      envelopes.push(command);
      return Uint8Array.of(...POR, 0x90, 0x00);
    },
  };
}

async function bound(options: TestNetworkOptions) {
  const network = await TestNetwork.start({ ...CREDENTIALS, ...options });
  const card = porCard();
  network.attach('4917000001', card);
  const session = smpp.connect({ host: '127.0.0.1', port: network.port });
  session.on('error', () => {});
  await new Promise<void>((resolve) => session.once('connect', () => resolve()));
  const delivered: smpp.Pdu[] = [];
  session.on('deliver_sm', (pdu: smpp.Pdu) => {
    delivered.push(pdu);
    session.send(pdu.response());
  });
  const request = (command: string, fields: Record<string, unknown>) =>
    new Promise<smpp.Pdu>((resolve) => session.send(new smpp.PDU(command, fields), resolve));
  const bind = await request('bind_transceiver', {
    system_id: CREDENTIALS.systemId,
    password: CREDENTIALS.password,
    interface_version: 0x34,
  });
  assert.equal(bind.command_status, 0);
  const submit = () => request('submit_sm', SIM_DOWNLOAD_SUBMIT);
  const close = async () => {
    session.destroy();
    await network.stop();
  };
  return { network, card, delivered, submit, close };
}

describe('the test network delivery delay', () => {
  test('none by default: the card has the SMS before the submit_sm_resp reaches the ESME', async () => {
    const rig = await bound({});
    try {
      assert.equal((await rig.submit()).command_status, 0);
      assert.equal(rig.card.envelopes.length, 1);
      assert.equal(rig.network.delivered, 1);
    } finally {
      await rig.close();
    }
  });

  test('a delay drawn per SMS, both ways: the SMS reaches the card, then its PoR the ESME', async () => {
    const draws: number[] = [];
    const rig = await bound({ deliveryDelayMs: () => draws.push(draws.length) && 20 });
    try {
      assert.equal((await rig.submit()).command_status, 0);
      while (rig.delivered.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(rig.card.envelopes.length, 1);
      assert.equal(draws.length, 2, 'one draw for the SMS to the handset, one for its PoR');
      assert.deepEqual([...shortMessageOf(rig.delivered[0]!)].slice(-POR.length), [...POR], 'the PoR');
    } finally {
      await rig.close();
    }
  });

  test('an SMS still in transit when the network stops is never delivered', async () => {
    const rig = await bound({ deliveryDelayMs: 60_000 });
    assert.equal((await rig.submit()).command_status, 0);
    assert.equal(rig.card.envelopes.length, 0, 'accepted, not yet delivered');
    assert.equal(rig.network.accepted, 1);
    await rig.close(); // would hang for a minute if the timer were left behind
    assert.equal(rig.card.envelopes.length, 0);
  });
});
