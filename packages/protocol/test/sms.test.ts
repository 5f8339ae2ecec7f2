// SMS-PP for OTA: the SMS-DELIVER and ENVELOPE vectors byte for byte, SMS-SUBMIT, the user data
// header, concatenation split and reassembly (duplicates, reordering, gaps, bad parts), fuzz; and the
// TS 102 226 compact and expanded remote command formats.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  bytesToHex,
  commandPacketUserData,
  DCS_8BIT_CLASS2,
  decodeCompactResponse,
  decodeCompactScript,
  decodeExpandedResponse,
  decodeExpandedScript,
  decodeSendShortMessage,
  decodeSmsDeliver,
  decodeSmsPpDownload,
  decodeSmsSubmit,
  decodeUserDataHeader,
  encodeCompactResponse,
  encodeExpandedResponse,
  encodeExpandedScript,
  encodeSendShortMessage,
  encodeSmsDeliver,
  encodeSmsPpDownload,
  encodeSmsSubmit,
  FormatError,
  hexToBytes,
  PID_SIM_DATA_DOWNLOAD,
  SmsReassembler,
  scriptFormat,
} from '@iotsafe/protocol';
import { scp80Vectors } from '../../../test/helpers/vectors.js';

const h = hexToBytes;
const lower = (b: Uint8Array) => bytesToHex(b).toLowerCase();
const originator = { digits: '12345678', toa: 0x81 };
const timestamp = h('22705200000000');

describe('SMS-DELIVER and the SMS-PP download ENVELOPE (vectors)', () => {
  test('pysim-sja5 SMS-DELIVER with the correct TP-UDL', () => {
    const v = scp80Vectors('sms_deliver_tpdu')[0]!;
    const tpdu = encodeSmsDeliver({
      originator,
      pid: 0x7f,
      dcs: 0xf6,
      timestamp,
      userData: h(v.inputs.ud),
      userDataHeader: true,
    });
    assert.equal(lower(tpdu), v.expected.tpdu_correct_udl);
    const back = decodeSmsDeliver(tpdu);
    assert.deepEqual(back.originator, originator);
    assert.equal(lower(back.userData), v.inputs.ud);
    // pySim's own test string has TP-UDL 03 (its test passes tp_udl=3): a length that disagrees is refused
    assert.throws(() => decodeSmsDeliver(h(v.expected.tpdu_as_in_pysim_test)), FormatError);
  });
  test('derived AES packet: user data, SMS-DELIVER and ENVELOPE', () => {
    const v = scp80Vectors('sms_deliver_tpdu+envelope')[0]!;
    const [userData] = commandPacketUserData(h(v.inputs.command_packet));
    assert.equal(lower(userData!), v.expected.tp_ud);
    const tpdu = encodeSmsDeliver({
      originator,
      pid: PID_SIM_DATA_DOWNLOAD,
      dcs: DCS_8BIT_CLASS2,
      timestamp,
      userData: userData!,
      userDataHeader: true,
    });
    assert.equal(lower(tpdu), v.expected.sms_deliver_tpdu);
    const envelope = encodeSmsPpDownload(tpdu);
    assert.equal(lower(envelope), v.expected.envelope_apdu);
    assert.deepEqual(decodeSmsPpDownload(envelope.subarray(5)), tpdu);
  });
  test('an ENVELOPE with a service centre address, and BER lengths above 127', () => {
    const tpdu = encodeSmsDeliver({
      originator,
      pid: 0x7f,
      dcs: 0xf6,
      timestamp,
      userData: new Uint8Array(140),
      userDataHeader: true,
    });
    const envelope = encodeSmsPpDownload(tpdu, { serviceCentre: { digits: '0123456', toa: 0x91 } });
    assert.equal(envelope[5], 0xd1);
    assert.equal(envelope[6], 0x81); // BER: 81 xx
    assert.deepEqual(decodeSmsPpDownload(envelope.subarray(5)), tpdu);
  });
});

