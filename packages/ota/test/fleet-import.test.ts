// Importing a SIM vendor's batch file: clear and transport-encrypted keys (both ciphers), KCVs, every
// kind of bad row rejected with its line and a reason that holds no key, per-row and atomic modes,
// idempotence (a second import changes nothing and keeps counters), and a seeded fuzz of the parser.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CsvImportError, importVendorFile, OtaStore, parseVendorCsv } from '@iotsafe/ota';
import { aesCbcEncrypt, aesKcv, bytesToHex, encryptKeyWithDek } from '@iotsafe/protocol';
import { STORAGE_KEY } from './rig.js';

const TRANSPORT = new Uint8Array(16).fill(0x3a);
const hex = (b: Uint8Array) => bytesToHex(b).toLowerCase();
const key = (fill: number, length = 16) => new Uint8Array(length).fill(fill);
const iccid = (i: number) => `8949000000000000${String(i).padStart(3, '0')}`;
const HEADER = 'ICCID,IMSI,MSISDN,Batch,Tags,KVN,KIc,KID,KIK,PSK Identity,PSK,KIc_KCV';

function row(i: number, k = (b: Uint8Array) => hex(b)) {
  const kic = key(0x10 + i);
  return [
    iccid(i),
    `26201000000${String(i).padStart(4, '0')}`,
    `4917000${String(i).padStart(4, '0')}`,
    'b-2026',
    'eu;meter',
    '1',
    k(kic),
    k(key(0x20 + i)),
    k(key(0x30 + i)),
    `psk-id-${i}`,
    k(key(0x40 + i, 32)),
    hex(aesKcv(kic)),
  ].join(',');
}

let store: OtaStore;
before(async () => {
  store = await OtaStore.open(':memory:', STORAGE_KEY);
});
after(() => store.close());

