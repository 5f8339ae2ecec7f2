// Seeded fuzz of MAC-then-encrypt record decryption (RFC 5246 §6.2.3.2): random and mutated records
// through the stream record layer with each CBC and NULL suite installed, in TLS 1.0, 1.1 and 1.2.
// Each input is opened by a fresh read side: it yields a record or a TlsError, never another
// exception; a mutated record never opens (its MAC would have to match).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { TlsError } from '@iotsafe/tls';
import { SeededRandom } from '../../../test/helpers/random.js';
import { CONTENT_TYPE, TLS10, TLS11, TLS12 } from '../src/constants.js';
import { MacThenEncryptCipher } from '../src/record/mac-then-encrypt.js';
import { StreamRecordLayer } from '../src/record/stream-layer.js';
import { SUITES_12 } from '../src/tls12/suites.js';

const SEED = Number(process.env.FUZZ_SEED ?? 2246);
const INPUTS = Number(process.env.FUZZ_CBC_INPUTS ?? 3000);
const SUITES = SUITES_12.filter((s) => s.macThenEncrypt);
const VERSIONS = [TLS10, TLS11, TLS12];

test(`${INPUTS} random and mutated CBC/NULL records: a record or a TlsError, never a crash`, () => {
  const r = new SeededRandom(SEED);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => r.next() & 0xff);
  const outcomes = new Map<string, number>();
  for (let i = 0; i < INPUTS; i++) {
    const suite = SUITES[r.next() % SUITES.length]!;
    const version = VERSIONS[r.next() % VERSIONS.length]!;
    const p = suite.macThenEncrypt!;
    const macKey = randomBytes(p.macLength);
    const key = randomBytes(suite.keyLength);
    const iv = randomBytes(p.blockLength);
    const writer = new StreamRecordLayer(version);
    const reader = new StreamRecordLayer(version);
    writer.changeWriteCipher(new MacThenEncryptCipher(p, version, macKey, key, iv, 'seal'));
    reader.changeReadCipher(new MacThenEncryptCipher(p, version, macKey, key, iv, 'open'));
    const mutated = r.next() % 4 !== 0;
    let record: Uint8Array;
    if (mutated) {
      record = Uint8Array.from(writer.seal(CONTENT_TYPE.APPLICATION_DATA, bytes(r.next() % 200)));
      // Flip bits in the body, or cut it, or grow it: the header keeps saying its new length.
      const body = record.length - 5;
      const how = r.next() % 3;
      if (how === 0)
        for (let k = 1 + (r.next() % 3); k > 0; k--) record[5 + (r.next() % body)]! ^= 1 << (r.next() % 8);
      else if (how === 1) record = record.subarray(0, 5 + (r.next() % body));
      else record = Uint8Array.from([...record, ...bytes(1 + (r.next() % 40))]);
      new DataView(record.buffer, record.byteOffset).setUint16(3, record.length - 5);
    } else {
      const body = bytes(r.next() % 300);
      record = Uint8Array.from([
        CONTENT_TYPE.APPLICATION_DATA,
        3,
        version & 0xff,
        body.length >> 8,
        body.length & 0xff,
        ...body,
      ]);
    }
    reader.push(record);
    let outcome: string;
    try {
      const opened = reader.next();
      outcome = opened ? 'opened' : 'incomplete';
    } catch (error) {
      if (!(error instanceof TlsError)) throw new Error(`seed ${SEED} input ${i}: ${String(error)}`);
      outcome = error.alert;
    }
    if (mutated) assert.notEqual(outcome, 'opened', `seed ${SEED} input ${i}: a mutated record opened`);
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  // Random bodies and mutations alike end in bad_record_mac (the one alert for padding and MAC).
  assert.ok((outcomes.get('bad_record_mac') ?? 0) > INPUTS / 2, JSON.stringify([...outcomes]));
});
