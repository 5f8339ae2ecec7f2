// Every IoT SAFE command on the card side, with raw APDUs: each success and each refusal's SW.
import assert from 'node:assert/strict';
import { createECDH, createPublicKey, verify } from 'node:crypto';
import { describe, test } from 'node:test';
import { VirtualSim } from '@iotsafe/sim';
import { send, TEST_PROFILE } from '../../../test/helpers/cards.js';
import {
  bytesToHex,
  decodeApplicationInfo,
  decodeObjectList,
  digest,
  ecdsaRawToDer,
  encodeP256Spki,
  hexToBytes,
  hkdfExtract,
  intermediateHashState,
  pskPremaster,
  tls12Prf,
  utf8,
} from '../../../test/helpers/crypto-bridge.js';

function selected(personality = 'reference') {
  const sim = VirtualSim.inMemory(TEST_PROFILE, { personality });
  assert.equal(send(sim.card, '00A4040007A0000005590010').sw, '9000');
  return sim;
}

const tlv = (tag: string, value: string) =>
  `${tag}${(value.length / 2).toString(16).padStart(2, '0').toUpperCase()}${value}`;
const apdu = (header: string, data: string) =>
  `${header}${(data.length / 2).toString(16).padStart(2, '0').toUpperCase()}${data}`;
const signInit = (keyTlv: string, mode = '03', hash = '0001', alg = '04') =>
  `${keyTlv}A101${mode}9102${hash}9201${alg}`;

describe('GET RANDOM', () => {
  test('returns Le bytes (00 = 256); P1P2, data and missing Le are refused', () => {
    const { card } = selected();
    assert.equal(send(card, '8084000010').data.length, 32);
    assert.equal(send(card, '8084000000').data.length, 512);
    assert.notEqual(send(card, '8084000010').data, send(card, '8084000010').data);
    assert.equal(send(card, '8084010010').sw, '6A86');
    assert.equal(send(card, '80840000').sw, '6700');
    assert.equal(send(card, '808400000101').sw, '6700');
  });
});

describe('GET DATA', () => {
  test('P1=00: application information with spec tags 90/93, or 61/6F for the Thales MVP personality', () => {
    const spec = send(selected().card, '80CB000000');
    assert.equal(spec.sw, '9000');
    assert.ok(spec.data.includes('900107') || spec.data.includes('90010F'));
    const info = decodeApplicationInfo(hexToBytes(spec.data));
    assert.equal(info.maxSessions, 4);
    assert.equal(info.maxPrivateKeys, 6);
    const thales = send(selected('thales-mvp').card, '80CB000000');
    assert.ok(!thales.data.includes('90010F') && thales.data.includes('61010F'));
    assert.equal(decodeApplicationInfo(hexToBytes(thales.data)).maxSessions, 1);
  });
  test('P1=01: object list pages with 6300 and P2=01, then 6985 when nothing is in progress', () => {
    const { card } = selected();
    let page = send(card, '80CB010000');
    const pages = [page.data];
    while (page.sw === '6300') {
      page = send(card, '80CB010100');
      pages.push(page.data);
    }
    assert.equal(page.sw, '9000');
    assert.ok(pages.length > 1, 'the test profile needs several pages');
    const objects = decodeObjectList(hexToBytes(pages.join('')));
    assert.equal(objects.length, TEST_PROFILE.containers.length);
    assert.equal(send(card, '80CB010100').sw, '6985');
    assert.equal(send(card, '80CB010200').sw, '6A86');
  });
  test('the Thales MVP personality sends tag 92 with length 02 and one byte, as its trace shows', () => {
    const { card } = selected('thales-mvp');
    const key = send(card, apdu('80CBC100', tlv('84', '01')));
    assert.equal(key.sw, '9000');
    assert.match(key.data, /9202[0-9A-F]{2}(91|6F)/);
    assert.match(send(selected().card, apdu('80CBC100', tlv('84', '01'))).data, /9201[0-9A-F]{2}91/);
  });
  test('P1=C1..C4: one descriptor, wrapped or flat; unknown object 6A82; bad P1 6A86', () => {
    const { card } = selected();
    const file = send(card, apdu('80CBC300', tlv('83', '02')));
    assert.ok(file.data.startsWith('C3'));
    assert.equal(decodeObjectList(hexToBytes(file.data))[0]!.fileSize, 260);
    const flat = send(selected('m33mu').card, apdu('80CBC300', tlv('83', '02')));
    assert.ok(flat.data.startsWith('73'));
    assert.equal(send(card, apdu('80CBC300', tlv('73', bytesToHex(utf8('device-certificate'))))).sw, '9000');
    assert.equal(send(card, apdu('80CBC300', tlv('83', '99'))).sw, '6A82');
    assert.equal(send(card, apdu('80CBC500', tlv('83', '02'))).sw, '6A86');
    assert.equal(send(card, '80CBC30000').sw, '6700');
    assert.equal(send(card, apdu('80CBC300', `${tlv('83', '02')}${tlv('73', '41')}`)).sw, '6A80');
  });
});