describe('vendor batch import', () => {
  test('clear keys: SIMs, key sets (AES KIc/KID bytes for the KVN), PSK identity and sealed PSK', async () => {
    const report = await importVendorFile(store, [HEADER, row(1), row(2)].join('\n'));
    assert.deepEqual([report.rows, report.imported, report.created, report.updated], [2, 2, 2, 0]);
    assert.deepEqual(report.rejected, []);
    const sim = await store.sims.get(iccid(1));
    assert.deepEqual(sim.tags, ['eu', 'meter']);
    assert.equal(sim.batch, 'b-2026');
    assert.equal(sim.pskIdentity, 'psk-id-1');
    const set = await store.sims.keySet(iccid(1), 1);
    assert.deepEqual([set.kicByte, set.kidByte], [0x12, 0x12]);
    assert.deepEqual(set.kic, key(0x11));
    assert.deepEqual(set.kik, key(0x31));
    assert.deepEqual(await store.sims.psk(iccid(2)), key(0x42, 32));
  });

  test('idempotent: the same file again updates, changes nothing, keeps the counter', async () => {
    await store.sims.nextCounter(iccid(1), 1);
    const again = await importVendorFile(store, [HEADER, row(1), row(2)].join('\n'));
    assert.deepEqual([again.imported, again.created, again.updated], [2, 0, 2]);
    assert.equal(await store.sims.counter(iccid(1), 1), 1n);
    assert.equal(await store.sims.count({ batch: 'b-2026' }), 2);
  });

  test('keys under a transport key: AES-CBC IV 0 and AES-ECB; the wrong transport key fails the KCV', () => {
    const cbc = (b: Uint8Array) => hex(encryptKeyWithDek(TRANSPORT, b));
    const parsed = parseVendorCsv([HEADER, row(3, cbc)].join('\n'), { transportKey: TRANSPORT });
    assert.deepEqual(parsed.rejected, []);
    assert.deepEqual(parsed.entries[0]!.keySets[0]!.kid, key(0x23));
    assert.deepEqual(parsed.entries[0]!.psk, key(0x43, 32));
    const ecb = (b: Uint8Array) => {
      const blocks = [];
      for (let at = 0; at < b.length; at += 16)
        blocks.push(hex(aesCbcEncrypt(TRANSPORT, new Uint8Array(16), b.subarray(at, at + 16))));
      return blocks.join('');
    };
    const byEcb = parseVendorCsv([HEADER, row(4, ecb)].join('\n'), {
      transportKey: TRANSPORT,
      cipher: 'aes-ecb',
    });
    assert.deepEqual(byEcb.entries[0]!.psk, key(0x44, 32));
    const wrong = parseVendorCsv([HEADER, row(3, cbc)].join('\n'), { transportKey: key(0x77) });
    assert.equal(wrong.entries.length, 0);
    assert.match(wrong.rejected[0]!.reason, /does not match its KCV \(another transport key\?\)/);
  });

  test('bad rows: rejected with their line and a reason naming no key; good rows imported', async () => {
    const secret = hex(key(0x99));
    const lines = [
      HEADER,
      row(10),
      `12345,,,,,,,,,,,`, // short ICCID
      `${iccid(11)},,,,,1,${secret},,,,,`, // KIc without KID
      `${iccid(12)},,,,,16,${secret},${secret},,,,`, // KVN out of range
      `${iccid(13)},,,,,1,${secret}zz,${secret},,,,`, // not hex
      `${iccid(14)},,,,,1,${secret.slice(2)},${secret},,,,`, // 15-byte key
      `${iccid(15)},,,,,1,${secret},${secret},,,,abcdef`, // KCV mismatch
      `${iccid(16)},,,,bad tag!,,,,,,,`,
      row(10), // twice in the file
      `${iccid(17)},,4917000${'0010'},,,,,,,,,`, // MSISDN of row 10
      `${iccid(18)},,,`, // field count
      `${iccid(19)},,4917000${'0001'},,,,,,,,,`, // MSISDN of SIM 1 in the store
    ];
    const report = await importVendorFile(store, lines.join('\r\n'));
    assert.equal(report.imported, 1);
    assert.deepEqual(
      report.rejected.map((r) => r.line),
      [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
    );
    for (const r of report.rejected) assert.ok(!JSON.stringify(r).includes(secret.slice(0, 8)), r.reason);
    assert.match(report.rejected.find((r) => r.line === 13)!.reason, /belongs to SIM/);
    await assert.rejects(store.sims.get(iccid(11)), /no SIM/);
  });

  test('atomic: one bad row and nothing is imported', async () => {
    const report = await importVendorFile(store, [HEADER, row(20), '1,,,,,,,,,,,'].join('\n'), {
      atomic: true,
    });
    assert.equal(report.refused, true);
    assert.equal(report.imported, 0);
    await assert.rejects(store.sims.get(iccid(20)), /no SIM/);
  });

  test('not CSV, no header, an unknown column: CsvImportError, nothing stored', () => {
    assert.throws(() => parseVendorCsv(''), CsvImportError);
    assert.throws(() => parseVendorCsv('iccid,"open\n1,2'), CsvImportError);
    assert.throws(() => parseVendorCsv('iccid,ki\n1,2'), /unknown column "ki"/);
    assert.throws(() => parseVendorCsv('imsi\n1'), /no iccid column/);
    assert.throws(
      () => parseVendorCsv(`${HEADER}\n${row(1)}\n${row(2)}`, { maxRows: 1 }),
      /more than 1 rows/,
    );
  });
});

describe('vendor batch parser: seeded fuzz', () => {
  // xorshift32: the same inputs on every run
  let seed = 0x16c5a11d;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const ALPHABET = ',"\n\r;+ 0123456789abcdefABCDEFxz\ufeff\u0000é';
  test('3,000 mutated files: a CsvImportError or every row accounted for; no key in any message', () => {
    const base = [HEADER, row(1), row(2), row(3)].join('\n');
    const secrets = [1, 2, 3].flatMap((i) => [hex(key(0x10 + i)), hex(key(0x40 + i, 32))]);
    let files = 0;
    let refusedFiles = 0;
    for (let n = 0; n < 3000; n++) {
      const chars = [...base];
      const edits = 1 + Math.floor(next() * 8);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(next() * chars.length);
        const what = next();
        const c = ALPHABET[Math.floor(next() * ALPHABET.length)]!;
        if (what < 0.4) chars[at] = c;
        else if (what < 0.7) chars.splice(at, 0, c);
        else if (what < 0.9) chars.splice(at, 1 + Math.floor(next() * 5));
        else chars.length = at;
      }
      const text = chars.join('');
      try {
        const parsed = parseVendorCsv(text, n % 2 ? { transportKey: TRANSPORT } : {});
        files++;
        assert.equal(parsed.entries.length + parsed.rejected.length, parsed.rows);
        for (const r of parsed.rejected) {
          assert.ok(r.reason.length > 0 && Number.isInteger(r.line));
          for (const s of secrets) assert.ok(!r.reason.includes(s.slice(0, 12)), r.reason);
        }
      } catch (error) {
        if (!(error instanceof CsvImportError)) throw error;
        refusedFiles++;
        for (const s of secrets) assert.ok(!error.message.includes(s.slice(0, 12)), error.message);
      }
    }
    assert.ok(files > 100 && refusedFiles > 100, `${files} parsed, ${refusedFiles} refused`);
  });
});
