// Seeded fuzzing of what a DTLS client reads off the network (FUZZ_DTLS_DATAGRAMS datagrams, default
// 100,000; FUZZ_SEED): mutations of a real server's datagrams and random ones, fed to clients in the
// middle of their handshake over an in-memory link. Every datagram is dropped silently or ends the
// handshake with a TlsError — never another exception, never a crash. Then the same against the record
// layer and reassembler alone.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { hexToBytes, utf8 } from '@iotsafe/protocol';
import { connectDtls, SoftwareKeyOps, TlsError } from '@iotsafe/tls';
import { startScriptedDtlsServer } from '../../../test/helpers/dtls-server.js';
import { SeededRandom } from '../../../test/helpers/random.js';
import { DtlsReassembler } from '../src/dtls/handshake-framing.js';
import { DatagramRecordLayer } from '../src/dtls/record-layer.js';
import { Tls12RecordCipher } from '../src/tls12/protection.js';
import { suite12ByCode } from '../src/tls12/suites.js';

const DATAGRAMS = Number(process.env.FUZZ_DTLS_DATAGRAMS ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? 6347);
const PSK = hexToBytes('00112233445566778899aabbccddeeff');

/** A datagram link in memory: what the client sends is kept, what the test injects is received. */
class MemoryLink extends EventEmitter {
  readonly remote = { address: '192.0.2.1', port: 5684 };
  sent = 0;
  send(): void {
    this.sent++;
  }
  close(): void {}
}

function mutate(r: SeededRandom, datagram: Uint8Array): Uint8Array {
  const out = Uint8Array.from(datagram);
  switch (r.int(5)) {
    case 0: // flip a few bytes
      for (let i = 0, n = 1 + r.int(4); i < n; i++) out[r.int(out.length)] = r.int(256);
      return out;
    case 1: // truncate
      return out.subarray(0, r.int(out.length + 1));
    case 2: // a header field: length, epoch, sequence, fragment fields
      out[r.pick([3, 4, 10, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24])! % out.length] = r.int(256);
      return out;
    case 3: // random bytes appended
      return Uint8Array.from([...out, ...r.bytes(r.int(40))]);
    default: // random
      return r.bytes(r.int(300));
  }
}

/** Datagrams a real handshake brings from the server: the cookie, the ServerHello flight, the end. */
async function capturedServerDatagrams(): Promise<Uint8Array[]> {
  const server = await startScriptedDtlsServer({ psk: PSK });
  try {
    const client = connectDtls({ port: server.port, keyOps: keyOps(), retransmit: { initial: 200 } });
    await client.ready();
    await client.close();
    return [...server.sent];
  } finally {
    await server.close();
  }
}

const keyOps = () => new SoftwareKeyOps({ psk: { identity: utf8('fuzz'), key: PSK } });

test(`${DATAGRAMS} mutated and random datagrams into handshaking clients: silent drops or TlsError`, async (t) => {
  const r = new SeededRandom(SEED);
  const corpus = await capturedServerDatagrams();
  assert.ok(corpus.length >= 3);
  const perClient = 200;
  let clients = 0;
  const alerts = new Map<string, number>();
  let answered = 0;
  for (let fed = 0; fed < DATAGRAMS; ) {
    const link = new MemoryLink();
    const client = connectDtls({ transport: link, keyOps: keyOps(), retransmit: { initial: 60_000 } });
    clients++;
    let failure: unknown;
    client.on('error', (e) => {
      failure = e;
    });
    await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < perClient && fed < DATAGRAMS && failure === undefined; i++, fed++) {
      const base = corpus[r.int(corpus.length)]!;
      link.emit('message', r.int(4) === 0 ? base : mutate(r, base));
      if (i % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise((resolve) => setImmediate(resolve));
    if (failure !== undefined) {
      assert.ok(failure instanceof TlsError, `seed ${SEED}: ${String(failure)}`);
      // A TypeError inside would come out as internal_error: none may.
      assert.notEqual(failure.alert, 'internal_error', `seed ${SEED}: ${failure.message}`);
      alerts.set(failure.alert, (alerts.get(failure.alert) ?? 0) + 1);
    }
    if (link.sent > 1) answered++;
    await client.close();
  }
  // The corpus drove clients past the first ClientHello (a cookie answered, a flight sent).
  assert.ok(answered > 0, `${answered} of ${clients} clients answered something`);
  t.diagnostic(`${clients} clients, ${answered} answered, failures: ${JSON.stringify([...alerts])}`);
});

test(`${DATAGRAMS} datagrams into the record layer and reassembler alone: never an exception`, () => {
  const r = new SeededRandom(SEED + 1);
  const suite = suite12ByCode(0xc0a8)!;
  const key = r.bytes(16);
  const salt = r.bytes(4);
  const writer = new DatagramRecordLayer();
  const reader = new DatagramRecordLayer();
  const reassembler = new DtlsReassembler();
  const plain = Array.from({ length: 8 }, () => writer.seal(22, r.bytes(12 + r.int(80))));
  writer.changeWriteCipher(new Tls12RecordCipher(suite, key, salt));
  const sealed = Array.from({ length: 8 }, () => writer.seal(r.pick([21, 22, 23]), r.bytes(r.int(100))));
  let opened = 0;
  for (let i = 0; i < DATAGRAMS; i++) {
    if (i === DATAGRAMS >> 1) reader.changeReadCipher(new Tls12RecordCipher(suite, key, salt));
    const datagram = mutate(r, r.pick([...plain, ...sealed]));
    for (const record of reader.open(datagram)) {
      opened++;
      if (record.type === 22) reassembler.push(record.content);
      while (reassembler.next()) opened++;
    }
  }
  assert.ok(opened > 0, 'some inputs got through, so the deeper paths ran');
});
