import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  ApduLengthError,
  apduCase,
  basicExtensions,
  bytesToHex,
  claForChannel,
  type DecodeRecovery,
  decodeBerTlvs,
  decodeClass,
  decodeIotTlvs,
  decodeObjectList,
  decodePersoScript,
  derOid,
  derSequence,
  derSet,
  derUtf8String,
  describeStatusWord,
  ecdsaDerToRaw,
  ecdsaRawToDer,
  encodeBerTlv,
  encodeCertificate,
  encodeCommandApdu,
  encodeFullTextTlv,
  encodeIotTlv,
  encodePersoScript,
  encodeTbsCertificate,
  FormatError,
  hexToBytes,
  isValidStatusWord,
  OID,
  parseCommandApdu,
  parseResponseApdu,
  subjectAltNameExtension,
  withChannel,
} from '@iotsafe/protocol';

const h = hexToBytes;

describe('hex', () => {
  test('decodes with spaces and either case, encodes upper case', () => {
    assert.equal(bytesToHex(h('80 2a 00 01')), '802A0001');
    assert.equal(bytesToHex(h('0a0B'), ' '), '0A 0B');
  });
  test('rejects odd length and non-hex', () => {
    assert.throws(() => h('123'), FormatError);
    assert.throws(() => h('zz'), FormatError);
  });
});

describe('BER-TLV', () => {
  test('round-trips short, 81, 82 lengths and two-byte tags', () => {
    for (const length of [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x1234]) {
      const value = new Uint8Array(length).fill(0xab);
      for (const tag of [0x84, 0x9f7f, 0xbf8101]) {
        const [decoded] = decodeBerTlvs(encodeBerTlv(tag, value));
        assert.equal(decoded!.tag, tag);
        assert.equal(decoded!.value.length, length);
      }
    }
  });
  test('skips 00/FF padding between objects', () => {
    assert.deepEqual(
      decodeBerTlvs(h('00 84 01 01 FF 85 00')).map((t) => t.tag),
      [0x84, 0x85],
    );
  });
  test('rejects truncation and indefinite length', () => {
    for (const bad of ['84', '84 02 01', '84 81', '9F', '84 80 00 00', '84 84 00 00 00 01 00']) {
      assert.throws(() => decodeBerTlvs(h(bad)), FormatError, bad);
    }
  });
});

describe('IoT SAFE TLV dialect', () => {
  const sig = new Uint8Array(64).fill(7);
  test('tag 33 with a 1-byte or a 2-byte length decodes to the same signature', () => {
    for (const bytes of [1, 2] as const) {
      const [t] = decodeIotTlvs(encodeIotTlv(0x33, sig, bytes));
      assert.equal(t!.tag, 0x33);
      assert.deepEqual(t!.value, sig);
    }
  });
  test('tag 33 after a hash TLV (VERIFY UPDATE) in both forms', () => {
    const hash = encodeIotTlv(0x9e, new Uint8Array(32).fill(1));
    for (const bytes of [1, 2] as const) {
      const tlvs = decodeIotTlvs(new Uint8Array([...hash, ...encodeIotTlv(0x33, sig, bytes)]));
      assert.deepEqual(
        tlvs.map((t) => t.value.length),
        [32, 64],
      );
    }
  });
  test('RSA-size signature 33 01 00 + 256 bytes (2-byte length)', () => {
    const [t] = decodeIotTlvs(encodeIotTlv(0x33, new Uint8Array(256), 2));
    assert.equal(t!.value.length, 256);
  });
  test('tag 9B in 1-byte, BER and fixed 3-byte forms', () => {
    for (const n of [5, 200, 1000]) {
      const data = new Uint8Array(n).fill(3);
      for (const style of ['ber', 'fixed3'] as const) {
        const [t] = decodeIotTlvs(encodeFullTextTlv(data, style));
        assert.equal(t!.value.length, n, `${style} ${n}`);
      }
    }
  });
  test('a value announced longer than the data is a FormatError', () => {
    assert.throws(() => decodeIotTlvs(h('84 05 01 02')), FormatError);
    assert.throws(() => decodeIotTlvs(h('9B 00 00')), FormatError);
  });
});

