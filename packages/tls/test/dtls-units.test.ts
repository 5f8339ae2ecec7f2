// The DTLS building blocks on their own: the anti-replay window (RFC 6347 §4.1.2.6), the record layer
// (explicit epoch ‖ seq48, the AEAD nonce and AAD of RFC 6347 §4.1.2.1 with RFC 6655 §3 / RFC 5288 §3,
// invalid records dropped), handshake fragmentation and reassembly (§4.2.3, the transcript form of
// §4.2.6), and the retransmission timer's back-off, bound and pause (§4.2.4.1), on mocked timers.
import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { describe, mock, test } from 'node:test';
import { CONTENT_TYPE } from '../src/constants.js';
import { DtlsError } from '../src/dtls/errors.js';
import { DtlsReassembler, fragmentHandshake, toDtlsHandshake } from '../src/dtls/handshake-framing.js';
import { DatagramRecordLayer } from '../src/dtls/record-layer.js';
import { ReplayWindow } from '../src/dtls/replay-window.js';
import { RetransmitTimer } from '../src/dtls/retransmit.js';
import { handshakeMessage } from '../src/messages.js';
import { Tls12RecordCipher } from '../src/tls12/protection.js';
import { suite12ByCode } from '../src/tls12/suites.js';

describe('anti-replay window (RFC 6347 §4.1.2.6)', () => {
  test('new numbers pass, repeats and numbers left of the window do not', () => {
    const w = new ReplayWindow(64);
    for (const n of [0n, 1n, 5n, 3n]) {
      assert.equal(w.fresh(n), true);
      w.accept(n);
    }
    assert.equal(w.fresh(3n), false);
    assert.equal(w.fresh(2n), true, 'a gap inside the window is still acceptable');
    w.accept(100n);
    assert.equal(w.fresh(36n), false, '100 − 64: left of the window');
    assert.equal(w.fresh(37n), true);
    assert.equal(w.fresh(100n), false);
    w.accept(1000n);
    assert.equal(w.fresh(999n), true, 'a jump past the window clears it');
    assert.equal(w.fresh(1000n), false);
  });
});

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i);
const SALT = Uint8Array.of(0xa0, 0xa1, 0xa2, 0xa3);

function pair(code: number) {
  const suite = suite12ByCode(code)!;
  const writer = new DatagramRecordLayer();
  const reader = new DatagramRecordLayer();
  writer.changeWriteCipher(new Tls12RecordCipher(suite, KEY, SALT));
  reader.changeReadCipher(new Tls12RecordCipher(suite, KEY, SALT));
  return { suite, writer, reader };
}