describe('SMS-SUBMIT (PoR via SMS-SUBMIT)', () => {
  test('round trip, and a validity period is skipped when reading', () => {
    const sms = {
      messageReference: 0,
      destination: { digits: '910', toa: 0x81 },
      pid: 0x7f,
      dcs: 0xf6,
      userData: h('027100000e0ab000110000000000000001612f'),
      userDataHeader: true,
    };
    const tpdu = encodeSmsSubmit(sms);
    assert.equal(lower(tpdu.subarray(0, 7)), '41000381'.concat('19f0', '7f'));
    assert.deepEqual(decodeSmsSubmit(tpdu), sms);
    const withVp = h(`5100038119f07ff6a7${lower(tpdu.subarray(8))}`);
    assert.deepEqual(decodeSmsSubmit(withVp).userData, sms.userData);
  });
});

describe('concatenation', () => {
  const packet = new Uint8Array(390).map((_, i) => i & 0xff);
  test('a long packet is split with the concatenation IE first and the CPI in part 1 only (8- and 16-bit)', () => {
    for (const wideReference of [false, true]) {
      const parts = commandPacketUserData(packet, 0x1234, { wideReference });
      assert.equal(parts.length, 3);
      for (const part of parts) assert.ok(part.length <= 140);
      const first = decodeUserDataHeader(parts[0]!);
      assert.deepEqual(
        first.elements.map((e) => e.iei),
        [wideReference ? 0x08 : 0x00, 0x70],
      );
      assert.deepEqual(
        decodeUserDataHeader(parts[1]!).elements.map((e) => e.iei),
        [wideReference ? 0x08 : 0x00],
      );
      assert.equal(first.body.length, wideReference ? 131 : 132); // 140 − UDH (9 or 8 bytes)
    }
  });
  test('reassembly: reordered, duplicated, interleaved with another sender; gaps wait', () => {
    const r = new SmsReassembler();
    const parts = commandPacketUserData(packet, 7).map(decodeUserDataHeader);
    const other = commandPacketUserData(packet.slice().reverse(), 7).map(decodeUserDataHeader);
    assert.equal(r.add('A', parts[2]!.elements, parts[2]!.body), undefined);
    assert.equal(r.add('B', other[0]!.elements, other[0]!.body), undefined);
    assert.equal(r.add('A', parts[2]!.elements, parts[2]!.body), undefined); // duplicate
    assert.equal(r.add('A', parts[0]!.elements, parts[0]!.body), undefined); // gap: 2 missing
    const done = r.add('A', parts[1]!.elements, parts[1]!.body)!;
    assert.deepEqual(done.body, packet);
    assert.deepEqual(
      done.elements.map((e) => e.iei),
      [0x70],
    );
    assert.equal(r.waiting, 1);
  });
  test('bad parts are FormatErrors: total 0, sequence 0 or past the total, a total that changes, a header that overruns', () => {
    const r = new SmsReassembler();
    const ie = (data: number[]) => [{ iei: 0x00, data: Uint8Array.from(data) }];
    assert.throws(() => r.add('A', ie([1, 0, 1]), new Uint8Array(1)), FormatError);
    assert.throws(() => r.add('A', ie([1, 2, 0]), new Uint8Array(1)), FormatError);
    assert.throws(() => r.add('A', ie([1, 2, 3]), new Uint8Array(1)), FormatError);
    assert.throws(() => r.add('A', ie([1, 2]), new Uint8Array(1)), FormatError);
    assert.equal(r.add('A', ie([9, 2, 1]), new Uint8Array(1)), undefined);
    assert.throws(() => r.add('A', ie([9, 3, 2]), new Uint8Array(1)), FormatError);
    assert.throws(() => decodeUserDataHeader(h('0570030001')), FormatError);
    assert.throws(() => decodeUserDataHeader(h('03700500')), FormatError);
  });
  test('seeded fuzz of TPDUs, headers and ENVELOPEs: typed errors only', () => {
    let seed = 99;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const good = encodeSmsPpDownload(
      encodeSmsDeliver({
        originator,
        pid: 0x7f,
        dcs: 0xf6,
        timestamp,
        userData: commandPacketUserData(new Uint8Array(40))[0]!,
        userDataHeader: true,
      }),
    );
    for (let n = 0; n < 20_000; n++) {
      const bytes = n % 2 ? good.slice() : new Uint8Array(rand(90)).map(() => rand(256));
      for (let k = rand(4); k >= 0 && bytes.length; k--) bytes[rand(bytes.length)] = rand(256);
      for (const parse of [
        () => decodeSmsDeliver(decodeSmsPpDownload(bytes.subarray(5))),
        () => decodeSmsDeliver(bytes),
        () => decodeSmsSubmit(bytes),
        () => decodeUserDataHeader(bytes),
      ]) {
        try {
          parse();
        } catch (error) {
          assert.ok(error instanceof FormatError, `${bytesToHex(bytes)}: ${error}`);
        }
      }
    }
  });
});