describe('READ FILE', () => {
  test('reads by offset in P1P2 in chunks up to Le, and refuses past the end', () => {
    const { card } = selected();
    const first = send(card, apdu('80B00000', tlv('83', '02')));
    assert.equal(first.data.length / 2, 256);
    const rest = send(card, apdu('80B00100', tlv('83', '02')));
    assert.equal(rest.data.length / 2, 4);
    assert.equal(send(card, `${apdu('80B00010', tlv('83', '02'))}32`).data.length / 2, 0x32);
    assert.equal(send(card, apdu('80B00104', tlv('83', '02'))).sw, '6A86');
    assert.equal(send(selected('zariot').card, apdu('80B00104', tlv('83', '02'))).sw, '6981');
  });
  test('unknown file 6A82, empty file 6985, unreadable file 6985, no data 6700', () => {
    const { card } = selected();
    assert.equal(send(card, apdu('80B00000', tlv('83', '55'))).sw, '6A82');
    assert.equal(send(card, apdu('80B00000', tlv('83', '03'))).sw, '6985');
    assert.equal(send(card, apdu('80B00000', tlv('83', '07'))).sw, '6985');
    assert.equal(send(card, '80B0000000').sw, '6700');
  });
  test('the m33mu personality answers at most 240 bytes', () => {
    const { card } = selected('m33mu');
    assert.equal(send(card, `${apdu('80B00000', tlv('83', '02'))}00`).data.length / 2, 240);
  });
});

describe('GENERATE KEY PAIR and READ PUBLIC KEY', () => {
  test('answers 84 85 34…, updates the partner public key, which READ PUBLIC KEY returns', () => {
    const { card } = selected();
    const gen = send(card, apdu('80B90000', tlv('84', '01')));
    assert.equal(gen.sw, '9000');
    assert.match(gen.data, /^840101850101344549438641 ?04/);
    const point = gen.data.slice(-130);
    assert.equal(send(card, apdu('80CD0000', tlv('85', '01'))).data, `34454943864104${point.slice(2)}`);
  });
  test('ZARIOT moves the public key to the next ID; m33mu answers only 34 …', () => {
    const z = VirtualSim.inMemory(
      {
        containers: [
          { class: 'privateKey', id: '303031', key: 'generate' },
          { class: 'publicKey', id: '303032' },
        ],
      },
      { personality: 'zariot' },
    );
    send(z.card, '00A4040007A0000005590010');
    const gen = send(z.card, apdu('80B90000', tlv('84', '303031')));
    assert.equal(gen.sw, '6151');
    assert.match(send(z.card, '80C0000051').data, /^84033030318503303032344549/);
    const m = selected('m33mu');
    assert.match(send(m.card, apdu('80B90000', tlv('84', '01'))).data, /^34454943864104/);
  });
  test('refusals: unknown 6A82, no keygen function 6985, P1 6A86, no data 6700', () => {
    const { card } = selected();
    assert.equal(send(card, apdu('80B90000', tlv('84', '77'))).sw, '6A82');
    assert.equal(send(card, apdu('80B90000', tlv('84', '0A'))).sw, '6985');
    assert.equal(send(card, apdu('80B90100', tlv('84', '01'))).sw, '6A86');
    assert.equal(send(card, '80B9000000').sw, '6700');
    assert.equal(send(card, apdu('80CD0000', tlv('85', '05'))).sw, '6985');
    assert.equal(send(card, apdu('80CD0000', tlv('85', '42'))).sw, '6A82');
  });
  test('a brainpool container generates a brainpoolP256r1 key', () => {
    const { card } = selected();
    assert.equal(send(card, apdu('80B90000', tlv('84', '09'))).sw, '9000');
  });
});