describe('object descriptors from real cards', () => {
  // A flat Thales MVP descriptor (spec table of §3.2 order), its tag 92 as the quirk sends it: length 02,
  // one byte, then tag 91 — or as it should be, 92 01.
  const descriptor = (id: string, tag92: string) =>
    `85 01 ${id} 60 01 03 4A 01 01 4B 01 13 4E 01 01 61 01 02 ${tag92} 91 02 00 07 6F 01 01`;
  test('tag 92 declaring 2 bytes and carrying 1 (Thales MVP): read, with one recovery note per descriptor', () => {
    const notes: DecodeRecovery[] = [];
    const list = h(`${descriptor('05', '92 02 01')} ${descriptor('06', '92 02 01')} 83 01 02 60 01 01`);
    const objects = decodeObjectList(list, (note) => notes.push(note));
    assert.deepEqual(
      objects.map((o) => [o.objectClass, bytesToHex(o.id!), o.signatureAlgorithms, o.hashAlgorithms]),
      [
        ['publicKey', '05', 0x01, 0x0007],
        ['publicKey', '06', 0x01, 0x0007],
        ['file', '02', undefined, undefined],
      ],
    );
    assert.equal(objects[1]!.keyAgreementAlgorithms, 0x01);
    assert.deepEqual(
      notes.map((n) => [n.kind, n.tag, n.declaredLength, n.usedLength, n.nextTag, n.offset]),
      [
        ['declaredLengthOverrun', 0x92, 2, 1, 0x91, 18],
        ['declaredLengthOverrun', 0x92, 2, 1, 0x91, 46],
      ],
    );
    assert.match(notes[0]!.message, /tag 92 declares 2 bytes.*1 byte.*tag 91/);
  });
  test('the same descriptor inside a C2 wrapper, and a last descriptor whose 92 overruns the data', () => {
    const inner = h(descriptor('05', '92 02 01'));
    const wrapped = h(`C2 ${inner.length.toString(16)} ${bytesToHex(inner)}`);
    const notes: DecodeRecovery[] = [];
    assert.equal(decodeObjectList(wrapped, (n) => notes.push(n))[0]!.signatureAlgorithms, 0x01);
    assert.equal(notes.length, 1);
    const last = h('85 01 05 60 01 03 61 01 02 92 02 01');
    assert.equal(decodeObjectList(last, (n) => notes.push(n))[0]!.signatureAlgorithms, 0x01);
    assert.equal(notes.length, 2);
  });
  test('well-formed lists need no recovery; where no reading works the error stays a FormatError', () => {
    const notes: DecodeRecovery[] = [];
    decodeObjectList(h(`${descriptor('05', '92 01 01')} ${descriptor('06', '92 01 04')}`), (n) =>
      notes.push(n),
    );
    // a 2-byte hash mask on one byte (one buggy applet) is read as sent, not "recovered"
    decodeObjectList(h('84 01 01 61 01 02 91 01 01 92 01 04'), (n) => notes.push(n));
    assert.deepEqual(notes, []);
    // 92 02 followed by a byte that is no tag: nothing to recover to
    assert.throws(() => decodeObjectList(h('85 01 05 92 02 01 02 03')), FormatError);
    assert.throws(() => decodeObjectList(h('85 01 05 60 05 01 02 03')), FormatError);
  });
});

describe('the personalisation lock DGI (docs/perso-format.md)', () => {
  test('A0FF empty is the issuer scope, A0FF 01 over the air only; anything else is a FormatError', () => {
    assert.equal(bytesToHex(encodePersoScript([{ op: 'lock' }])), 'A0FF00');
    assert.equal(bytesToHex(encodePersoScript([{ op: 'lock', scope: 'ota' }])), 'A0FF0101');
    assert.deepEqual(decodePersoScript(hexToBytes('A0FF00')), [{ op: 'lock' }]);
    assert.deepEqual(decodePersoScript(hexToBytes('A0FF0101')), [{ op: 'lock', scope: 'ota' }]);
    for (const bad of ['A0FF0102', 'A0FF020100'])
      assert.throws(() => decodePersoScript(hexToBytes(bad)), /a0ff is empty or 01/i);
  });
});

describe('command APDUs', () => {
  test('cases 1 to 4 round-trip', () => {
    const cases = [
      { cla: 0x80, ins: 0x2a, p1: 1, p2: 1, data: new Uint8Array(0) },
      { cla: 0x80, ins: 0x84, p1: 0, p2: 0, data: new Uint8Array(0), le: 256 },
      { cla: 0x81, ins: 0x2b, p1: 0x80, p2: 1, data: h('9E 02 01 02') },
      { cla: 0x01, ins: 0xb9, p1: 0, p2: 0, data: h('84 01 01'), le: 0x51 },
    ];
    cases.forEach((c, i) => {
      const parsed = parseCommandApdu(encodeCommandApdu(c));
      assert.deepEqual({ ...parsed, data: [...parsed.data] }, { ...c, data: [...c.data] });
      assert.equal(apduCase(parsed), i + 1);
    });
  });
  test('Le 00 is 256 bytes', () => {
    assert.equal(parseCommandApdu(h('8084000000')).le, 256);
    assert.equal(
      bytesToHex(encodeCommandApdu({ cla: 0x80, ins: 0x84, p1: 0, p2: 0, data: new Uint8Array(0), le: 256 })),
      '8084000000',
    );
  });
  test('inconsistent lengths are ApduLengthError', () => {
    for (const bad of ['80', '802A00', '802A00010201', '802A0001020102030405', '802A000000AA']) {
      assert.throws(() => parseCommandApdu(h(bad)), ApduLengthError, bad);
    }
  });
  test('encoding refuses extended sizes and non-bytes', () => {
    assert.throws(
      () => encodeCommandApdu({ cla: 0x80, ins: 1, p1: 0, p2: 0, data: new Uint8Array(256) }),
      FormatError,
    );
    assert.throws(
      () => encodeCommandApdu({ cla: 0x100, ins: 1, p1: 0, p2: 0, data: new Uint8Array(0) }),
      FormatError,
    );
    assert.throws(
      () => encodeCommandApdu({ cla: 0x80, ins: 1, p1: 0, p2: 0, data: new Uint8Array(0), le: 257 }),
      FormatError,
    );
  });
  test('response APDUs need a status word', () => {
    assert.deepEqual(parseResponseApdu(h('01 9000')), { data: h('01'), sw: 0x9000 });
    assert.throws(() => parseResponseApdu(h('90')), FormatError);
  });
});

