// The card's toolkit runtime: ENVELOPE by template tag, a queue of proactive commands announced by
// 91xx, TERMINAL RESPONSE to the command's owner, owners waiting without blocking the card.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CAT_EVENT,
  decodeProactiveCommand,
  encodeCloseChannel,
  encodeDataAvailableEvent,
  encodeReceiveData,
  encodeTerminalResponse,
  envelopeApdu,
  fetchApdu,
  hexToBytes,
  parseResponseApdu,
  terminalProfileApdu,
  terminalResponseApdu,
} from '@iotsafe/protocol';
import { ProactiveCommandError, VirtualSim } from '@iotsafe/sim';
import { send, TEST_PROFILE } from '../../../test/helpers/cards.js';

const h = hexToBytes;

function sim(personality = 'reference') {
  return VirtualSim.inMemory(TEST_PROFILE, { personality });
}

const answer = (bytes: Uint8Array) => parseResponseApdu(bytes);
const ok = (number: number, type: number) =>
  terminalResponseApdu(encodeTerminalResponse({ number, type, qualifier: 0 }, { general: 0 }));

describe('ENVELOPE by template tag', () => {
  test('event download goes to its listeners; other templates are 6A81, malformed ones 6A80', () => {
    const { card } = sim();
    const seen: number[] = [];
    card.toolkit.onEvent(CAT_EVENT.DATA_AVAILABLE, (e) => seen.push(e.event));
    // the real terminal's data available envelope (spec §5.3), 200 bytes waiting on channel 1
    assert.equal(send(card, '80C2000010D60E990109820282 81B8028100B701C8'.replace(/ /g, '')).sw, '9000');
    assert.deepEqual(seen, [CAT_EVENT.DATA_AVAILABLE]);
    // channel status: nobody listens, the card takes note of nothing and says so with 9000
    assert.equal(send(card, '80C200000DD60B99010A82028281B8020105').sw, '9000');
    assert.equal(send(card, '80C2000004D3020100').sw, '6A81', 'menu selection: no service');
    assert.equal(send(card, '80C2000002D605').sw, '6A80', 'length past the data');
    assert.equal(send(card, '80C2000004D6020100').sw, '6A80', 'no event list');
    assert.equal(send(card, '80c2000003d10100').sw, '6A80', 'SMS-PP without a TPDU');
    assert.equal(card.internalErrors, 0);
  });
});