describe('PUT PUBLIC KEY', () => {
  const point =
    '049E5B7F778B7997617C8993B6406608EFE2D3F2D6751D6B3F5F5320FFFD6A7DC9A8F6C5C1474F64D668364AE2ED8DC4C1C6C4767423B013937B4499F52C4F89A0';
  const payload = tlv('34', tlv('49', tlv('86', point)));
  test('INIT, UPDATE (in two chunks), close; the key is then readable', () => {
    const { card } = selected();
    assert.equal(send(card, apdu('80240003', tlv('85', '05'))).sw, '9000');
    assert.equal(send(card, apdu('80D80003', payload.slice(0, 40))).sw, '9000');
    assert.equal(send(card, apdu('80D88003', payload.slice(40))).sw, '9000');
    assert.equal(send(card, '8024010300').sw, '9000');
    assert.equal(send(card, apdu('80CD0000', tlv('85', '05'))).data, payload);
  });
  test('session rules: already open 6985, UPDATE without session 6985, close unopened 6A86, bad P1 6A86', () => {
    const { card } = selected();
    assert.equal(send(card, apdu('80240003', tlv('85', '05'))).sw, '9000');
    assert.equal(send(card, apdu('80240003', tlv('85', '05'))).sw, '6985');
    assert.equal(send(card, apdu('80D88004', payload)).sw, '6985');
    assert.equal(send(card, '8024010400').sw, '6A86');
    assert.equal(send(card, apdu('80D84003', payload)).sw, '6A86');
    assert.equal(send(card, apdu('80240203', tlv('85', '05'))).sw, '6A86');
  });
  test('a point off the curve is 6A80 and changes nothing; a read-only container is 6985', () => {
    const { card, store } = selected();
    const before = store.version;
    const bad = tlv('34', tlv('49', tlv('86', `${point.slice(0, -2)}A1`)));
    send(card, apdu('80240003', tlv('85', '05')));
    assert.equal(send(card, apdu('80D88003', bad)).sw, '6A80');
    assert.equal(store.version, before);
    assert.equal(send(card, apdu('80CD0000', tlv('85', '05'))).sw, '6985');
    assert.equal(send(card, apdu('80240002', tlv('85', '06'))).sw, '6985');
  });
});

