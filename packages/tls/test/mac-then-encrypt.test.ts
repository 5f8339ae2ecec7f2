// The TLS 1.0/1.1 PRF against the IETF list's and NIST CAVS vectors (and openssl kdf), and the
// MAC-then-encrypt record protection (RFC 5246 §6.2.3.2, RFC 2246 §6.2.3.2) against a reference
// construction anchored on NIST SP 800-38A and RFC 2202/4231: TLS 1.0 records byte for byte (implicit
// IV chained from the last block), round trips in every version and suite, and every tampering a
// single bad_record_mac.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { TlsError } from '@iotsafe/tls';
import { CONTENT_TYPE, TLS10, TLS11, TLS12 } from '../src/constants.js';
import { MacThenEncryptCipher } from '../src/record/mac-then-encrypt.js';
import type { RecordCipher, RecordContext } from '../src/record/protection.js';
import { StreamRecordLayer } from '../src/record/stream-layer.js';
import { tls12KeyBlock } from '../src/tls12/key-block.js';
import { legacyPrf } from '../src/tls12/legacy-prf.js';
import { SUITES_12, type Suite12, suite12ByCode } from '../src/tls12/suites.js';

const hex = (s: string) => Buffer.from(s, 'hex');
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8'));
const prfVectors = fixture('legacy-prf-vectors.json').vectors as {
  name: string;
  secret: string;
  label: string;
  seed: string;
  output: string;
}[];
const cbcVectors = fixture('cbc-hmac-vectors.json');
const MTE_SUITES = SUITES_12.filter((s) => s.macThenEncrypt);

describe('TLS 1.0/1.1 PRF (RFC 2246 §5)', () => {
  for (const v of prfVectors)
    test(v.name, () => {
      const labelAndSeed = Buffer.concat([Buffer.from(v.label), hex(v.seed)]);
      const out = legacyPrf(hex(v.secret), labelAndSeed, v.output.length / 2);
      assert.equal(Buffer.from(out).toString('hex'), v.output);
    });

  test('an odd-length secret shares its middle byte, as openssl kdf TLS1-PRF does', (t) => {
    const secret = randomBytes(33);
    const seed = randomBytes(40);
    const run = spawnSync(
      'openssl',
      [
        'kdf',
        '-keylen',
        '57',
        '-kdfopt',
        'digest:MD5-SHA1',
        '-kdfopt',
        `hexsecret:${secret.toString('hex')}`,
        '-kdfopt',
        `hexseed:${seed.toString('hex')}`,
        'TLS1-PRF',
      ],
      { encoding: 'utf8' },
    );
    if (run.status !== 0) {
      if (process.env.CI === 'true') assert.fail(`openssl kdf failed: ${run.stderr}`);
      t.diagnostic('openssl kdf TLS1-PRF not available: the cross-check is skipped');
      return;
    }
    const expected = run.stdout.trim().replace(/:/g, '').toLowerCase();
    assert.equal(Buffer.from(legacyPrf(secret, seed, 57)).toString('hex'), expected);
  });
});

describe('reference primitives (the vectors the record tests stand on)', () => {
  test('AES-128-CBC: NIST SP 800-38A F.2.1', () => {
    const v = cbcVectors.aes128cbc;
    const c = createCipheriv('aes-128-cbc', hex(v.key), hex(v.iv)).setAutoPadding(false);
    assert.equal(c.update(hex(v.plaintext)).toString('hex'), v.ciphertext);
  });
  for (const v of cbcVectors.hmac as { hash: string; key: string; data: string; mac: string }[])
    test(`HMAC-${v.hash}: RFC 2202 / RFC 4231`, () => {
      assert.equal(createHmac(v.hash, hex(v.key)).update(hex(v.data)).digest('hex'), v.mac);
    });
});

/** content ‖ HMAC(seq ‖ type ‖ version ‖ length ‖ content) ‖ minimal padding, as RFC 5246 §6.2.3.2 lays it out. */
function referencePlaintext(
  suite: Suite12,
  macKey: Uint8Array,
  seq: bigint,
  version: number,
  content: Buffer,
): Buffer {
  const p = suite.macThenEncrypt!;
  const header = Buffer.alloc(13);
  header.writeBigUInt64BE(seq);
  header[8] = CONTENT_TYPE.APPLICATION_DATA;
  header.writeUInt16BE(version, 9);
  header.writeUInt16BE(content.length, 11);
  const mac = createHmac(p.mac, macKey).update(header).update(content).digest();
  const macced = Buffer.concat([content, mac]);
  if (p.blockLength === 0) return macced;
  const padding = p.blockLength - ((macced.length + 1) % p.blockLength || p.blockLength);
  return Buffer.concat([macced, Buffer.alloc(padding + 1, padding % p.blockLength)]);
}

