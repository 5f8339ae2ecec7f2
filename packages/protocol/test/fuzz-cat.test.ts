// Seeded fuzzing of the toolkit codecs a card and a terminal read from each other: proactive commands,
// TERMINAL RESPONSEs and event download ENVELOPEs, mutated from real cards' and terminals' bytes.
// Each input decodes, or is refused with a FormatError; what decodes strictly re-encodes to the same
// structure. FUZZ_CAT_INPUTS (default 100,000 per codec) and FUZZ_SEED scale and reproduce it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bytesToHex,
  CAT_COMMAND,
  type ComprehensionTlv,
  channelDataLengthTlv,
  channelDataTlv,
  decodeChannelEvent,
  decodeEventDownload,
  decodeProactiveCommand,
  decodeTerminalResponse,
  encodeChannelStatusEvent,
  encodeComprehensionTlv,
  encodeDataAvailableEvent,
  encodeOpenChannel,
  encodeProactiveCommand,
  encodeReceiveData,
  encodeSendData,
  encodeSetUpEventList,
  encodeTerminalResponse,
  FormatError,
  hexToBytes,
  openChannelResponseTlvs,
  parseOpenChannel,
  parseOpenChannelResponse,
  parseReceiveData,
  parseReceiveDataResponse,
  parseSendData,
  parseSendDataResponse,
  parseSetUpEventList,
} from '@iotsafe/protocol';
import { SeededRandom } from '../../../test/helpers/random.js';
import { scp80Expected } from '../../../test/helpers/vectors.js';

const SEED = Number(process.env.FUZZ_SEED ?? 102223);
const INPUTS = Number(process.env.FUZZ_CAT_INPUTS ?? 100_000);
const bip = scp80Expected('bip-proactive-and-terminal-responses');

function mutate(r: SeededRandom, input: Uint8Array): Uint8Array {
  const out = Uint8Array.from(input);
  switch (r.int(5)) {
    case 0:
      for (let n = 1 + r.int(3); n > 0 && out.length > 0; n--) out[r.int(out.length)] = r.int(256);
      return out;
    case 1:
      return out.subarray(0, r.int(out.length + 1));
    case 2:
      return Uint8Array.from([...out, ...r.bytes(1 + r.int(8))]);
    case 3:
      // a length or tag byte turned into one of the forms decoders trip on
      if (out.length > 2)
        out[1 + r.int(out.length - 1)] = r.pick([0x00, 0x7f, 0x80, 0x81, 0x82, 0x83, 0xff, 0xb6, 0x36]);
      return out;
    default:
      return r.bytes(r.int(64));
  }
}

/** Runs `check` on each mutated input; anything but a FormatError is a failure, with its seed and input. */
function fuzz(
  name: string,
  corpus: (r: SeededRandom) => Uint8Array,
  check: (input: Uint8Array) => void,
): void {
  const r = new SeededRandom(SEED);
  let decoded = 0;
  for (let i = 0; i < INPUTS; i++) {
    const input = mutate(r, corpus(r));
    try {
      check(input);
      decoded++;
    } catch (error) {
      if (error instanceof FormatError) continue;
      assert.fail(`${name}, seed ${SEED}, input ${i} ${bytesToHex(input)}: ${(error as Error).stack}`);
    }
  }
  assert.ok(decoded > INPUTS / 50, `${name}: only ${decoded} inputs decoded, the corpus is too broken`);
}

const structure = (tlvs: readonly ComprehensionTlv[]) => tlvs.map((t) => [t.tag, bytesToHex(t.value)]);
const reencode = (tlvs: readonly ComprehensionTlv[]) =>
  tlvs.map((t) => encodeComprehensionTlv(t.tag, t.value, t.cr));

const realCommands = [
  'open_channel_fixture',
  'live_open_channel_cr_tags',
  'live_open_channel_truncated_destination',
].map((k) => hexToBytes(bip[k]!.hex!));

function commandCorpus(r: SeededRandom): Uint8Array {
  const n = 1 + r.int(254);
  switch (r.int(6)) {
    case 0:
      return r.pick(realCommands);
    case 1:
      return encodeOpenChannel(n, {
        qualifier: r.int(16),
        bearer: { type: r.pick([2, 3, 0x0b]), parameters: r.bytes(r.int(4)) },
        bufferSize: r.int(0x10000),
        transport: { protocol: r.int(7), port: r.int(0x10000) },
        address: { type: r.pick([0x21, 0x57]), address: r.bytes(r.pick([4, 16, 0])) },
      });
    case 2:
      return encodeSendData(n, 1 + r.int(7), r.bytes(r.int(241)), r.int(2) === 1);
    case 3:
      return encodeReceiveData(n, 1 + r.int(7), r.int(256));
    case 4:
      return encodeSetUpEventList(n, [...r.bytes(r.int(5))]);
    default:
      return encodeProactiveCommand({ number: n, type: r.int(256), qualifier: r.int(256) }, r.int(256), [
        encodeComprehensionTlv(1 + r.int(0x7e), r.bytes(r.int(140))),
      ]);
  }
}