describe('proactive commands: a queue, 91xx, TERMINAL RESPONSE to the owner', () => {
  test('two owners: each command is announced, fetched and answered in turn', async () => {
    const { card } = sim();
    const first = card.toolkit.issue((n) => encodeReceiveData(n, 1, 100));
    const second = card.toolkit.issue((n) => encodeCloseChannel(n, 1));
    const len = card.toolkit.pendingLength()!;
    assert.equal(send(card, '80F2000C00').sw, `91${len.toString(16).toUpperCase().padStart(2, '0')}`);
    const fetched = answer(card.transmit(fetchApdu(len)));
    assert.equal(fetched.sw, 0x9000, 'FETCH itself announces nothing while its command is outstanding');
    const command = decodeProactiveCommand(fetched.data);
    assert.equal(command.details.type, 0x42);
    assert.equal(card.toolkit.pendingLength(), undefined);
    assert.equal(send(card, '80F2000C00').sw, '9000');
    // the response goes to the first owner; the second command is announced in the same answer
    const r1 = answer(card.transmit(ok(command.details.number, 0x42)));
    assert.equal(r1.sw >> 8, 0x91);
    assert.equal((await first).details.type, 0x42);
    const close = decodeProactiveCommand(answer(card.transmit(fetchApdu(r1.sw & 0xff))).data);
    assert.equal(close.details.type, 0x41);
    assert.equal(answer(card.transmit(ok(close.details.number, 0x41))).sw, 0x9000);
    assert.equal((await second).result.general, 0);
  });

  test('a response with no command outstanding is 6985; one for another command is 6A80 and changes nothing', async () => {
    const { card } = sim();
    assert.equal(answer(card.transmit(ok(1, 0x42))).sw, 0x6985);
    let settled = false;
    const pending = card.toolkit
      .issue((n) => encodeReceiveData(n, 1, 10))
      .finally(() => {
        settled = true;
      });
    assert.equal(answer(card.transmit(ok(1, 0x42))).sw, 0x6985, 'not fetched yet');
    const command = decodeProactiveCommand(
      answer(card.transmit(fetchApdu(card.toolkit.pendingLength()!))).data,
    );
    assert.equal(answer(card.transmit(ok(command.details.number + 1, 0x42))).sw, 0x6a80);
    assert.equal(answer(card.transmit(ok(command.details.number, 0x43))).sw, 0x6a80);
    assert.equal(answer(card.transmit(terminalResponseApdu(h('0103')))).sw, 0x6a80, 'malformed');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false);
    assert.equal(answer(card.transmit(ok(command.details.number, 0x42))).sw, 0x9000);
    await pending;
    assert.equal(card.toolkit.refusedResponses, 5);
  });

  test('the card answers other APDUs while an owner waits for the network', async () => {
    const { card } = sim();
    let answered = false;
    const waiting = card.toolkit
      .issue((n) => encodeReceiveData(n, 1, 10))
      .then(() => {
        answered = true;
      });
    assert.equal(send(card, '00A4040007A0000005590010').sw, '9000');
    assert.match(send(card, '80CB010000').sw, /^(9000|6300)$/, 'GET DATA of the object list on channel 0');
    const len = card.toolkit.pendingLength()!;
    const command = decodeProactiveCommand(answer(card.transmit(fetchApdu(len))).data);
    assert.equal(answered, false);
    card.transmit(ok(command.details.number, 0x42));
    await waiting;
    assert.equal(answered, true);
  });

  test('TERMINAL PROFILE is answered with a SET UP EVENT LIST of the events the card listens to', () => {
    const { card } = sim();
    card.toolkit.onEvent(CAT_EVENT.DATA_AVAILABLE, () => {});
    card.toolkit.onEvent(CAT_EVENT.CHANNEL_STATUS, () => {});
    const r = answer(card.transmit(terminalProfileApdu(new Uint8Array(20).fill(0xff))));
    assert.equal(r.sw >> 8, 0x91);
    const command = decodeProactiveCommand(answer(card.transmit(fetchApdu(r.sw & 0xff))).data);
    assert.equal(command.details.type, 0x05);
    assert.deepEqual([...command.tlvs[0]!.value], [0x09, 0x0a]);
    card.transmit(ok(command.details.number, 0x05));
    assert.equal(card.toolkit.terminalProfile?.length, 20);
  });

  test('an unanswered command times out; a reset drops the queue; FETCH with nothing waiting is 6985', async () => {
    const { card } = sim();
    await assert.rejects(
      card.toolkit.issue((n) => encodeReceiveData(n, 1, 10), { timeoutMs: 5 }),
      ProactiveCommandError,
    );
    assert.equal(card.toolkit.pendingLength(), undefined);
    const dropped = card.toolkit.issue((n) => encodeReceiveData(n, 1, 10));
    card.reset();
    await assert.rejects(dropped, /reset/);
    assert.equal(send(card, '8012000010').sw, '6985');
  });

  test('T=0: FETCH with the wrong Le is 6Cxx; ENVELOPE data comes with 61xx and then 91xx', async () => {
    const { card } = sim('zariot');
    const pending = card.toolkit.issue((n) => encodeReceiveData(n, 1, 10));
    const len = card.toolkit.pendingLength()!;
    assert.equal(send(card, '8012000001').sw, `6C${len.toString(16).toUpperCase().padStart(2, '0')}`);
    const command = decodeProactiveCommand(answer(card.transmit(fetchApdu(len))).data);
    card.transmit(ok(command.details.number, 0x42));
    await pending;
    card.toolkit.onSmsPpDownload(() => Uint8Array.of(1, 2, 3));
    const later = card.toolkit.issue((n) => encodeCloseChannel(n, 1));
    const first = answer(card.transmit(envelopeApdu(h('D1028200'))));
    assert.equal(first.sw, 0x6103);
    const rest = answer(card.transmit(h('00C0000003')));
    assert.deepEqual([...rest.data], [1, 2, 3]);
    assert.equal(rest.sw >> 8, 0x91);
    card.reset();
    await assert.rejects(later);
  });

  test('a data available event is delivered to every listener of its event', () => {
    const { card } = sim();
    const lengths: number[] = [];
    card.toolkit.onEvent(CAT_EVENT.DATA_AVAILABLE, (e) => lengths.push(e.tlvs[1]!.value[0]!));
    const off = card.toolkit.onEvent(CAT_EVENT.DATA_AVAILABLE, () => lengths.push(-1));
    card.transmit(envelopeApdu(encodeDataAvailableEvent({ channel: 1, established: true, info: 0 }, 300)));
    off();
    card.transmit(envelopeApdu(encodeDataAvailableEvent({ channel: 1, established: true, info: 0 }, 7)));
    assert.deepEqual(lengths, [255, -1, 7]);
  });
});
