// The SMPP link as a real network needs it: data_coding F6 (8-bit class 2) so the handset gives the SMS
// to the SIM (TS 31.111 §7.1.1), interface_version 0x34, TON/NPI from the number, enquire_link, and a
// bind that comes back after the SMSC drops it with every SMS sent exactly once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ESME, OtaTimeoutError, SmppError, SmppLink, smppAddress, TestNetwork } from '@iotsafe/ota';
import {
  bytesToHex,
  compactPersonalizationScript,
  concatBytes,
  decodeCompactResponse,
  encodePersoScript,
  hexToBytes,
  IOTSAFE_AID,
} from '@iotsafe/protocol';
import smpp from 'smpp';
import { CREDENTIALS, ICCID, MSISDN, type Rig, startRig, until } from './rig.js';

const h = hexToBytes;
const SELECT_ICCID = h('00a40004022fe200b000000a');

let rig: Rig;
before(async () => {
  rig = await startRig();
});
after(() => rig.stop());

describe('SMS that a network delivers to the SIM', () => {
  test('the submit_sm carries PID 7F, DCS F6, UDHI, TON/NPI 1/1 for the home country; the bind says 3.4', async () => {
    const { server, close } = await rig.openServer({ link: { addressing: { countryCode: '49' } } });
    try {
      const result = await server.send({ sim: ICCID, tar: 'B00000', script: SELECT_ICCID });
      assert.equal(result.por?.status, 0, result.por?.statusText);
      const sms = rig.network.submits.at(-1)!;
      assert.deepEqual(
        {
          pid: sms.protocolId,
          dataCoding: sms.dataCoding,
          dcs: sms.dcs,
          esmClass: sms.esmClass,
          dest: [sms.destTon, sms.destNpi, sms.destinationAddr],
        },
        { pid: 0x7f, dataCoding: 0xf6, dcs: 0xf6, esmClass: 0x40, dest: [1, 1, MSISDN] },
      );
      assert.equal(rig.network.binds.at(-1)?.interfaceVersion, 0x34);
    } finally {
      await close();
    }
  });

  test('data_coding 04 (what the link sent before) lands in the inbox: no PoR, ever', async () => {
    const { server, close } = await rig.openServer({
      link: { dataCoding: 0x04 },
      server: { timeoutMs: 200 },
    });
    try {
      const inbox = rig.network.inbox;
      await assert.rejects(server.send({ sim: ICCID, tar: 'B00000', script: SELECT_ICCID }), OtaTimeoutError);
      assert.equal(rig.network.inbox, inbox + 2, 'both attempts accepted by the SMSC, kept by the handset');
    } finally {
      await close();
    }
  });

  test('DCS 16 where the SMSC passes the TP-DCS through; refused where it reads the SMPP 3.4 table', async () => {
    const gsm = await startRig({ dataCoding: 'gsm' });
    const { server, close } = await gsm.openServer({ link: { dataCoding: 0x16 } });
    try {
      const result = await server.send({ sim: ICCID, tar: 'B00000', script: SELECT_ICCID });
      assert.equal(result.por?.status, 0);
      assert.equal(gsm.network.submits.at(-1)?.dcs, 0x16);
    } finally {
      await close();
      await gsm.stop();
    }
    const strict = await rig.openServer({ link: { dataCoding: 0x16 } });
    try {
      await assert.rejects(
        strict.server.send({ sim: ICCID, tar: 'B00000', script: SELECT_ICCID }),
        (error: Error) => /ESME_RSUBMITFAIL \(0x45\)/.test(error.message),
      );
    } finally {
      await strict.close();
    }
  });

  test('TON/NPI from the number, or as configured', () => {
    assert.deepEqual(smppAddress('+4917000001'), { addr: '4917000001', ton: 1, npi: 1 });
    assert.deepEqual(smppAddress('4917000001', { countryCode: '49' }), {
      addr: '4917000001',
      ton: 1,
      npi: 1,
    });
    assert.deepEqual(smppAddress('4917000001', { countryCode: '33' }), {
      addr: '4917000001',
      ton: 0,
      npi: 1,
    });
    assert.deepEqual(smppAddress('4917000001'), { addr: '4917000001', ton: 0, npi: 1 });
    assert.deepEqual(smppAddress('IoTSAFE'), { addr: 'IoTSAFE', ton: 5, npi: 0 });
    assert.deepEqual(smppAddress('017000001', { ton: 2, npi: 1 }), { addr: '017000001', ton: 2, npi: 1 });
    for (const bad of ['', '+', '1'.repeat(21), 'a name too long', '+IoT', 'caf\u00e9'])
      assert.throws(() => smppAddress(bad), SmppError, bad);
  });

  test('what no SMS can carry is refused before anything is sent', async () => {
    const link = await SmppLink.connect({ host: '127.0.0.1', port: rig.network.port, ...CREDENTIALS });
    try {
      const sent = rig.network.submits.length;
      await assert.rejects(link.submit(MSISDN, new Uint8Array(141)), SmppError);
      await assert.rejects(link.submit('not a number!', h('027000')), SmppError);
      assert.equal(rig.network.submits.length, sent);
    } finally {
      await link.close();
    }
    await assert.rejects(
      SmppLink.connect({ host: '127.0.0.1', port: rig.network.port, ...CREDENTIALS, sourceAddress: '' }),
      SmppError,
    );
  });
});