describe('record layer', () => {
  for (const code of [0xc0a8, 0x00a8])
    test(`${suite12ByCode(code)!.opensslName}: header, explicit nonce = epoch ‖ seq, AAD by the RFCs`, () => {
      const { suite, writer, reader } = pair(code);
      writer.seal(CONTENT_TYPE.APPLICATION_DATA, Uint8Array.of(0)); // seq 0
      const record = writer.seal(CONTENT_TYPE.APPLICATION_DATA, new TextEncoder().encode('coap'));
      assert.deepEqual([...record.subarray(0, 11)], [23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1]);
      assert.equal(record.readUInt16BE(11), 8 + 4 + suite.tagLength);
      // RFC 6655 §3 / RFC 5288 §3: nonce = salt(4) ‖ explicit(8), the explicit part being epoch ‖ seq48.
      const explicit = record.subarray(13, 21);
      assert.deepEqual([...explicit], [...record.subarray(3, 11)]);
      // AAD = epoch ‖ seq48 ‖ type ‖ version ‖ plaintext length (RFC 6347 §4.1.2.1).
      const aad = Buffer.concat([record.subarray(3, 11), Buffer.of(23, 0xfe, 0xfd, 0, 4)]);
      const decipher = createDecipheriv(
        'aes-128-ccm' as 'aes-128-gcm',
        KEY,
        Buffer.concat([SALT, explicit]),
        {
          authTagLength: suite.tagLength,
        } as never,
      ) as ReturnType<typeof createDecipheriv> & {
        setAAD(a: Uint8Array, o?: object): void;
        setAuthTag(t: Uint8Array): void;
      };
      if (code === 0x00a8) {
        const gcm = createDecipheriv('aes-128-gcm', KEY, Buffer.concat([SALT, explicit]));
        gcm.setAAD(aad);
        gcm.setAuthTag(record.subarray(record.length - 16));
        assert.equal(Buffer.concat([gcm.update(record.subarray(21, 25)), gcm.final()]).toString(), 'coap');
      } else {
        decipher.setAuthTag(record.subarray(record.length - 8));
        decipher.setAAD(aad, { plaintextLength: 4 });
        assert.equal(
          Buffer.concat([decipher.update(record.subarray(21, 25)), decipher.final()]).toString(),
          'coap',
        );
      }
      const opened = reader.open(record);
      assert.equal(opened.length, 1);
      assert.equal(Buffer.from(opened[0]!.content).toString(), 'coap');
      assert.equal(opened[0]!.sequence, 1n);
    });

  test('several records in a datagram; a replay, a forgery, an unknown epoch, bad framing: dropped and counted', () => {
    const { writer, reader } = pair(0xc0a8);
    const a = writer.seal(23, Uint8Array.of(1));
    const b = writer.seal(23, Uint8Array.of(2));
    assert.deepEqual(
      reader.open(Buffer.concat([a, b])).map((r) => r.content[0]),
      [1, 2],
    );
    assert.equal(reader.open(a).length, 0);
    assert.equal(reader.discarded.replayed, 1);
    const forged = Buffer.from(writer.seal(23, Uint8Array.of(3)));
    forged[forged.length - 1]! ^= 1;
    assert.equal(reader.open(forged).length, 0);
    assert.equal(reader.discarded.badRecord, 1);
    const foreign = Buffer.from(writer.seal(23, Uint8Array.of(4)));
    foreign.writeUInt16BE(9, 3);
    assert.equal(reader.open(foreign).length, 0);
    assert.equal(reader.discarded.unknownEpoch, 1);
    const truncated = writer.seal(23, Uint8Array.of(5)).subarray(0, 20);
    const unknownType = Buffer.from(writer.seal(23, Uint8Array.of(6)));
    unknownType[0] = 99;
    assert.equal(reader.open(truncated).length + reader.open(unknownType).length, 0);
    assert.equal(reader.discarded.malformed, 2);
    // The forgery's sequence number was never accepted: the genuine record with it still opens.
    assert.equal(reader.open(writer.seal(23, Uint8Array.of(7))).length, 1);
  });

  test('records of the next epoch that overtake the ChangeCipherSpec wait for its keys', () => {
    const suite = suite12ByCode(0xc0a8)!;
    const writer = new DatagramRecordLayer();
    const reader = new DatagramRecordLayer();
    writer.changeWriteCipher(new Tls12RecordCipher(suite, KEY, SALT));
    const finished = writer.seal(22, Uint8Array.of(20, 0, 0, 0));
    assert.equal(reader.open(finished).length, 0, 'epoch 1 before its keys');
    const released = reader.changeReadCipher(new Tls12RecordCipher(suite, KEY, SALT));
    assert.deepEqual([...released[0]!.content], [20, 0, 0, 0]);
    assert.equal(reader.discarded.unknownEpoch, 0);
  });
});

test('a CID record (RFC 9146 §4, §5): type 25, the CID in the header, the real type inside, its own AAD', () => {
  const suite = suite12ByCode(0xc0a8)!;
  const cid = Uint8Array.of(0xc1, 0xd2, 0xc3);
  const writer = new DatagramRecordLayer();
  const reader = new DatagramRecordLayer();
  writer.useConnectionIds(new Uint8Array(0), cid);
  reader.useConnectionIds(cid, new Uint8Array(0));
  writer.changeWriteCipher(new Tls12RecordCipher(suite, KEY, SALT));
  reader.changeReadCipher(new Tls12RecordCipher(suite, KEY, SALT));
  const record = writer.seal(CONTENT_TYPE.APPLICATION_DATA, new TextEncoder().encode('coap'));
  assert.equal(record[0], 25);
  assert.deepEqual([...record.subarray(11, 14)], [...cid]);
  assert.equal(record.readUInt16BE(14), 8 + 5 + 8);
  const explicit = record.subarray(16, 24);
  assert.deepEqual([...explicit], [...record.subarray(3, 11)]);
  // seq_num_placeholder ‖ tls12_cid ‖ cid_length ‖ tls12_cid ‖ version ‖ epoch ‖ seq ‖ cid ‖ inner length
  const aad = Buffer.concat([
    Buffer.alloc(8, 0xff),
    Buffer.of(25, 3, 25),
    record.subarray(1, 11),
    cid,
    Buffer.of(0, 5),
  ]);
  const decipher = createDecipheriv('aes-128-ccm' as 'aes-128-gcm', KEY, Buffer.concat([SALT, explicit]), {
    authTagLength: 8,
  } as never) as ReturnType<typeof createDecipheriv> & {
    setAAD(a: Uint8Array, o?: object): void;
    setAuthTag(t: Uint8Array): void;
  };
  decipher.setAuthTag(record.subarray(record.length - 8));
  decipher.setAAD(aad, { plaintextLength: 5 });
  const inner = Buffer.concat([decipher.update(record.subarray(24, 29)), decipher.final()]);
  assert.deepEqual([...inner], [...Buffer.from('coap'), 23], 'DTLSInnerPlaintext: content ‖ real type');
  const opened = reader.open(record);
  assert.equal(opened[0]!.type, 23);
  assert.equal(Buffer.from(opened[0]!.content).toString(), 'coap');
  const other = Buffer.from(record);
  other[12]! ^= 1;
  assert.equal(reader.open(other).length, 0);
  assert.equal(reader.discarded.foreignCid, 1);
});

