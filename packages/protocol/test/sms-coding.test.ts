// TP-DCS coding groups (3GPP TS 23.038 §4) and the rule a handset applies before it hands a short
// message to the SIM (TS 31.111 §7.1.1: PID 7F and a class 2 DCS), with the TP-TOA octet of TS 23.040.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DCS_8BIT,
  DCS_8BIT_CLASS2,
  DCS_8BIT_CLASS2_GENERAL,
  decodeDataCoding,
  isOtaDataCoding,
  PID_SIM_DATA_DOWNLOAD,
  reachesSim,
  TOA_INTERNATIONAL_ISDN,
  TOA_UNKNOWN_ISDN,
  toaOf,
} from '@iotsafe/protocol';

describe('TP-DCS (TS 23.038 §4)', () => {
  test('each coding group gives its alphabet and class', () => {
    const cases: [number, ReturnType<typeof decodeDataCoding>][] = [
      [0x00, { alphabet: 'gsm7', compressed: false }],
      [0x04, { alphabet: '8bit', compressed: false }],
      [0x08, { alphabet: 'ucs2', compressed: false }],
      [0x0c, { alphabet: 'reserved', compressed: false }],
      [0x16, { alphabet: '8bit', messageClass: 2, compressed: false }],
      [0x15, { alphabet: '8bit', messageClass: 1, compressed: false }],
      [0x36, { alphabet: '8bit', messageClass: 2, compressed: true }],
      [0x56, { alphabet: '8bit', messageClass: 2, compressed: false }], // automatic deletion group
      [0x80, { alphabet: 'reserved', compressed: false }],
      [0xbf, { alphabet: 'reserved', compressed: false }],
      [0xc0, { alphabet: 'gsm7', compressed: false }],
      [0xe0, { alphabet: 'ucs2', compressed: false }],
      [0xf0, { alphabet: 'gsm7', messageClass: 0, compressed: false }],
      [0xf2, { alphabet: 'gsm7', messageClass: 2, compressed: false }],
      [0xf6, { alphabet: '8bit', messageClass: 2, compressed: false }],
      [0xf7, { alphabet: '8bit', messageClass: 3, compressed: false }],
      [0xfe, { alphabet: 'reserved', compressed: false }], // bit 3 of group 1111 is reserved
    ];
    for (const [dcs, expected] of cases) assert.deepEqual(decodeDataCoding(dcs), expected, dcs.toString(16));
  });

  test('only PID 7F with a class 2 DCS reaches the SIM; OTA needs it 8-bit and uncompressed', () => {
    assert.equal(DCS_8BIT_CLASS2, 0xf6);
    assert.equal(DCS_8BIT_CLASS2_GENERAL, 0x16);
    assert.equal(reachesSim(PID_SIM_DATA_DOWNLOAD, DCS_8BIT_CLASS2), true);
    assert.equal(reachesSim(PID_SIM_DATA_DOWNLOAD, DCS_8BIT_CLASS2_GENERAL), true);
    assert.equal(reachesSim(PID_SIM_DATA_DOWNLOAD, DCS_8BIT), false, 'the inbox, not the SIM');
    assert.equal(reachesSim(PID_SIM_DATA_DOWNLOAD, 0xf5), false, 'class 1 goes to the ME');
    assert.equal(reachesSim(0x00, DCS_8BIT_CLASS2), false, 'class 2 without PID 7F is stored in EF SMS');
    let ota = 0;
    for (let dcs = 0; dcs < 256; dcs++) if (isOtaDataCoding(dcs)) ota++;
    assert.equal(ota, 3, 'F6, 16 and 56');
    assert.equal(isOtaDataCoding(0xf2), false);
    assert.equal(isOtaDataCoding(0x36), false);
  });

  test('TP-TOA: 81 unknown/ISDN, 91 international/ISDN', () => {
    assert.equal(TOA_UNKNOWN_ISDN, 0x81);
    assert.equal(TOA_INTERNATIONAL_ISDN, 0x91);
    assert.equal(toaOf(5, 0), 0xd0); // alphanumeric
  });
});
