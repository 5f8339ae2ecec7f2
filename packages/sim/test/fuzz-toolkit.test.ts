// Seeded fuzzing of the card's toolkit runtime: TERMINAL RESPONSEs, ENVELOPEs, FETCH and STATUS, mutated
// from well-formed ones, while proactive commands wait. Every answer ends in a status word, no handler
// throws, and an owner's promise settles only with a response whose command details are its command's.
// FUZZ_TOOLKIT_APDUS (default 100,000) and FUZZ_SEED scale and reproduce it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bytesToHex,
  channelDataLengthTlv,
  channelDataTlv,
  decodeProactiveCommand,
  encodeDataAvailableEvent,
  encodeReceiveData,
  encodeSendData,
  encodeTerminalResponse,
  envelopeApdu,
  fetchApdu,
  terminalResponseApdu,
} from '@iotsafe/protocol';
import { VirtualSim } from '@iotsafe/sim';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';
import { SeededRandom } from '../../../test/helpers/random.js';

const SEED = Number(process.env.FUZZ_SEED ?? 7405);
const APDUS = Number(process.env.FUZZ_TOOLKIT_APDUS ?? 100_000);

test(`${APDUS} mutated toolkit APDUs: a status word each, responses only to their own command`, async () => {
  const r = new SeededRandom(SEED);
  const sim = VirtualSim.inMemory(TEST_PROFILE);
  const { card } = sim;
  card.toolkit.onEvent(0x09, () => {});
  let settled = 0;
  let mismatched = 0;
  /** The one command waiting (fetched or not), as the card built it. */
  let waiting: { number: number; type: number } | undefined;
  for (let i = 0; i < APDUS; i++) {
    if (!card.toolkit.fetch() && r.int(3) === 0) {
      const size = r.int(200);
      const promise = card.toolkit.issue((n) =>
        r.int(2) ? encodeReceiveData(n, 1, r.int(256)) : encodeSendData(n, 1, new Uint8Array(size)),
      );
      const { details } = decodeProactiveCommand(card.toolkit.fetch()!);
      const expected = { number: details.number, type: details.type };
      promise.then(
        (response) => {
          settled++;
          if (response.details.number !== expected.number || response.details.type !== expected.type)
            mismatched++;
        },
        () => {},
      );
    }
    const head = card.toolkit.fetch(); // the card's own SET UP EVENT LIST after a TERMINAL PROFILE too
    waiting = head && decodeProactiveCommand(head).details;
    const length = card.toolkit.pendingLength();
    let apdu: Uint8Array;
    const choice = r.int(6);
    if (choice === 0 && length !== undefined) {
      apdu = fetchApdu(r.int(4) ? length : r.int(256));
    } else if (choice <= 2 && waiting) {
      const details = r.int(4)
        ? { ...waiting, qualifier: r.int(2) }
        : { number: r.int(256), type: r.int(256), qualifier: 0 };
      const tr = encodeTerminalResponse(details, { general: r.pick([0, 2, 0x20, 0x3a]) }, [
        channelDataTlv(r.bytes(r.int(100)), false),
        channelDataLengthTlv(r.int(300), false),
      ]);
      apdu = terminalResponseApdu(r.int(3) ? tr : mutateBytes(r, tr));
    } else if (choice === 3) {
      const event = encodeDataAvailableEvent({ channel: 1, established: true, info: 0 }, r.int(300));
      apdu = envelopeApdu(r.int(2) ? event : mutateBytes(r, event));
    } else if (choice === 4) {
      apdu = Uint8Array.of(0x80, 0xf2, 0x00, r.pick([0x0c, 0x01, 0x00]), 0x00);
    } else {
      apdu = mutateBytes(r, Uint8Array.of(0x80, r.pick([0xc2, 0x14, 0x12, 0x10]), 0, 0, 3, 0xd6, 1, 0));
    }
    const answer = card.transmit(apdu);
    assert.ok(answer.length >= 2, `input ${i} ${bytesToHex(apdu)}: no status word`);
  }
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(card.internalErrors, 0, String(card.lastInternalError));
  assert.equal(mismatched, 0, 'an owner got the response to another command');
  assert.ok(settled > APDUS / 50, `only ${settled} commands answered`);
});

function mutateBytes(r: SeededRandom, input: Uint8Array): Uint8Array {
  const out = Uint8Array.from(input);
  for (let n = 1 + r.int(3); n > 0; n--) out[r.int(out.length)] = r.int(256);
  return r.int(4) === 0 ? out.subarray(0, r.int(out.length + 1)) : out;
}