describe('CLA channel coding (ISO 7816-4 §5.4.1)', () => {
  test('channels 0–3 in the first class, 4–19 in the further class, both families', () => {
    assert.equal(claForChannel(0), 0x00);
    assert.equal(claForChannel(3), 0x03);
    assert.equal(claForChannel(1, 'proprietary'), 0x81);
    assert.equal(claForChannel(4), 0x40);
    assert.equal(claForChannel(19), 0x4f);
    assert.equal(claForChannel(19, 'proprietary'), 0xcf);
    for (let ch = 0; ch <= 19; ch++) {
      for (const kind of ['interindustry', 'proprietary'] as const) {
        const info = decodeClass(claForChannel(ch, kind))!;
        assert.equal(info.channel, ch);
        assert.equal(info.kind, kind);
      }
    }
    assert.throws(() => claForChannel(20), FormatError);
  });
  test('FF and reserved classes are undefined; SM and chaining bits are reported', () => {
    assert.equal(decodeClass(0xff), undefined);
    assert.equal(decodeClass(0x20), undefined);
    assert.equal(decodeClass(0x0c)!.secureMessaging, true);
    assert.equal(decodeClass(0x10)!.chaining, true);
    assert.equal(withChannel(0x81, 2), 0x82);
  });
});

describe('status words', () => {
  test('IoT SAFE table and parameterised ranges read well', () => {
    assert.match(describeStatusWord(0x6d01), /signature does not match/);
    assert.match(describeStatusWord(0x6143), /67 response bytes/);
    assert.match(describeStatusWord(0x6c10), /wrong Le/);
    assert.equal(isValidStatusWord(0x9000), true);
    assert.equal(isValidStatusWord(0x6100), true);
    assert.equal(isValidStatusWord(0x6000), false);
    assert.equal(isValidStatusWord(0x7000), false);
  });
});

describe('ECDSA signature encodings', () => {
  test('raw ↔ DER keeps both halves, including a high bit and leading zeros', () => {
    const raw = h(`${'80'.padEnd(64, '1')}${'00'.repeat(2)}${'7F'.padEnd(60, '2')}`);
    const der = ecdsaRawToDer(raw);
    assert.equal(der[0], 0x30);
    assert.deepEqual(ecdsaDerToRaw(der, 32), raw);
  });
});

describe('X.509 certificates (RFC 5280 §4.1)', () => {
  test('what encodeCertificate writes, node:crypto (OpenSSL) reads back field by field and verifies', () => {
    const issuerKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const subjectKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const cn = (name: string) =>
      derSequence(derSet(derSequence(derOid(OID.commonName), derUtf8String(name))));
    const notBefore = new Date('2026-01-01T00:00:00Z');
    const notAfter = new Date('2051-01-01T00:00:00Z'); // GeneralizedTime from 2050
    const tbs = encodeTbsCertificate({
      serial: Uint8Array.of(0x01, 0x02),
      issuer: cn('issuer'),
      subject: cn('subject'),
      notBefore,
      notAfter,
      publicKeyInfo: new Uint8Array(subjectKey.publicKey.export({ format: 'der', type: 'spki' })),
      extensions: [
        ...basicExtensions('endEntity'),
        subjectAltNameExtension(['device.example'], ['10.0.0.7']),
      ],
    });
    const der = encodeCertificate(tbs, new Uint8Array(sign('sha256', tbs, issuerKey.privateKey)));
    const cert = new X509Certificate(Buffer.from(der));
    assert.equal(cert.subject, 'CN=subject');
    assert.equal(cert.issuer, 'CN=issuer');
    assert.equal(cert.serialNumber, '0102');
    assert.equal(new Date(cert.validFrom).toISOString(), notBefore.toISOString());
    assert.equal(new Date(cert.validTo).toISOString(), notAfter.toISOString());
    assert.equal(cert.subjectAltName, 'DNS:device.example, IP Address:10.0.0.7');
    assert.equal(cert.ca, false);
    assert.ok(cert.verify(issuerKey.publicKey));
    assert.ok(!cert.verify(subjectKey.publicKey));
  });
});
