// The BIP terminal against a scripted card that issues real cards' proactive commands (OTAMan's
// live-card OPEN CHANNELs: CR-set tags, a bare `3E 05`) and records what the terminal answers, byte for
// byte against the real terminals' TERMINAL RESPONSEs and ENVELOPEs (test/fixtures/scp80-vectors.json).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { type BipTerminal, MemoryTransport, runBipTerminal } from '@iotsafe/device';
import {
  bytesToHex,
  decodeTerminalResponse,
  encodeCloseChannel,
  encodeProactiveCommand,
  encodeReceiveData,
  encodeSendData,
  encodeSetUpEventList,
  hexToBytes,
  parseReceiveDataResponse,
} from '@iotsafe/protocol';
import { scp80Expected } from '../../../test/helpers/vectors.js';

const bip = scp80Expected('bip-proactive-and-terminal-responses');
const h = hexToBytes;
const hex = (b: Uint8Array) => bytesToHex(b).toLowerCase();

/**
 * A card that hands out the proactive commands it is given (91xx, FETCH) and records every TERMINAL
 * RESPONSE and ENVELOPE. `next` decides what to issue after each response.
 */
class ScriptedCard {
  readonly responses: Uint8Array[] = [];
  readonly envelopes: Uint8Array[] = [];
  profile?: Uint8Array;
  private readonly queue: Uint8Array[] = [];
  private fetched?: Uint8Array;
  onResponse?: (tr: Uint8Array) => void;
  onEnvelope?: (data: Uint8Array) => void;

  issue(command: Uint8Array): void {
    this.queue.push(command);
  }

  private sw(): Uint8Array {
    const next = this.queue[0];
    return next && !this.fetched ? Uint8Array.of(0x91, next.length) : Uint8Array.of(0x90, 0x00);
  }

  transmit(apdu: Uint8Array): Uint8Array {
    const ins = apdu[1];
    const data = apdu.subarray(5, 5 + (apdu[4] ?? 0));
    if (ins === 0x10) this.profile = data.slice();
    else if (ins === 0x12) {
      this.fetched = this.queue.shift();
      return this.fetched ? Uint8Array.from([...this.fetched, 0x90, 0x00]) : Uint8Array.of(0x69, 0x85);
    } else if (ins === 0x14) {
      this.fetched = undefined;
      this.responses.push(data.slice());
      this.onResponse?.(data);
    } else if (ins === 0xc2) {
      this.envelopes.push(apdu.slice());
      this.onEnvelope?.(data);
    }
    return this.sw();
  }
}

