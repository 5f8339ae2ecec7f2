// The local SMSC refuses what a strict SMPP 3.4 SMSC refuses, with the command_status of SMPP 3.4
// §5.1.3, tested with the smpp library's own client sending each wrong field on its own.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ESME, TestNetwork } from '@iotsafe/ota';
import smpp from 'smpp';
import { SIM_DOWNLOAD_SUBMIT } from './rig.js';

let network: TestNetwork;
before(async () => {
  network = await TestNetwork.start({ systemId: 'strict', password: 'secret' });
});
after(() => network.stop());

async function client(): Promise<smpp.Session> {
  const session = smpp.connect({ host: '127.0.0.1', port: network.port });
  session.on('error', () => {});
  await new Promise<void>((resolve) => session.once('connect', () => resolve()));
  return session;
}

const request = (session: smpp.Session, command: string, fields: Record<string, unknown> = {}) =>
  new Promise<smpp.Pdu>((resolve) => session.send(new smpp.PDU(command, fields), resolve));

const bindFields = { system_id: 'strict', password: 'secret', interface_version: 0x34 };

describe('the local SMSC is strict (SMPP 3.4)', () => {
  test('bind: interface_version, system_id, password, a second bind, submit before bind', async () => {
    const session = await client();
    try {
      assert.equal(
        (await request(session, 'submit_sm', SIM_DOWNLOAD_SUBMIT)).command_status,
        ESME.RINVBNDSTS,
      );
      const cases: [Record<string, unknown>, number][] = [
        [{ interface_version: 0x50 }, ESME.RBINDFAIL], // the library's default, SMPP 5.0
        [{ system_id: 'other' }, ESME.RINVSYSID],
        [{ system_id: 'a-system-id-too-long' }, ESME.RINVSYSID],
        [{ password: 'wrong' }, ESME.RINVPASWD],
        [{ password: 'ten chars!' }, ESME.RINVPASWD],
        [{ system_type: 'fourteen chars' }, ESME.RINVSYSTYP],
      ];
      for (const [fields, status] of cases) {
        const response = await request(session, 'bind_transceiver', { ...bindFields, ...fields });
        assert.equal(response.command_status, status, JSON.stringify(fields));
      }
      const bound = await request(session, 'bind_transceiver', bindFields);
      assert.equal(bound.command_status, ESME.ROK);
      assert.equal(bound.sc_interface_version, 0x34);
      assert.equal((await request(session, 'bind_transceiver', bindFields)).command_status, ESME.RALYBND);
      const older = network.binds.find((b) => b.interfaceVersion === 0x50);
      assert.equal(older?.status, ESME.RBINDFAIL);
    } finally {
      session.destroy();
    }
  });

  test('submit_sm: every field a strict SMSC checks, refused with its own status', async () => {
    const session = await client();
    try {
      assert.equal((await request(session, 'bind_transmitter', bindFields)).command_status, ESME.ROK);
      assert.equal((await request(session, 'submit_sm', SIM_DOWNLOAD_SUBMIT)).command_status, ESME.ROK);
      const cases: [string, Record<string, unknown>, number][] = [
        ['service_type over 5', { service_type: 'TOOLONG' }, ESME.RINVSERTYP],
        ['source TON 7', { source_addr_ton: 7 }, ESME.RINVSRCTON],
        ['source NPI 2', { source_addr_npi: 2 }, ESME.RINVSRCNPI],
        ['source over 20 digits', { source_addr: '1'.repeat(21) }, ESME.RINVSRCADR],
        ['source letters with TON 0', { source_addr: 'IoTSAFE' }, ESME.RINVSRCADR],
        ['destination TON 9', { dest_addr_ton: 9 }, ESME.RINVDSTTON],
        ['destination NPI 5', { dest_addr_npi: 5 }, ESME.RINVDSTNPI],
        ['no destination', { destination_addr: '' }, ESME.RINVDSTADR],
        ['destination with a +', { destination_addr: '+4917000001' }, ESME.RINVDSTADR],
        ['destination alphanumeric', { dest_addr_ton: 5, destination_addr: 'phone' }, ESME.RINVDSTADR],
        ['esm_class delivery receipt type', { esm_class: 0x44 }, ESME.RINVESMCLASS],
        ['UDHI without a header', { short_message: Buffer.from('05aabb', 'hex') }, ESME.RINVESMCLASS],
        ['UDHI, empty message', { short_message: Buffer.alloc(0) }, ESME.RINVESMCLASS],
        ['reserved protocol_id', { protocol_id: 0x50 }, ESME.RSUBMITFAIL],
        ['priority 4', { priority_flag: 4 }, ESME.RINVPRTFLG],
        ['schedule not a time', { schedule_delivery_time: 'tomorrow' }, ESME.RINVSCHED],
        ['validity not a time', { validity_period: 'forever' }, ESME.RINVEXPIRY],
        ['registered_delivery reserved bits', { registered_delivery: 0x20 }, ESME.RINVREGDLVFLG],
        ['registered_delivery 11', { registered_delivery: 0x03 }, ESME.RINVREGDLVFLG],
        ['replace_if_present 2', { replace_if_present_flag: 2 }, ESME.RINVREPFLAG],
        ['reserved data_coding 0x16 (SMPP 3.4 table)', { data_coding: 0x16 }, ESME.RSUBMITFAIL],
        ['data_coding 0x0B reserved', { data_coding: 0x0b }, ESME.RSUBMITFAIL],
        ['PID 7F with UCS-2', { data_coding: 0x08 }, ESME.RSUBMITFAIL],
        ['PID 7F with GSM 7-bit class 2', { data_coding: 0xf2 }, ESME.RSUBMITFAIL],
        ['a canned message', { sm_default_msg_id: 1 }, ESME.RINVDFTMSGID],
        [
          '141 octets of 8-bit data',
          { short_message: Buffer.concat([Buffer.from('027000', 'hex'), Buffer.alloc(138)]) },
          ESME.RINVMSGLEN,
        ],
        ['message_payload as well', { message_payload: Buffer.from('00', 'hex') }, ESME.ROPTPARNOTALLWD],
      ];
      for (const [what, fields, status] of cases) {
        const response = await request(session, 'submit_sm', { ...SIM_DOWNLOAD_SUBMIT, ...fields });
        assert.equal(response.command_status, status, what);
      }
      const accepted = network.submits.length;
      assert.equal(network.refused.length >= cases.length, true);
      assert.equal(network.submits.length, accepted, 'nothing refused was recorded as sent');
    } finally {
      session.destroy();
    }
  });

  test('a bind_receiver may not submit; unknown and unoffered commands get ESME_RINVCMDID', async () => {
    const session = await client();
    try {
      assert.equal((await request(session, 'bind_receiver', bindFields)).command_status, ESME.ROK);
      assert.equal(
        (await request(session, 'submit_sm', SIM_DOWNLOAD_SUBMIT)).command_status,
        ESME.RINVBNDSTS,
      );
      assert.equal((await request(session, 'query_sm', { message_id: '1' })).command_status, ESME.RINVCMDID);
      assert.equal((await request(session, 'enquire_link')).command_status, ESME.ROK);
    } finally {
      session.destroy();
    }
  });

  test('sm_length past the PDU: ESME_RINVMSGLEN; no body: ESME_RINVCMDLEN; an unreadable PDU: generic_nack and hang up', async () => {
    const session = await client();
    try {
      assert.equal((await request(session, 'bind_transceiver', bindFields)).command_status, ESME.ROK);
      const taken = network.submits.length;
      const bytes = new smpp.PDU('submit_sm', { ...SIM_DOWNLOAD_SUBMIT, sequence_number: 77 }).toBuffer();
      const smLengthAt = bytes.length - SIM_DOWNLOAD_SUBMIT.short_message.length - 1;
      bytes[smLengthAt] = 0xc8; // 200 octets announced, 6 there
      const answer = new Promise<smpp.Pdu>((resolve) => session.once('submit_sm_resp', resolve));
      session.socket.write(bytes);
      assert.equal((await answer).command_status, ESME.RINVMSGLEN);
      const empty = Buffer.alloc(16); // a submit_sm header with no body at all
      empty.writeUInt32BE(16, 0);
      empty.writeUInt32BE(0x00000004, 4);
      empty.writeUInt32BE(78, 12);
      const missing = new Promise<smpp.Pdu>((resolve) => session.once('submit_sm_resp', resolve));
      session.socket.write(empty);
      assert.equal((await missing).command_status, ESME.RINVCMDLEN);
      const closed = new Promise<void>((resolve) => session.socket.once('close', () => resolve()));
      const nack = new Promise<smpp.Pdu>((resolve) => session.once('generic_nack', resolve));
      session.socket.write(Buffer.from('00000008deadbeef', 'hex')); // command_length 8: shorter than a header
      assert.equal((await nack).command_status, ESME.RINVCMDLEN);
      await closed;
      assert.equal(network.submits.length, taken, 'nothing of it was taken');
    } finally {
      session.destroy();
    }
  });
});