test(`${INPUTS} mutated proactive commands: decoded (strictly: re-encoded to the same structure) or FormatError`, () => {
  fuzz('proactive command', commandCorpus, (input) => {
    const lenient = decodeProactiveCommand(input, { lenient: true });
    const parse = {
      [CAT_COMMAND.OPEN_CHANNEL]: () => parseOpenChannel(lenient),
      [CAT_COMMAND.SEND_DATA]: () => parseSendData(lenient),
      [CAT_COMMAND.RECEIVE_DATA]: () => parseReceiveData(lenient),
      [CAT_COMMAND.SET_UP_EVENT_LIST]: () => parseSetUpEventList(lenient),
    }[lenient.details.type];
    try {
      parse?.();
    } catch (error) {
      if (!(error instanceof FormatError)) throw error;
    }
    const strict = decodeProactiveCommand(input);
    if (strict.tlvs.some((t) => t.value.length > 200)) return; // a re-encoding could pass 255 bytes
    const again = decodeProactiveCommand(
      encodeProactiveCommand(strict.details, strict.destination, reencode(strict.tlvs), strict.source),
    );
    assert.deepEqual(structure(again.tlvs), structure(strict.tlvs));
    assert.deepEqual(again.details, strict.details);
  });
});

function responseCorpus(r: SeededRandom): Uint8Array {
  const details = {
    number: 1 + r.int(254),
    type: r.pick([0x40, 0x41, 0x42, 0x43, 0x05]),
    qualifier: r.int(256),
  };
  switch (r.int(4)) {
    case 0:
      return hexToBytes(r.pick(['tr_open_ok', 'tr_open_fail', 'tr_close_channel'].map((k) => bip[k]!.hex!)));
    case 1:
      return encodeTerminalResponse(details, { general: r.int(256) }, [
        channelDataTlv(r.bytes(r.int(238)), r.int(2) === 1),
        channelDataLengthTlv(r.int(300), r.int(2) === 1),
      ]);
    case 2:
      return encodeTerminalResponse(
        details,
        { general: r.pick([0, 7, 0x3a]), additional: r.bytes(r.int(2)) },
        openChannelResponseTlvs(
          { channel: r.int(8), established: r.int(2) === 1, info: r.int(256) },
          { type: 3, parameters: new Uint8Array(0) },
          r.int(0x10000),
        ),
      );
    default:
      return encodeTerminalResponse(details, { general: r.int(256) }, [channelDataLengthTlv(r.int(300))]);
  }
}

test(`${INPUTS} mutated TERMINAL RESPONSEs: decoded (strictly: re-encoded to the same structure) or FormatError`, () => {
  fuzz('terminal response', responseCorpus, (input) => {
    const lenient = decodeTerminalResponse(input, { lenient: true });
    parseReceiveDataResponse(lenient);
    parseSendDataResponse(lenient);
    parseOpenChannelResponse(lenient);
    const strict = decodeTerminalResponse(input);
    const again = decodeTerminalResponse(
      encodeTerminalResponse(strict.details, strict.result, reencode(strict.tlvs)),
    );
    assert.deepEqual(again.details, strict.details);
    assert.deepEqual(structure(again.tlvs), structure(strict.tlvs));
    assert.equal(again.result.general, strict.result.general);
  });
});

function envelopeCorpus(r: SeededRandom): Uint8Array {
  const status = { channel: 1 + r.int(7), established: r.int(2) === 1, info: r.pick([0, 5]) };
  return r.int(2) === 0 ? encodeDataAvailableEvent(status, r.int(400)) : encodeChannelStatusEvent(status);
}

test(`${INPUTS} mutated event download ENVELOPEs: decoded or FormatError`, () => {
  fuzz('event download', envelopeCorpus, (input) => {
    const event = decodeEventDownload(input);
    assert.ok(event.event >= 0 && event.event <= 255);
    const { status, available } = decodeChannelEvent(event);
    assert.ok(status.channel >= 0 && status.channel <= 7);
    if (available !== undefined) assert.ok(available <= 255);
  });
});
