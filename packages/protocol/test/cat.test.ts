// Card application toolkit codecs (TS 102 223) against the real-terminal and live-card byte strings
// OTAMan captured (test/fixtures/scp80-vectors.json, "bip-proactive-and-terminal-responses").
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BIP_ERROR,
  BIP_TCP_CLIENT,
  bytesToHex,
  CAT_COMMAND,
  channelDataLengthTlv,
  channelDataTlv,
  decodeChannelEvent,
  decodeComprehensionTlvs,
  decodeEventDownload,
  decodeNetworkAccessName,
  decodeProactiveCommand,
  decodeTerminalResponse,
  encodeChannelStatusEvent,
  encodeDataAvailableEvent,
  encodeNetworkAccessName,
  encodeOpenChannel,
  encodeReceiveData,
  encodeSendData,
  encodeTerminalProfile,
  encodeTerminalResponse,
  envelopeApdu,
  FormatError,
  GENERAL_RESULT,
  hexToBytes,
  linkDropped,
  MAX_RECEIVE_CHUNK,
  MAX_SEND_CHUNK,
  openChannelResponseTlvs,
  parseOpenChannel,
  parseReceiveData,
  parseReceiveDataResponse,
  parseSendData,
  profileChannels,
  profileSupports,
} from '@iotsafe/protocol';
import { scp80Expected } from '../../../test/helpers/vectors.js';

const bip = scp80Expected('bip-proactive-and-terminal-responses');
const h = hexToBytes;
const hex = (b: Uint8Array) => bytesToHex(b).toLowerCase();

describe('OPEN CHANNEL from real cards', () => {
  test("OTAMan's fixture: default bearer, 512-byte buffer, APN, TCP 8080, 127.0.0.1", () => {
    const command = decodeProactiveCommand(h(bip.open_channel_fixture!.hex));
    assert.equal(command.details.type, CAT_COMMAND.OPEN_CHANNEL);
    assert.equal(command.source, 0x81);
    assert.equal(command.destination, 0x82);
    const open = parseOpenChannel(command);
    assert.equal(open.qualifier, 0x01);
    assert.equal(open.bearer.type, 0x03);
    assert.equal(open.bufferSize, 512);
    // the fixture codes its APN as one label 07 "megafon" running into ".ru", not 07 megafon 02 ru
    assert.equal(hex(open.networkAccessName!), '076d656761666f6e2e7275');
    assert.throws(() => decodeNetworkAccessName(open.networkAccessName!), FormatError);
    assert.equal(hex(encodeNetworkAccessName('megafon.ru')), '076d656761666f6e027275');
    assert.deepEqual(open.transport, { protocol: 0x02, port: 8080 });
    assert.deepEqual([...open.address!.address], [127, 0, 0, 1]);
    assert.equal(open.address!.truncated, undefined);
  });
  test('a live card with CR-set tags B5/B9/C7/BC/BE: 1422-byte buffer, APN "GPB", port 1410', () => {
    const open = parseOpenChannel(decodeProactiveCommand(h(bip.live_open_channel_cr_tags!.hex)));
    assert.equal(open.qualifier, 0x03);
    assert.equal(open.bufferSize, 1422);
    assert.equal(decodeNetworkAccessName(open.networkAccessName!), 'GPB');
    assert.deepEqual(open.transport, { protocol: 0x02, port: 1410 });
    assert.equal(open.address!.type, 0x21);
    assert.deepEqual([...open.address!.address], [91, 213, 5, 2]);
  });
  test('a live card ending with a bare `3E 05`: refused strictly, read leniently with the address marked cut', () => {
    const bytes = h(bip.live_open_channel_truncated_destination!.hex);
    assert.throws(() => decodeProactiveCommand(bytes), FormatError);
    const open = parseOpenChannel(decodeProactiveCommand(bytes, { lenient: true }));
    assert.equal(open.qualifier, 0x0c);
    assert.deepEqual(open.transport, { protocol: 0x02, port: 0x27be });
    assert.equal(open.address?.truncated, true);
  });
  test('our OPEN CHANNEL reads back the same', () => {
    const request = {
      qualifier: 0x03,
      bearer: { type: 0x03, parameters: new Uint8Array(0) },
      bufferSize: 1024,
      networkAccessName: encodeNetworkAccessName('iot.example'),
      transport: { protocol: 0x02, port: 8443 },
      address: { type: 0x21, address: Uint8Array.of(127, 0, 0, 1) },
    };
    const back = parseOpenChannel(decodeProactiveCommand(encodeOpenChannel(7, request)));
    assert.deepEqual(back, request);
  });
});