describe('TS 102 226 remote command formats', () => {
  test('expanded templates (vector): AA definite and AE 80 … 00 00, both directions', () => {
    const v = scp80Vectors('ts102226_expanded')[0]!;
    const commands = v.inputs.c_apdus.map(h);
    assert.equal(lower(encodeExpandedScript(commands)), v.expected.definite_AA);
    assert.equal(lower(encodeExpandedScript(commands, true)), v.expected.indefinite_AE);
    assert.deepEqual(decodeExpandedScript(h(v.expected.definite_AA)), commands);
    assert.deepEqual(decodeExpandedScript(h(v.expected.indefinite_AE)), commands);
    assert.equal(scriptFormat(h(v.expected.indefinite_AE)), 'expanded');
  });
  test('expanded responses: count, R-APDUs with BER lengths above 127, bad format (otaman ab06 800100 900102)', () => {
    const long = new Uint8Array(252 + 2).fill(0x41);
    const bytes = encodeExpandedResponse({ executed: 2, responses: [h('9000'), long] });
    assert.equal(lower(bytes.subarray(0, 4)), 'ab820108'); // 264 bytes: AB 82 01 08
    assert.deepEqual(decodeExpandedResponse(bytes).responses[1], long);
    assert.deepEqual(decodeExpandedResponse(h('ab06800100900102')), {
      executed: 0,
      responses: [],
      badFormat: 2,
    });
    const af = encodeExpandedResponse({ executed: 1, responses: [h('6132')] }, true);
    assert.equal(lower(af), 'af80800101230261320000');
    assert.deepEqual(decodeExpandedResponse(af).responses, [h('6132')]);
  });
  test('compact scripts split on P3 as Lc or Le; responses are count ‖ SW ‖ data', () => {
    assert.deepEqual(decodeCompactScript(h('00a40004022fe200c000001d')), [
      h('00a40004022fe2'),
      h('00c000001d'),
    ]);
    assert.deepEqual(decodeCompactScript(h('80f28000024f0000c0000000')), [
      h('80f28000024f00'),
      h('00c0000000'),
    ]);
    assert.throws(() => decodeCompactScript(h('00a4000402')), FormatError);
    assert.throws(() => decodeCompactScript(h('00a40004022fe200')), FormatError);
    assert.deepEqual(decodeCompactResponse(h('016132')), {
      executed: 1,
      sw: 0x6132,
      data: new Uint8Array(0),
    });
    assert.equal(lower(encodeCompactResponse({ executed: 2, sw: 0x9000, data: h('abcd') })), '029000abcd');
    assert.equal(scriptFormat(h('00a40004023f00')), 'compact');
    assert.equal(scriptFormat(h('8100')), 'admin-trigger');
  });
});

describe('SEND SHORT MESSAGE (PoR via SMS-SUBMIT)', () => {
  test('the proactive command has the layout of ETSI TS 102 223 §6.6.9 and gives its SMS-SUBMIT back', () => {
    const submit = encodeSmsSubmit({
      messageReference: 0,
      destination: { digits: '1234', toa: 0x81 },
      pid: 0x7f,
      dcs: 0xf6,
      userData: h('027100000b0ab00000000000000000'),
      userDataHeader: true,
    });
    const command = encodeSendShortMessage(submit);
    assert.equal(lower(command.subarray(2, 14)), '8103011300820281830500'.concat('8b'));
    assert.deepEqual(decodeSendShortMessage(command), submit);
    assert.throws(() => decodeSendShortMessage(h('d009810301200082028183')), FormatError); // not 13
  });
});