describe('COMPUTE SIGNATURE', () => {
  function publicKeyOf(card: VirtualSim['card'], id: string) {
    const data = send(card, apdu('80CD0000', tlv('85', id))).data;
    return createPublicKey({
      key: Buffer.from(encodeP256Spki(hexToBytes(data.slice(-130)))),
      format: 'der',
      type: 'spki',
    });
  }
  test('pad-and-sign with SHA-256/384/512: 33 00 40 r||s that node:crypto verifies', () => {
    const { card } = selected();
    const key = publicKeyOf(card, '01');
    for (const [alg, bits] of [
      ['sha256', '0001'],
      ['sha384', '0002'],
      ['sha512', '0004'],
    ] as const) {
      const message = utf8(`hello ${alg}`);
      assert.equal(send(card, apdu('802A0001', signInit(tlv('84', '01'), '03', bits))).sw, '9000');
      const answer = send(card, apdu('802B8001', tlv('9E', bytesToHex(digest(alg, message)))));
      assert.equal(answer.sw, '9000');
      assert.match(answer.data, /^330040/);
      assert.ok(verify(alg, message, key, Buffer.from(ecdsaRawToDer(hexToBytes(answer.data.slice(6))))), alg);
      assert.equal(send(card, '802A010100').sw, '9000');
    }
  });
  test('full text in several UPDATEs, and last-block mode from an intermediate hash', () => {
    const { card } = selected();
    const key = publicKeyOf(card, '01');
    const message = new Uint8Array(600).map((_, i) => i & 0xff);
    send(card, apdu('802A0001', signInit(tlv('84', '01'), '01')));
    const data = `9B820258${bytesToHex(message)}`;
    for (let i = 0; i < data.length; i += 400) {
      const last = i + 400 >= data.length;
      const r = send(card, apdu(`802B${last ? '80' : '00'}01`, data.slice(i, i + 400)));
      assert.equal(r.sw, '9000');
      if (last)
        assert.ok(verify('sha256', message, key, Buffer.from(ecdsaRawToDer(hexToBytes(r.data.slice(6))))));
    }
    send(card, '802A010100');
    send(card, apdu('802A0001', signInit(tlv('84', '01'), '02')));
    const state = bytesToHex(intermediateHashState('sha256', message.subarray(0, 576)));
    const r = send(
      card,
      apdu(
        '802B8001',
        `${tlv('9A', bytesToHex(message.subarray(576)))}${tlv('9C', state)}${tlv('9D', '00000240')}`,
      ),
    );
    assert.ok(verify('sha256', message, key, Buffer.from(ecdsaRawToDer(hexToBytes(r.data.slice(6))))));
  });
  test('the Thales MVP personality answers 33 40 (1-byte length)', () => {
    const { card } = selected('thales-mvp');
    send(card, apdu('802A0001', signInit(tlv('84', '01'))));
    assert.match(send(card, apdu('802B8001', tlv('9E', '11'.repeat(32)))).data, /^3340/);
  });
  test('a brainpool key signs', () => {
    const { card } = selected();
    send(card, apdu('802A0001', signInit(tlv('84', '09'))));
    assert.equal(send(card, apdu('802B8001', tlv('9E', '11'.repeat(32)))).sw, '9000');
  });
  test('refusals: unknown key, empty key, no signature function, hash or algorithm not allowed, wrong hash length', () => {
    const { card } = selected();
    assert.equal(send(card, apdu('802A0001', signInit(tlv('84', '77')))).sw, '6A82');
    assert.equal(send(card, apdu('802A0001', signInit(tlv('84', '0B')))).sw, '6985');
    assert.equal(send(card, apdu('802A0001', signInit(tlv('84', '0A')))).sw, '6985');
    assert.equal(send(card, apdu('802A0001', signInit(tlv('84', '08'), '03', '0004'))).sw, '6985');
    assert.equal(send(card, apdu('802A0001', signInit(tlv('84', '01'), '03', '0001', '01'))).sw, '6985');
    assert.equal(send(card, apdu('802A0001', signInit(tlv('84', '01'), '07'))).sw, '6A80');
    assert.equal(
      send(card, apdu('802A0001', `${tlv('84', '01')}${tlv('74', '41')}A1010391020001920104`)).sw,
      '6A80',
    );
    assert.equal(send(card, apdu('802A0001', signInit(tlv('84', '01')))).sw, '9000');
    assert.equal(send(card, apdu('802B8001', tlv('9E', '11'.repeat(31)))).sw, '6A80');
    assert.equal(send(card, apdu('802B8001', tlv('9E', '11'.repeat(32)))).sw, '6985'); // aborted after the error
  });
  test('session rules: UPDATE with no session, twice open, maximum sessions, close unopened', () => {
    const { card } = selected('thales-mvp');
    assert.equal(send(card, apdu('802B8001', tlv('9E', '11'.repeat(32)))).sw, '6985');
    assert.equal(send(card, apdu('802A0001', signInit(tlv('84', '01')))).sw, '9000');
    assert.equal(send(card, apdu('802A0001', signInit(tlv('84', '01')))).sw, '6985');
    assert.equal(send(card, apdu('802A0002', signInit(tlv('84', '01')))).sw, '6985'); // one session only
    assert.equal(send(card, '802A010100').sw, '9000');
    assert.equal(send(card, '802A010100').sw, '6A86');
    assert.equal(send(card, '802A01010101').sw, '6700');
  });
  test('a finished session reopens where the personality allows it (Thales), never one mid-UPDATE', () => {
    const sign = () => {
      assert.equal(send(card, apdu('802A0001', signInit(tlv('84', '01')))).sw, '9000');
      return send(card, apdu('802B8001', tlv('9E', '11'.repeat(32)))).sw;
    };
    let { card } = selected('thales-mvp');
    assert.equal(sign(), '9000');
    assert.equal(sign(), '9000'); // no INIT close between the two
    assert.equal(send(card, apdu('802A0002', signInit(tlv('84', '01')))).sw, '9000'); // the slot is free
    assert.equal(send(card, apdu('802A0001', signInit(tlv('84', '01')))).sw, '6985'); // 02 still takes UPDATEs
    ({ card } = selected('m33mu')); // a strict personality on T=1
    assert.equal(sign(), '9000');
    assert.equal(send(card, apdu('802A0001', signInit(tlv('84', '01')))).sw, '6985');
    assert.equal(send(card, '802A010100').sw, '9000');
    assert.equal(sign(), '9000');
  });
  test('a TLS 1.3 CertificateVerify key signs CertificateVerify content only in full-text mode', () => {
    const { card } = selected();
    const context = `${'20'.repeat(64)}${bytesToHex(utf8('TLS 1.3, client CertificateVerify'))}00${'AB'.repeat(32)}`;
    send(card, apdu('802A0001', signInit(tlv('84', '08'), '01')));
    assert.equal(send(card, apdu('802B8001', `9B8182${context}`)).sw, '9000');
    send(card, '802A010100');
    send(card, apdu('802A0001', signInit(tlv('84', '08'), '01')));
    assert.equal(send(card, apdu('802B8001', tlv('9B', 'AB'.repeat(40)))).sw, '6985');
  });
});