async function withServer(onConnection: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** Runs until `done` holds, polling; returns the terminal (stopped) and the card. */
async function drive(
  card: ScriptedCard,
  options: Parameters<typeof runBipTerminal>[1],
  done: () => boolean,
): Promise<BipTerminal> {
  const terminal = await runBipTerminal(new MemoryTransport(card), { pollIntervalMs: 5, ...options });
  for (let i = 0; i < 2000 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  await terminal.stop();
  assert.ok(done(), 'the exchange did not complete');
  return terminal;
}

describe('BIP terminal against real cards’ commands', () => {
  /** Runs one OPEN CHANNEL against a local server; returns where the terminal connected and its answer. */
  async function openOnce(command: Uint8Array): Promise<{ target: string[]; response: string }> {
    const { server, port } = await withServer(() => {});
    const card = new ScriptedCard();
    card.issue(command);
    const target: string[] = [];
    const redirect = (host: string, p: number) => {
      target.push(`${host}:${p}`);
      return connect({ host: '127.0.0.1', port });
    };
    await drive(card, { connect: redirect }, () => card.responses.length === 1);
    server.close();
    return { target, response: hex(card.responses[0]!) };
  }

  test("OTAMan's OPEN CHANNEL (127.0.0.1:8080, 512 bytes): the real terminal's TERMINAL RESPONSE", async () => {
    const { target, response } = await openOnce(h(bip.open_channel_fixture!.hex));
    assert.deepEqual(target, ['127.0.0.1:8080']);
    assert.equal(response, bip.tr_open_ok!.hex);
  });

  test('a live card with CR-set tags (B5/B9/BC/BE): 1422-byte buffer to 91.213.5.2:1410', async () => {
    const { target, response } = await openOnce(h(bip.live_open_channel_cr_tags!.hex));
    assert.deepEqual(target, ['91.213.5.2:1410']);
    assert.equal(response, '010301400302028281030100' + '38028100' + '350103' + '3902058e');
  });

  test('a bare `3E 05` in background mode: 36 without a fallback; with one, TR at once and the link by channel status', async () => {
    const truncated = h(bip.live_open_channel_truncated_destination!.hex);
    const none = new ScriptedCard();
    none.issue(truncated);
    await drive(none, {}, () => none.responses.length === 1);
    assert.equal(decodeTerminalResponse(none.responses[0]!).result.general, 0x36);

    const { server, port } = await withServer(() => {});
    const card = new ScriptedCard();
    card.issue(encodeSetUpEventList(1, [0x09, 0x0a]));
    card.issue(truncated);
    await drive(card, { fallbackAddress: { host: '127.0.0.1', port } }, () => card.envelopes.length === 1);
    server.close();
    // details 01 40 0C echoed; channel 1 not established yet (38 02 01 00); bearer and buffer size
    assert.equal(
      hex(card.responses[1]!),
      '01030140' + '0c' + '02028281' + '030100' + '38020100' + '350103' + '39020200',
    );
    assert.equal(
      hex(card.envelopes[0]!),
      '80c200000dd60b99010a82028281b8028100',
      'established, reported by event',
    );
  });

  test('a link that cannot be made: 3A, BIP error', async () => {
    const { server, port } = await withServer(() => {});
    server.close();
    await once(server, 'close');
    const card = new ScriptedCard();
    card.issue(h(bip.open_channel_fixture!.hex));
    await drive(
      card,
      { connect: () => connect({ host: '127.0.0.1', port }) },
      () => card.responses.length === 1,
    );
    assert.equal(hex(card.responses[0]!), '01030140010202828103023a00');
  });

  test('SEND, data available, partial RECEIVE re-announced, link dropped only after the drain, CLOSE CHANNEL', async () => {
    let peer: Socket | undefined;
    const received: Buffer[] = [];
    const { server, port } = await withServer((socket) => {
      peer = socket;
      socket.on('data', (chunk) => received.push(chunk));
    });
    const card = new ScriptedCard();
    card.issue(encodeSetUpEventList(1, [0x09, 0x0a]));
    card.issue(h(bip.open_channel_fixture!.hex));
    card.issue(encodeSendData(3, 1, new Uint8Array(200).fill(0x5a)));
    const reply = new Uint8Array(300).map((_, i) => i & 0xff);
    let step = 0;
    card.onResponse = () => {
      step++;
      if (step === 3) {
        // the server answers 300 bytes and closes: the terminal must announce them, then the drop
        peer!.end(reply);
      }
    };
    card.onEnvelope = (data) => {
      const event = data[4]!;
      if (event === 0x09) card.issue(encodeReceiveData(10 + card.envelopes.length, 1, 200));
    };
    await drive(card, { connect: () => connect({ host: '127.0.0.1', port }) }, () =>
      card.envelopes.some((e) => e[9] === 0x0a),
    );
    server.close();
    assert.equal(Buffer.concat(received).length, 200);
    const sendTr = decodeTerminalResponse(card.responses[2]!);
    assert.equal(sendTr.result.general, 0);
    assert.equal(hex(card.responses[2]!).slice(-6), '3701ff', 'Tx buffer free: FF (over 255)');
    const envelopes = card.envelopes.map(hex);
    assert.equal(envelopes[0], '80c2000010d60e99010982028281b8028100b701ff', 'data available: 300, i.e. FF');
    const first = parseReceiveDataResponse(decodeTerminalResponse(card.responses[3]!));
    assert.equal(first.data.length, 200);
    assert.equal(first.remaining, 100);
    assert.equal(hex(card.responses[3]!).slice(24, 30), '3681c8', '36 81 C8: the BER length above 127');
    assert.equal(envelopes[1], '80c2000010d60e99010982028281b8028100b70164', 'the 100 left announced again');
    const second = parseReceiveDataResponse(decodeTerminalResponse(card.responses[4]!));
    assert.deepEqual([...first.data, ...second.data], [...reply]);
    assert.equal(
      decodeTerminalResponse(card.responses[4]!).result.general,
      0x02,
      'less than asked: missing information',
    );
    assert.equal(envelopes.at(-1), '80c200000dd60b99010a82028281b8020105', 'link dropped, after the drain');
    assert.equal(envelopes.length, 3);
  });

  test('CLOSE CHANNEL, an unknown channel, an unknown command, and no events unless subscribed', async () => {
    const { server, port } = await withServer(() => {});
    const card = new ScriptedCard();
    card.issue(h(bip.open_channel_fixture!.hex));
    card.issue(encodeCloseChannel(1, 1));
    card.issue(encodeReceiveData(2, 5, 10));
    card.issue(encodeProactiveCommand({ number: 3, type: 0x21, qualifier: 0x80 }, 0x02));
    await drive(
      card,
      { connect: () => connect({ host: '127.0.0.1', port }) },
      () => card.responses.length === 4,
    );
    server.close();
    assert.equal(hex(card.responses[1]!), bip.tr_close_channel!.hex);
    assert.equal(hex(card.responses[2]!), '01030242000202828103023a03', 'channel identifier not valid');
    assert.equal(
      decodeTerminalResponse(card.responses[3]!).result.general,
      0x30,
      'beyond terminal capabilities',
    );
    assert.equal(card.envelopes.length, 0);
    assert.equal(card.profile?.[11], 0x1f, 'the profile advertises class e');
  });
});