describe('a bind that stays up, and comes back', () => {
  const fast = { enquireLinkMs: 40, responseTimeoutMs: 300, reconnectDelayMs: 10 };

  test('enquire_link keeps the bind alive; an SMSC that stops answering is noticed and bound again', async () => {
    const { server, link, close } = await rig.openServer({ link: fast });
    try {
      const links = rig.network.enquireLinks;
      await until(() => rig.network.enquireLinks >= links + 2, 'two enquire_link');
      rig.network.silence();
      await until(() => link.reconnects === 1 && link.bound, 'a new bind after the silence');
      assert.match(link.lastError?.message ?? '', /no enquire_link_resp/);
      const result = await server.send({ sim: ICCID, tar: 'B00000', script: SELECT_ICCID });
      assert.equal(result.por?.status, 0);
    } finally {
      await close();
    }
  });

  test('the SMSC restarts between two scripts: the link binds again by itself', async () => {
    const { server, link, close } = await rig.openServer({ link: fast });
    try {
      rig.network.dropSessions();
      await until(() => link.reconnects === 1 && link.bound, 'a new bind');
      const result = await server.send({ sim: ICCID, tar: 'B00000', script: SELECT_ICCID });
      assert.equal(result.por?.status, 0);
    } finally {
      await close();
    }
  });

  const certificateScript = () =>
    compactPersonalizationScript(
      IOTSAFE_AID,
      encodePersoScript([
        {
          op: 'content',
          objectClass: 'file',
          ref: { id: Uint8Array.of(0x02) },
          content: { kind: 'file', content: new Uint8Array(400).map((_, i) => (i * 11) & 0xff) },
        },
      ]),
    );

  for (const fault of ['drop-unseen', 'drop-after-response'] as const)
    test(`${fault} in the middle of a concatenated script: each part reaches the SMSC exactly once`, async () => {
      const { server, link, close } = await rig.openServer({ link: fast });
      try {
        const before = rig.network.submits.length;
        rig.network.failNextSubmit(fault, 1); // at the second part
        const result = await server.send({ sim: MSISDN, tar: '000000', script: certificateScript() });
        assert.equal(result.por?.status, 0, result.por?.statusText);
        assert.equal(decodeCompactResponse(result.por!.data).sw, 0x9000);
        const parts = rig.network.submits.slice(before).map((s) => bytesToHex(s.userData));
        assert.ok(parts.length >= 4);
        assert.equal(new Set(parts).size, parts.length, 'no part twice');
        assert.equal(link.reconnects, 1);
        // the part the SMSC never saw goes again; after a drop-after-response only a part written on
        // the dying connection does (the SMSC never read it either)
        if (fault === 'drop-unseen') assert.ok(link.resubmitted >= 1);
        else assert.ok(link.resubmitted <= 1);
      } finally {
        await close();
      }
    });

  test('drop-before-response: the SMS goes again; the card refuses the repeat, the script runs once', async () => {
    const { server, link, close } = await rig.openServer({ link: fast });
    const pors: Uint8Array[] = [];
    link.onMessage((_from, userData) => {
      pors.push(userData);
    });
    try {
      const spn = concatBytes(
        Uint8Array.of(0x01),
        new TextEncoder().encode('once only'),
        new Uint8Array(7).fill(0xff),
      );
      const before = rig.network.submits.length;
      const unmatched = server.router.unmatched;
      rig.network.failNextSubmit('drop-before-response');
      const result = await server.send({
        sim: ICCID,
        tar: 'B00000',
        script: concatBytes(h('00a40004027f20'), h('00a40004026f46'), h('00d6000011'), spn),
      });
      assert.equal(result.por?.status, 0, result.por?.statusText);
      assert.equal(result.attempts, 1);
      assert.equal(
        rig.network.submits.length - before,
        2,
        'the SMSC took it twice: its first answer was lost',
      );
      assert.equal(link.resubmitted, 1);
      // the repeat's PoR: unsecured (RHL 0A), status CNTR low; it answers nothing the server waits for
      const refusal = (p: Uint8Array) => p.length === 16 && p[5] === 0x0a && p[15] === 0x02;
      await until(() => pors.some(refusal), 'the PoR of the repeat');
      await until(() => server.router.unmatched > unmatched, 'the repeat PoR left unmatched');
      assert.deepEqual(rig.sim.files.find((f) => f.path === '3F00/7F20/6F46')!.data, spn);
    } finally {
      await close();
    }
  });

  test('an SMSC gone for longer than the submit deadline: an SmppError that says it was not sent', async () => {
    const network = await TestNetwork.start(CREDENTIALS);
    const link = await SmppLink.connect({
      host: '127.0.0.1',
      port: network.port,
      ...CREDENTIALS,
      ...fast,
      submitTimeoutMs: 300,
    });
    await network.stop();
    await until(() => !link.bound, 'the drop');
    await assert.rejects(link.submit(MSISDN, h('027000')), /was not sent/);
    await link.close();
  });

  test("the SMSC's own enquire_link, alert_notification and unbind are answered; after an unbind the link binds again", async () => {
    const seen: string[] = [];
    let sessions = 0;
    const smsc = smpp.createServer((session) => {
      sessions++;
      session.on('error', () => {});
      session.on('pdu', (pdu: smpp.Pdu) => {
        seen.push(pdu.command);
        if (pdu.command === 'bind_transceiver') {
          session.send(pdu.response());
          if (sessions === 1)
            session.send(new smpp.PDU('enquire_link'), () => {
              // a request with no response of its own: generic_nack (it crashed the link before)
              session.send(new smpp.PDU('alert_notification', { source_addr: '1', esme_addr: '2' }));
              session.send(new smpp.PDU('unbind'));
            });
        } else if (pdu.command === 'submit_sm') session.send(pdu.response({ message_id: 'x1' }));
        else if (!pdu.isResponse()) session.send(pdu.response());
      });
    });
    await new Promise<void>((resolve) => smsc.listen(0, '127.0.0.1', () => resolve()));
    const port = (smsc.address() as { port: number }).port;
    const link = await SmppLink.connect({
      host: '127.0.0.1',
      port,
      ...CREDENTIALS,
      ...fast,
      enquireLinkMs: 0,
    });
    try {
      await until(() => sessions === 2 && link.bound, 'the second bind');
      assert.deepEqual(seen.slice(0, 4), [
        'bind_transceiver',
        'enquire_link_resp',
        'generic_nack',
        'unbind_resp',
      ]);
      assert.equal(await link.submit(MSISDN, h('027000')), 'x1');
    } finally {
      await link.close();
      for (const session of smsc.sessions) session.destroy();
      await new Promise<void>((resolve) => smsc.close(() => resolve()));
    }
  });

  test('a refused submit is an SmppError with its command_status', async () => {
    const link = await SmppLink.connect({
      host: '127.0.0.1',
      port: rig.network.port,
      ...CREDENTIALS,
      addressing: { ton: 7 },
    });
    try {
      await assert.rejects(
        link.submit(MSISDN, h('027000')),
        (error: SmppError) => error.commandStatus === ESME.RINVDSTTON,
      );
    } finally {
      await link.close();
    }
  });
});