describe('VERIFY SIGNATURE', () => {
  test('9000 for a good signature, 6D01 for a bad one', () => {
    const { card } = selected();
    const hash = '22'.repeat(32);
    send(card, apdu('802A0001', signInit(tlv('84', '01'))));
    const sig = send(card, apdu('802B8001', tlv('9E', hash))).data.slice(6);
    send(card, '802A010100');
    assert.equal(send(card, apdu('802C0002', signInit(tlv('85', '01')))).sw, '9000');
    assert.equal(send(card, apdu('802D8002', `${tlv('9E', hash)}330040${sig}`)).sw, '9000');
    send(card, '802C010200');
    send(card, apdu('802C0002', signInit(tlv('85', '01'))));
    const bad = `${sig.slice(0, -2)}${sig.endsWith('00') ? '01' : '00'}`;
    assert.equal(send(card, apdu('802D8002', `${tlv('9E', hash)}330040${bad}`)).sw, '6D01');
  });
  test('a missing signature is 6A80; an empty public key container 6985', () => {
    const { card } = selected();
    send(card, apdu('802C0002', signInit(tlv('85', '01'))));
    assert.equal(send(card, apdu('802D8002', tlv('9E', '22'.repeat(32)))).sw, '6A80');
    assert.equal(send(card, apdu('802C0002', signInit(tlv('85', '05')))).sw, '6985');
  });
});

describe('COMPUTE DH', () => {
  test('shared secret equals the peer side computed by node:crypto', () => {
    const { card } = selected();
    const ours = send(card, apdu('80B90000', tlv('84', '04'))).data.slice(-130);
    const peer = createECDH('prime256v1');
    peer.generateKeys();
    send(card, apdu('80240003', tlv('85', '05')));
    send(card, apdu('80D88003', tlv('34', tlv('49', tlv('86', bytesToHex(peer.getPublicKey()))))));
    send(card, '8024010300');
    const secret = send(card, apdu('80460000', `${tlv('84', '04')}${tlv('85', '05')}`));
    assert.equal(secret.sw, '9000');
    assert.equal(secret.data, bytesToHex(peer.computeSecret(hexToBytes(ours))));
  });
  test('refusals: empty peer 6985, key without agreement 6985, CertificateVerify key 6985, curve mismatch 6985, P1 6A86', () => {
    const { card } = selected();
    assert.equal(send(card, apdu('80460000', `${tlv('84', '01')}${tlv('85', '05')}`)).sw, '6985');
    assert.equal(send(card, apdu('80460000', `${tlv('84', '0B')}${tlv('85', '06')}`)).sw, '6985');
    assert.equal(send(card, apdu('80460000', `${tlv('84', '08')}${tlv('85', '06')}`)).sw, '6985');
    assert.equal(send(card, apdu('80460000', `${tlv('84', '09')}${tlv('85', '06')}`)).sw, '6985');
    assert.equal(send(card, apdu('80460100', `${tlv('84', '01')}${tlv('85', '06')}`)).sw, '6A86');
    assert.equal(send(card, apdu('80460000', tlv('84', '01'))).sw, '6A80');
    assert.equal(send(card, apdu('80460000', `${tlv('84', '01')}${tlv('85', '06')}`)).sw, '9000');
  });
});