describe('TERMINAL RESPONSE and ENVELOPE byte for byte as real terminals send them', () => {
  const bearer = { type: 0x03, parameters: new Uint8Array(0) };
  test('OPEN CHANNEL performed: channel 1 established, bearer and buffer size echoed', () => {
    const tr = encodeTerminalResponse(
      { number: 1, type: 0x40, qualifier: 1 },
      { general: GENERAL_RESULT.OK },
      openChannelResponseTlvs({ channel: 1, established: true, info: 0 }, bearer, 512),
    );
    assert.equal(hex(tr), bip.tr_open_ok!.hex);
  });
  test('OPEN CHANNEL failed: 3A 00, BIP error without a specific cause', () => {
    const tr = encodeTerminalResponse(
      { number: 1, type: 0x40, qualifier: 1 },
      { general: GENERAL_RESULT.BIP_ERROR, additional: Uint8Array.of(BIP_ERROR.NO_SPECIFIC_CAUSE) },
      openChannelResponseTlvs({ channel: 1, established: true, info: 0 }, bearer, 512).slice(1),
    );
    assert.equal(hex(tr), bip.tr_open_fail!.hex);
    const back = decodeTerminalResponse(tr);
    assert.deepEqual([back.result.general, ...back.result.additional!], [0x3a, 0x00]);
  });
  test('CLOSE CHANNEL performed', () => {
    const tr = encodeTerminalResponse({ number: 1, type: 0x41, qualifier: 0 }, { general: 0 });
    assert.equal(hex(tr), bip.tr_close_channel!.hex);
  });
  test('data available (3 bytes on channel 1) and link dropped (channel 2)', () => {
    const available = envelopeApdu(encodeDataAvailableEvent({ channel: 1, established: true, info: 0 }, 3));
    assert.equal(hex(available), bip.envelope_data_available!.hex);
    const dropped = envelopeApdu(encodeChannelStatusEvent(linkDropped(2)));
    assert.equal(hex(dropped), bip.envelope_channel_status_link_dropped!.hex);
    const event = decodeChannelEvent(decodeEventDownload(dropped.subarray(5)));
    assert.deepEqual(event.status, { channel: 2, established: false, info: 5 });
    assert.equal(decodeChannelEvent(decodeEventDownload(available.subarray(5))).available, 3);
  });
  test('channel data above 127 bytes is 36 81 xx (the BER form whose absence lost OTAMan its records)', () => {
    assert.equal(hex(channelDataTlv(new Uint8Array(127))).slice(0, 4), 'b67f');
    assert.equal(hex(channelDataTlv(new Uint8Array(128))).slice(0, 6), 'b68180');
    assert.equal(hex(channelDataTlv(new Uint8Array(237))).slice(0, 6), 'b681ed');
    assert.equal(hex(channelDataLengthTlv(300)), 'b701ff');
    const tr = encodeTerminalResponse({ number: 9, type: 0x42, qualifier: 0 }, { general: 0 }, [
      channelDataTlv(new Uint8Array(200).fill(7)),
      channelDataLengthTlv(55),
    ]);
    const read = parseReceiveDataResponse(decodeTerminalResponse(tr));
    assert.equal(read.data.length, 200);
    assert.equal(read.remaining, 55);
    const largest = encodeTerminalResponse({ number: 9, type: 0x42, qualifier: 0 }, { general: 0 }, [
      channelDataTlv(new Uint8Array(MAX_RECEIVE_CHUNK)),
      channelDataLengthTlv(0),
    ]);
    assert.equal(largest.length, 255, 'the largest RECEIVE DATA answer fills a TERMINAL RESPONSE');
  });
  test('SEND DATA and RECEIVE DATA name their channel as a device 21..27', () => {
    const send = decodeProactiveCommand(encodeSendData(3, 2, new Uint8Array(MAX_SEND_CHUNK)));
    assert.equal(send.destination, 0x22);
    assert.equal(parseSendData(send).data.length, MAX_SEND_CHUNK);
    assert.throws(() => encodeSendData(3, 2, new Uint8Array(MAX_SEND_CHUNK + 1)), FormatError);
    assert.deepEqual(parseReceiveData(decodeProactiveCommand(encodeReceiveData(4, 1, 237))), {
      channel: 1,
      length: 237,
    });
  });
});

describe('COMPREHENSION-TLV and TERMINAL PROFILE', () => {
  test('CR flags are stripped; non-minimal, reserved and cut encodings are FormatErrors', () => {
    const [a, b] = decodeComprehensionTlvs(h('B90205 8E3902058E'.replace(' ', '')));
    assert.equal(a!.tag, 0x39);
    assert.equal(a!.cr, true);
    assert.equal(b!.cr, false);
    for (const bad of ['3981050000', '00', '80', 'FF', '3903', '398200050102030405', '7F01']) {
      assert.throws(() => decodeComprehensionTlvs(h(bad)), FormatError, bad);
    }
  });
  test('a BIP terminal profile advertises class e, the events and TCP client mode', () => {
    const profile = encodeTerminalProfile(BIP_TCP_CLIENT, 7);
    for (const f of BIP_TCP_CLIENT) assert.ok(profileSupports(profile, f), f);
    assert.equal(profile[11], 0x1f, 'byte 12: OPEN, CLOSE, RECEIVE, SEND, GET CHANNEL STATUS');
    assert.equal(profileChannels(profile), 7);
    assert.equal(profileSupports(profile.subarray(0, 10), 'openChannel'), false);
  });
});
