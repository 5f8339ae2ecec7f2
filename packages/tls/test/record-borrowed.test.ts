// Records opened in place from a reused read buffer (the client's own socket reads into one buffer):
// what the layer hands on must never point into the lent bytes, whatever the cipher — an AEAD's output
// is fresh, but a NULL suite's content (RFC 5246 §6.2.3.1) is a view of its body — and a record left partial at the end of a read must survive the buffer being overwritten.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CONTENT_TYPE, TLS12 } from '../src/constants.js';
import { MacThenEncryptCipher } from '../src/record/mac-then-encrypt.js';
import { type RecordCipher, Tls13RecordCipher } from '../src/record/protection.js';
import { StreamRecordLayer } from '../src/record/stream-layer.js';
import { suiteByCode } from '../src/suites.js';
import { suite12ByCode } from '../src/tls12/suites.js';

/** Seals `contents` with `writer`, reads the stream back in `readSize` pieces through one reused buffer. */
function roundTrip(writer: RecordCipher, reader: RecordCipher, readSize: number) {
  const contents = Array.from({ length: 12 }, (_, i) => randomBytes(1 + ((i * 4099) % 20_000)));
  const sealing = new StreamRecordLayer(TLS12);
  sealing.changeWriteCipher(writer);
  const wire = Buffer.concat(contents.map((c) => sealing.seal(CONTENT_TYPE.APPLICATION_DATA, c)));
  const opening = new StreamRecordLayer(TLS12);
  opening.changeReadCipher(reader);
  const readBuffer = new Uint8Array(readSize);
  const received: Uint8Array[] = [];
  for (let at = 0; at < wire.length; at += readSize) {
    const piece = wire.subarray(at, at + readSize);
    readBuffer.set(piece);
    opening.pushBorrowed(readBuffer.subarray(0, piece.length));
    for (let record = opening.next(); record; record = opening.next()) received.push(record.content);
    opening.keepBorrowed();
    readBuffer.fill(0xee); // the next read overwrites it
  }
  assert.equal(opening.buffered, 0);
  assert.deepEqual(
    Buffer.concat(received),
    Buffer.concat(contents),
    'every byte as sent, after the buffer was reused',
  );
  for (const content of received) assert.notEqual(content.buffer, readBuffer.buffer);
}

for (const readSize of [1000, 16_389, 65_536])
  test(`TLS 1.3 AES-128-GCM records read ${readSize} bytes at a time from one reused buffer`, () => {
    const suite = suiteByCode(0x1301)!;
    const key = randomBytes(16);
    const iv = randomBytes(12);
    roundTrip(new Tls13RecordCipher(suite, key, iv), new Tls13RecordCipher(suite, key, iv), readSize);
  });

test('a NULL suite: its content (a view of the body) is copied out of the lent buffer', () => {
  const params = suite12ByCode(0x002c)!.macThenEncrypt!;
  const macKey = randomBytes(params.macLength);
  const cipher = (direction: 'seal' | 'open') =>
    new MacThenEncryptCipher(params, TLS12, macKey, new Uint8Array(0), new Uint8Array(0), direction);
  roundTrip(cipher('seal'), cipher('open'), 7000);
});