const context = (sequence: bigint, version: number): RecordContext => ({
  sequence,
  version,
  header: new Uint8Array(5),
});

function seal(cipher: MacThenEncryptCipher, seq: bigint, version: number, content: Uint8Array): Buffer {
  const out = Buffer.alloc(cipher.sealedLength(content.length));
  cipher.sealInto(context(seq, version), CONTENT_TYPE.APPLICATION_DATA, content, out, 0);
  return out;
}

function pair(suite: Suite12, version: number) {
  const p = suite.macThenEncrypt!;
  const macKey = randomBytes(p.macLength);
  const key = randomBytes(suite.keyLength);
  const iv = randomBytes(p.blockLength);
  return {
    macKey,
    key,
    iv,
    writer: new MacThenEncryptCipher(p, version, macKey, key, iv, 'seal'),
    reader: new MacThenEncryptCipher(p, version, macKey, key, iv, 'open'),
  };
}

function open(cipher: MacThenEncryptCipher, seq: bigint, version: number, body: Uint8Array): Uint8Array {
  return cipher.open(context(seq, version), CONTENT_TYPE.APPLICATION_DATA, body).content;
}

const isBadRecordMac = (e: unknown) => e instanceof TlsError && e.alert === 'bad_record_mac';

describe('MAC-then-encrypt records', () => {
  for (const code of [0x008c, 0x00ae, 0x008b]) {
    const suite = suite12ByCode(code)!;
    test(`${suite.opensslName}, TLS 1.0: two records byte for byte, the second chained from the first's last block`, () => {
      const { macKey, key, iv, writer } = pair(suite, TLS10);
      const algorithm = suite.macThenEncrypt!.cipher!;
      const first = Buffer.from('GET /server HTTP/1.1\r\n');
      const second = Buffer.alloc(100, 0x41);
      const sealed1 = seal(writer, 0n, TLS10, first);
      const sealed2 = seal(writer, 1n, TLS10, second);
      const encrypt = (ivBlock: Buffer, plain: Buffer) =>
        createCipheriv(algorithm, key, ivBlock).setAutoPadding(false).update(plain);
      assert.deepEqual(sealed1, encrypt(iv, referencePlaintext(suite, macKey, 0n, TLS10, first)));
      const residue = sealed1.subarray(sealed1.length - suite.macThenEncrypt!.blockLength);
      assert.deepEqual(sealed2, encrypt(residue, referencePlaintext(suite, macKey, 1n, TLS10, second)));
    });
  }

  test('TLS 1.1/1.2: a fresh explicit IV per record, the rest by the reference', () => {
    const suite = suite12ByCode(0x008c)!;
    const { macKey, key, writer } = pair(suite, TLS12);
    const content = Buffer.from('hello');
    const a = seal(writer, 0n, TLS12, content);
    const b = seal(writer, 0n, TLS12, content);
    assert.notDeepEqual(a.subarray(0, 16), b.subarray(0, 16));
    for (const body of [a, b]) {
      const decipher = createDecipheriv('aes-128-cbc', key, body.subarray(0, 16)).setAutoPadding(false);
      assert.deepEqual(
        decipher.update(body.subarray(16)),
        referencePlaintext(suite, macKey, 0n, TLS12, content),
      );
    }
  });

  test('NULL suites: content ‖ MAC in clear', () => {
    const suite = suite12ByCode(0x002c)!;
    const { macKey, writer, reader } = pair(suite, TLS12);
    const sealed = seal(writer, 7n, TLS12, Buffer.from('abc'));
    assert.deepEqual(sealed, referencePlaintext(suite, macKey, 7n, TLS12, Buffer.from('abc')));
    assert.deepEqual(Buffer.from(open(reader, 7n, TLS12, sealed)), Buffer.from('abc'));
    assert.throws(() => open(reader, 8n, TLS12, sealed), isBadRecordMac);
  });

  for (const suite of MTE_SUITES)
    for (const version of [TLS10, TLS11, TLS12])
      test(`${suite.opensslName} v${version.toString(16)}: round trips of 0–80 bytes in sequence`, () => {
        const { writer, reader } = pair(suite, version);
        for (let n = 0, seq = 0n; n <= 80; n += 7, seq++) {
          const content = randomBytes(n);
          assert.deepEqual(
            Buffer.from(open(reader, seq, version, seal(writer, seq, version, content))),
            content,
          );
        }
      });

  test('the key block of the NIST CAVS TLS 1.0 vector, cut for PSK-AES128-CBC-SHA', () => {
    const v = prfVectors.find((x) => x.name.endsWith('key block'))!;
    const block = hex(v.output);
    const seed = hex(v.seed);
    const serverRandom = seed.subarray(0, 32);
    const clientRandom = seed.subarray(32);
    const suite = suite12ByCode(0x008c)!;
    const keys = tls12KeyBlock(suite, hex(v.secret), clientRandom, serverRandom, TLS10);
    // mac 20 + 20, key 16 + 16, IV 16 + 16 = the vector's 104 bytes (RFC 2246 §6.3).
    const expected = new MacThenEncryptCipher(
      suite.macThenEncrypt!,
      TLS10,
      block.subarray(0, 20),
      block.subarray(40, 56),
      block.subarray(72, 88),
      'open',
    );
    const content = Buffer.from('record under the derived client keys');
    assert.deepEqual(Buffer.from(open(expected, 0n, TLS10, sealWith(keys.client, content))), content);
  });

  test('every tampering — IV, ciphertext, MAC, padding, length, sequence — is one bad_record_mac', () => {
    for (const version of [TLS10, TLS12]) {
      const suite = suite12ByCode(0x00ae)!;
      const body = () => {
        const p = pair(suite, version);
        return { ...p, sealed: seal(p.writer, 3n, version, Buffer.from('sixteen bytes!!!')) };
      };
      for (let i = 0; ; i++) {
        const { reader, sealed } = body();
        if (i >= sealed.length) break;
        sealed[i]! ^= 0x01;
        assert.throws(() => open(reader, 3n, version, sealed), isBadRecordMac, `byte ${i}`);
      }
      const { reader, sealed } = body();
      assert.throws(() => open(reader, 4n, version, sealed), isBadRecordMac);
      assert.throws(
        () => open(body().reader, 3n, version, sealed.subarray(0, sealed.length - 1)),
        isBadRecordMac,
      );
      assert.throws(() => open(body().reader, 3n, version, sealed.subarray(0, 16)), isBadRecordMac);
    }
  });

  test('a good MAC under bad padding is bad_record_mac too (no padding oracle)', () => {
    const suite = suite12ByCode(0x008c)!;
    const { macKey, key, reader } = pair(suite, TLS12);
    const good = referencePlaintext(suite, macKey, 0n, TLS12, Buffer.from('x'.repeat(11)));
    // 11 + 20 = 31 bytes and one padding byte, 0: make it claim 1 (the byte before is the MAC's), 16, 255.
    for (const last of [0x01, 0x10, 0xff]) {
      const bad = Buffer.concat([good.subarray(0, good.length - 1), Buffer.of(last)]);
      const iv = randomBytes(16);
      const body = Buffer.concat([
        iv,
        createCipheriv('aes-128-cbc', key, iv).setAutoPadding(false).update(bad),
      ]);
      assert.throws(() => open(reader, 0n, TLS12, body), isBadRecordMac, `padding byte ${last}`);
    }
  });
});

function sealWith(cipher: RecordCipher, content: Buffer): Buffer {
  const out = Buffer.alloc(cipher.sealedLength(content.length));
  cipher.sealInto(context(0n, TLS10), CONTENT_TYPE.APPLICATION_DATA, content, out, 0);
  return out;
}

test('a CBC record may be 2^14 + 2048 bytes long (RFC 5246 §6.2.3), not more', () => {
  const suite = suite12ByCode(0x008c)!;
  for (const [length, alert] of [
    [16384 + 2048 - 16, 'bad_record_mac'],
    [16384 + 2048 + 16, 'record_overflow'],
  ] as const) {
    const { reader } = pair(suite, TLS12);
    const layer = new StreamRecordLayer(TLS12);
    layer.changeReadCipher(reader);
    const record = Buffer.alloc(5 + length);
    record[0] = CONTENT_TYPE.APPLICATION_DATA;
    record.writeUInt16BE(TLS12, 1);
    record.writeUInt16BE(length, 3);
    layer.push(record);
    assert.throws(
      () => layer.next(),
      (e) => e instanceof TlsError && e.alert === alert,
      String(length),
    );
  }
});
