// The AT modem as a user meets it: a silent port (the wrong ttyUSB) fails within its bound and leaves
// nothing open; `probeModem` tells the AT port from the others and what it allows; the SIM PIN is
// entered with AT+CPIN when the SIM asks; VERIFY PIN over APDUs (ETSI TS 102 221 §11.1.9). The
// emulated modem of @iotsafe/sim is the peer; a PIN-asking SIM is scripted in front of it (the
// virtual SIM models no PIN).
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import {
  AtModemTransport,
  MemoryTransport,
  probeModemStream,
  type Transport,
  TransportError,
  verifyPin,
} from '@iotsafe/device';
import { StatusWordError } from '@iotsafe/protocol';
import { EmulatedModem, MODEM_PRESETS, VirtualSim } from '@iotsafe/sim';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';

/** A stream whose writes go to `answer` and whose reads are what `answer` pushes back. */
function scriptedPort(answer: (line: string, reply: (text: string) => void) => void): Duplex {
  let input = '';
  const port: Duplex = new Duplex({
    read() {},
    write(chunk, _encoding, done) {
      input += chunk.toString('latin1');
      for (let end = input.search(/\r/); end >= 0; end = input.search(/\r/)) {
        const line = input.slice(0, end);
        input = input.slice(end + 1);
        answer(line, (text) => port.push(Buffer.from(text, 'latin1')));
      }
      done();
    },
  });
  return port;
}

/** The emulated modem in front of a virtual SIM, over a stream. */
function emulatedModem(preset = 'quectel', before?: (line: string, reply: (t: string) => void) => boolean) {
  const sim = VirtualSim.inMemory(TEST_PROFILE);
  let push: (text: string) => void = () => {};
  const modem = new EmulatedModem(sim.card, (text) => push(text), { preset: MODEM_PRESETS[preset]! });
  const port = scriptedPort((line, reply) => {
    push = reply;
    if (!before?.(line.trim(), reply)) modem.receive(`${line}\r`);
  });
  return { port, modem };
}

/** A SIM that wants PIN 4711: AT+CPIN? says SIM PIN until the right AT+CPIN="…" arrives. */
function pinAskingModem() {
  let verified = false;
  const lines: string[] = [];
  const { port } = emulatedModem('quectel', (line, reply) => {
    lines.push(line);
    if (line === 'AT+CPIN?') {
      reply(`\r\n+CPIN: ${verified ? 'READY' : 'SIM PIN'}\r\n\r\nOK\r\n`);
      return true;
    }
    const m = /^AT\+CPIN="(\d+)"$/.exec(line);
    if (m) {
      verified = m[1] === '4711';
      reply(verified ? '\r\nOK\r\n' : '\r\n+CME ERROR: 16\r\n');
      return true;
    }
    return false;
  });
  return { port, lines };
}

const silentPort = () => scriptedPort(() => {});

describe('a silent port', () => {
  test('opening fails within the timeout, naming the probe, and the port is closed', async () => {
    const port = silentPort();
    await assert.rejects(
      AtModemTransport.over(port, { timeoutMs: 200 }),
      (e: Error) =>
        e instanceof TransportError && /did not answer ATE0 within 200 ms.*modem probe/.test(e.message),
    );
    assert.equal(port.destroyed, true, 'nothing keeps the port (and the process) alive');
  });
  test('probe: "answers AT" is no, with advice, and the port is closed', async () => {
    const port = silentPort();
    const probe = await probeModemStream(port, { timeoutMs: 200 });
    assert.equal(probe.answers, false);
    assert.match(probe.advice.join(' '), /not the AT port/);
    assert.equal(port.destroyed, true);
  });
});