describe('COMPUTE PRF', () => {
  const labelSeed = bytesToHex(utf8('master secret')) + 'CC'.repeat(64);
  test('mode 00 with the secret in D1; modes 01/02 build the RFC 4279 / RFC 5489 premaster', () => {
    const { card } = selected();
    const psk = hexToBytes('0102030405060708090A0B0C0D0E0F10');
    const general = send(
      card,
      apdu('80480000', `${tlv('D1', 'AA'.repeat(48))}${tlv('D2', labelSeed)}D30130`),
    );
    assert.equal(general.data, bytesToHex(tls12Prf(hexToBytes('AA'.repeat(48)), hexToBytes(labelSeed), 48)));
    const plain = send(card, apdu('80480100', `${tlv('86', '10')}${tlv('D2', labelSeed)}D30130`));
    assert.equal(plain.data, bytesToHex(tls12Prf(pskPremaster(psk), hexToBytes(labelSeed), 48)));
    const other = '55'.repeat(32);
    const ecdhe = send(
      card,
      apdu(
        '80480200',
        `${tlv('76', bytesToHex(utf8('psk')))}${tlv('D4', other)}${tlv('D2', labelSeed)}D30130`,
      ),
    );
    const premaster = hexToBytes(`0020${other}0010${bytesToHex(psk)}`);
    assert.equal(ecdhe.data, bytesToHex(tls12Prf(premaster, hexToBytes(labelSeed), 48)));
  });
  test('refusals: PRF not allowed for the secret, empty secret, length 0, D1 in mode 01, P1 03', () => {
    const { card } = selected();
    assert.equal(send(card, apdu('80480100', `${tlv('86', '11')}${tlv('D2', labelSeed)}D30130`)).sw, '6985');
    assert.equal(send(card, apdu('80480100', `${tlv('86', '12')}${tlv('D2', labelSeed)}D30130`)).sw, '6985');
    assert.equal(send(card, apdu('80480000', `${tlv('D1', 'AA')}${tlv('D2', labelSeed)}D30100`)).sw, '6A80');
    assert.equal(
      send(card, apdu('80480100', `${tlv('D1', 'AA')}${tlv('86', '10')}${tlv('D2', labelSeed)}D30130`)).sw,
      '6A80',
    );
    assert.equal(send(card, apdu('80480300', `${tlv('D1', 'AA')}${tlv('D2', labelSeed)}D30130`)).sw, '6A86');
    assert.equal(send(card, apdu('80480200', `${tlv('86', '10')}${tlv('D2', labelSeed)}D30130`)).sw, '6A80');
  });
});

describe('COMPUTE HKDF', () => {
  test('mode 00 (IKM in D1) and mode 01 (secret container) give HKDF-Extract', () => {
    const { card } = selected();
    const salt = '00'.repeat(32);
    const r0 = send(
      card,
      apdu('804A0000', `${tlv('D1', '0B'.repeat(22))}${tlv('D5', '000102030405060708090A0B0C')}91020001`),
    );
    assert.equal(r0.data, '077709362C2E32DF0DDC3F0DC47BBA6390B6C73BB50F9C3122EC844AD7C2B3E5');
    const r1 = send(card, apdu('804A0100', `${tlv('86', '11')}${tlv('D5', salt)}91020002`));
    assert.equal(r1.data, bytesToHex(hkdfExtract('sha384', hexToBytes(salt), hexToBytes('AA'.repeat(32)))));
  });
  test('an empty salt is accepted by the reference applet and refused (6A80) by Thales/Kigen personalities', () => {
    const ok = send(selected().card, apdu('804A0000', `${tlv('D1', '0B'.repeat(22))}D50091020001`));
    assert.equal(ok.data, bytesToHex(hkdfExtract('sha256', new Uint8Array(0), hexToBytes('0B'.repeat(22)))));
    for (const p of ['thales-mvp', 'kigen']) {
      const { card } = selected(p);
      assert.equal(
        send(card, apdu('804A0000', `${tlv('D1', '0B'.repeat(22))}D50091020001`)).sw,
        p === 'kigen' ? '6A80' : '6A80',
      );
    }
  });
  test('refusals: unknown hash 6A80, missing salt 6A80, HKDF not allowed 6985, P1 02 6A86', () => {
    const { card } = selected();
    assert.equal(send(card, apdu('804A0000', `${tlv('D1', '0B')}${tlv('D5', '00')}91020008`)).sw, '6A80');
    assert.equal(send(card, apdu('804A0000', `${tlv('D1', '0B')}91020001`)).sw, '6A80');
    assert.equal(send(card, apdu('804A0100', `${tlv('86', '12')}${tlv('D5', '00')}91020001`)).sw, '6985');
    assert.equal(send(card, apdu('804A0200', `${tlv('D1', '0B')}${tlv('D5', '00')}91020001`)).sw, '6A86');
  });
});

describe('volatile containers', () => {
  test('a volatile key generated on the card is gone after reset; persistent keys stay', () => {
    const sim = selected();
    send(sim.card, apdu('80B90000', tlv('84', '04')));
    sim.card.reset();
    send(sim.card, '00A4040007A0000005590010');
    assert.equal(send(sim.card, apdu('80460000', `${tlv('84', '04')}${tlv('85', '06')}`)).sw, '6985');
    assert.equal(send(sim.card, apdu('80CD0000', tlv('85', '01'))).sw, '9000');
  });
});