describe('handshake fragmentation and reassembly (RFC 6347 §4.2.3)', () => {
  const message = toDtlsHandshake(
    handshakeMessage(
      11,
      Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff),
    ),
    0,
  );

  test('out of order and duplicated fragments give the message once, in its unfragmented form (§4.2.6)', () => {
    const fragments = fragmentHandshake(message, 150);
    assert.equal(fragments.length, 7);
    const r = new DtlsReassembler();
    for (const f of [...fragments].reverse()) r.push(f);
    r.push(fragments[2]!);
    const whole = r.next()!;
    assert.deepEqual(whole.raw, message);
    assert.equal(r.next(), undefined);
    r.push(fragments[0]!);
    assert.equal(r.discarded.stale, 1);
    assert.equal(r.peerRetransmitted, true);
  });

  test('an overlap that disagrees discards the partial message; an oversized or overlong fragment is dropped', () => {
    const r = new DtlsReassembler({ maxMessage: 2000 });
    const [first, second] = fragmentHandshake(message, 600);
    r.push(first!);
    const liar = fragmentHandshake(message, 400)[1]!.slice(); // bytes 400..799, overlapping 400..599
    liar[12 + 10]! ^= 0xff;
    r.push(liar);
    assert.equal(r.discarded.conflicting, 1);
    r.push(second!);
    assert.equal(r.next(), undefined, 'the first fragment went with the conflict');
    r.push(first!);
    assert.deepEqual(r.next()!.raw, message);
    const huge = toDtlsHandshake(handshakeMessage(11, new Uint8Array(10)), 1);
    huge[1] = 0x7f; // claims 8 MB
    r.push(huge);
    assert.equal(r.discarded.oversized, 1);
    const past = fragmentHandshake(
      toDtlsHandshake(handshakeMessage(11, new Uint8Array(300)), 1),
      100,
    )[2]!.slice();
    past[8] = 0xff; // fragment_offset beyond the length
    r.push(past);
    assert.equal(r.discarded.malformed, 1);
    r.push(Uint8Array.of(1, 2, 3));
    assert.equal(r.discarded.malformed, 2);
  });
});

describe('retransmission timer (RFC 6347 §4.2.4.1), mocked time', () => {
  test('doubles to the ceiling, gives up after the bound with a typed error, and stands still while paused', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const fired: number[] = [];
      const gaveUp: DtlsError[] = [];
      const timer = new RetransmitTimer(
        { initial: 100, max: 400, maxRetransmissions: 4 },
        (_attempt, timeout) => fired.push(timeout),
        (e) => gaveUp.push(e),
      );
      timer.start();
      timer.pause();
      mock.timers.tick(10_000);
      assert.deepEqual(fired, [], 'no retransmission while the SIM works');
      timer.resume();
      mock.timers.tick(100);
      assert.deepEqual(fired, [200]);
      for (const step of [200, 400, 400]) mock.timers.tick(step);
      assert.deepEqual(fired, [200, 400, 400, 400]);
      assert.equal(gaveUp.length, 0);
      mock.timers.tick(400);
      assert.ok(gaveUp[0] instanceof DtlsError);
      assert.equal(gaveUp[0].code, 'retransmissions_exhausted');
      timer.start();
      mock.timers.tick(100);
      assert.equal(fired.at(-1), 200, 'a new flight starts again from the initial timeout');
      timer.stop();
    } finally {
      mock.timers.reset();
    }
  });
});