describe('modem probe against the emulated modem', () => {
  for (const preset of Object.keys(MODEM_PRESETS))
    test(`${preset}: answers, SIM ready, the applet through AT+CSIM and through AT+CCHO`, async () => {
      const { port } = emulatedModem(preset);
      const probe = await probeModemStream(port, { timeoutMs: 2000 });
      assert.equal(probe.answers, true);
      assert.equal(probe.pin, 'READY');
      assert.equal(probe.csim, true);
      assert.equal(probe.csimApplet, true);
      assert.equal(probe.cgla, true);
      assert.equal(port.destroyed, true);
    });
  test('a SIM asking for its PIN: probe says so; with the PIN it goes on', async () => {
    const asking = await probeModemStream(pinAskingModem().port, { timeoutMs: 2000 });
    assert.equal(asking.pin, 'SIM PIN');
    assert.match(asking.advice.join(' '), /--pin/);
    const unlocked = await probeModemStream(pinAskingModem().port, { timeoutMs: 2000, pin: '4711' });
    assert.equal(unlocked.pin, 'READY');
    assert.equal(unlocked.cgla, true);
  });
});

describe('the SIM PIN through the modem (AT+CPIN)', () => {
  test('without --pin: a clear error; a wrong PIN: refused, never echoed; the right one: APDUs flow', async () => {
    await assert.rejects(
      AtModemTransport.over(pinAskingModem().port, { timeoutMs: 2000 }),
      (e: Error) => e instanceof TransportError && /asks for its PIN.*--pin/.test(e.message),
    );
    await assert.rejects(
      AtModemTransport.over(pinAskingModem().port, { timeoutMs: 2000, pin: '1234' }),
      (e: Error) => e instanceof TransportError && /wrong PIN/.test(e.message) && !e.message.includes('1234'),
    );
    const { port, lines } = pinAskingModem();
    const modem = await AtModemTransport.over(port, { timeoutMs: 2000, pin: '4711' });
    const selected = await modem.transmit(
      Uint8Array.of(0x00, 0xa4, 0x04, 0x00, 0x07, 0xa0, 0, 0, 5, 0x59, 0, 0x10),
    );
    assert.deepEqual([...selected.subarray(-2)], [0x90, 0x00]);
    assert.ok(lines.includes('AT+CPIN="4711"'));
    await modem.close();
    await assert.rejects(AtModemTransport.over(pinAskingModem().port, { pin: '12' }), /4 to 8 digits/);
  });
});

/** A card with PIN1 = "0000" and 3 tries (VERIFY only), as a Transport. */
function pinCard(): Transport & { tries: number } {
  const card = {
    tries: 3,
    verified: false,
    async transmit(c: Uint8Array) {
      if (c[1] !== 0x20) return Uint8Array.of(0x6d, 0x00);
      if (card.tries === 0) return Uint8Array.of(0x69, 0x83); // blocked (TS 102 221 §10.2.1.4)
      if (c.length === 4)
        return card.verified ? Uint8Array.of(0x90, 0) : Uint8Array.of(0x63, 0xc0 | card.tries);
      const ok = Buffer.from(c.subarray(5)).equals(Buffer.from('30303030ffffffff', 'hex'));
      if (ok) {
        card.verified = true;
        card.tries = 3;
        return Uint8Array.of(0x90, 0);
      }
      card.tries--;
      return Uint8Array.of(0x63, 0xc0 | card.tries);
    },
    async reset() {
      return new Uint8Array(0);
    },
    async close() {},
  };
  return card;
}

describe('VERIFY PIN over APDUs', () => {
  test('asked first, sent padded with FF; a wrong PIN is 63Cx (tries left); verified once, not again', async () => {
    const card = pinCard();
    await assert.rejects(
      verifyPin(card, '1111'),
      (e: Error) => e instanceof StatusWordError && e.sw === 0x63c2,
    );
    assert.equal(await verifyPin(card, '0000'), 'verified');
    assert.equal(await verifyPin(card, '0000'), 'not-needed');
  });
  test('a blocked PIN says so; a card without PIN support (the virtual SIM) is "no-pin"', async () => {
    const card = pinCard();
    card.tries = 0;
    await assert.rejects(
      verifyPin(card, '0000'),
      (e: Error) => e instanceof StatusWordError && /blocked/.test(e.message),
    );
    const sim = VirtualSim.inMemory(TEST_PROFILE);
    assert.equal(await verifyPin(new MemoryTransport(sim.card), '0000'), 'no-pin');
    await assert.rejects(verifyPin(card, 'abcd'), RangeError);
  });
});
