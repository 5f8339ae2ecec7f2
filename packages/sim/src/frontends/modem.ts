// An emulated cellular modem in front of a card, answering AT commands (3GPP TS 27.007 §8.17 CSIM,
// §8.45–8.47 CCHO/CGLA/CCHC), with presets for the behaviours field reports describe
// (docs/hardware.md). Text in, text out: attach it to a pty (iotsafe sim serve --modem) or to any stream.
import { bytesToHex, decodeClass, hexToBytes, SW, withChannel } from '@iotsafe/protocol';
import type { Card } from '../card/runtime.js';
import { type LatencyOptions, latencyOf, sleep } from './latency.js';

export interface ModemPreset {
  name: string;
  description: string;
  /** "+CSIM: 4,"9000"" (quotes) or "+CSIM: 4,9000" (Sequans/TinyGSM path, docs/hardware.md). */
  quotes: boolean;
  /** Longest answer the modem passes on; longer ones are cut (Sequans) or, with `splitWithGetResponse`, kept behind 61xx (u-blox). */
  maxResponseBytes?: number;
  splitWithGetResponse?: boolean;
  /** Unsolicited result codes interleaved with answers, as real modems do. */
  unsolicited?: string[];
}

export const MODEM_PRESETS: Record<string, ModemPreset> = {
  quectel: {
    name: 'quectel',
    description: 'Quectel BG96/EG95: quoted answers, 61xx left to the host',
    quotes: true,
  },
  sequans: {
    name: 'sequans',
    description: 'Sequans GM01Q: answers without quotes, cut after 120 bytes',
    quotes: false,
    maxResponseBytes: 120,
  },
  ublox: {
    name: 'ublox',
    description: 'u-blox SARA-R4: long answers held behind 61xx for GET RESPONSE',
    quotes: true,
    maxResponseBytes: 64,
    splitWithGetResponse: true,
  },
  cinterion: {
    name: 'cinterion',
    description: 'Cinterion EXS82: unsolicited +CREG/+CEREG lines between answers',
    quotes: true,
    unsolicited: ['+CREG: 1', '+CEREG: 1,"1A2B","01C2D3E4",7'],
  },
};

export interface ModemOptions {
  preset?: ModemPreset;
  latency?: LatencyOptions;
}

export class EmulatedModem {
  private echo = true;
  private input = '';
  private silent = false;
  private garbage = false;
  private readonly held = new Map<number, Uint8Array>();
  private readonly preset: ModemPreset;
  private queue: Promise<void> = Promise.resolve();
  private urcIndex = 0;

  constructor(
    private readonly card: Card,
    private readonly write: (text: string) => void,
    private readonly options: ModemOptions = {},
  ) {
    this.preset = options.preset ?? MODEM_PRESETS.quectel!;
  }

  /** Fault injection for tests: stop answering, answer garbage, or lose every logical channel. */
  setSilent(silent: boolean): void {
    this.silent = silent;
  }

  setGarbage(garbage: boolean): void {
    this.garbage = garbage;
  }

  dropChannels(): void {
    this.card.reset();
  }

  /** Feeds received characters; complete command lines are answered in order. */
  receive(text: string): void {
    this.input += text;
    for (;;) {
      const end = this.input.search(/[\r\n]/);
      if (end < 0) break;
      const line = this.input.slice(0, end);
      this.input = this.input.slice(end + 1);
      if (line.trim() === '') continue;
      this.queue = this.queue.then(() => this.answer(line));
    }
  }

  private respond(lines: string[], final = 'OK'): void {
    if (this.silent) return;
    if (this.garbage) {
      this.write('\r\n+CSIM: ZZ,"NOT HEX"\r\n\r\nOK\r\n');
      return;
    }
    const urcs = this.preset.unsolicited;
    const urc = urcs?.length ? `\r\n${urcs[this.urcIndex++ % urcs.length]}\r\n` : '';
    const text = `${urc}${lines.map((l) => `\r\n${l}\r\n`).join('')}\r\n${final}\r\n`;
    const delay = this.serialMs(text.length);
    if (delay > 0) setTimeout(() => this.write(text), delay);
    else this.write(text);
  }

  /** Time the characters take on the serial line at the modelled baud rate (10 bits a character). */
  private serialMs(characters: number): number {
    const baud = this.options.latency?.baud;
    return baud ? (characters * 10 * 1000) / baud : 0;
  }

  private async answer(raw: string): Promise<void> {
    await sleep(this.serialMs(raw.length + 1)); // the command line arriving
    if (this.echo && !this.silent) this.write(`${raw}\r`);
    const line = raw.trim();
    const upper = line.toUpperCase();
    if (upper === 'AT') return this.respond([]);
    if (upper === 'ATE0' || upper === 'ATE1') {
      this.echo = upper === 'ATE1';
      return this.respond([]);
    }
    if (upper.startsWith('AT+CMEE=')) return this.respond([]);
    if (upper === 'AT+CPIN?') return this.respond(['+CPIN: READY']);
    if (upper === 'AT+CFUN=1,1') {
      this.card.reset();
      this.held.clear();
      return this.respond([]);
    }
    if (/^AT\+CCH[OC]=\?$|^AT\+CGLA=\?$|^AT\+CSIM=\?$/.test(upper)) return this.respond([]);
    let m = /^AT\+CSIM=\s*(\d+)\s*,\s*"?([0-9A-F]*)"?\s*$/.exec(upper);
    if (m) return this.csim(Number(m[1]), m[2]!, (apdu) => this.transmit(apdu), '+CSIM');
    m = /^AT\+CCHO=\s*"?([0-9A-F]+)"?\s*$/.exec(upper);
    if (m) return this.openChannel(m[1]!);
    m = /^AT\+CGLA=\s*(\d+)\s*,\s*(\d+)\s*,\s*"?([0-9A-F]*)"?\s*$/.exec(upper);
    if (m) {
      const channel = Number(m[1]);
      return this.csim(
        Number(m[2]),
        m[3]!,
        (apdu) => this.transmit(Uint8Array.from([withChannel(apdu[0]!, channel), ...apdu.subarray(1)])),
        '+CGLA',
      );
    }
    m = /^AT\+CCHC=\s*(\d+)\s*$/.exec(upper);
    if (m) {
      const answer = this.card.transmit(Uint8Array.of(0x00, 0x70, 0x80, Number(m[1])));
      return answer[0] === 0x90 ? this.respond([]) : this.respond([], '+CME ERROR: 21');
    }
    return this.respond([], 'ERROR');
  }

  private async transmit(apdu: Uint8Array): Promise<Uint8Array> {
    const channel = decodeClass(apdu[0]!)?.channel ?? 0;
    // u-blox style: a GET RESPONSE for bytes the modem holds is answered by the modem.
    const held = this.held.get(channel);
    if (held && apdu[1] === 0xc0) return this.release(channel, held);
    const response = this.card.transmit(apdu);
    // card time only: the link time is that of the AT text (serialMs), hex doubling the bytes
    const { baud: _serial, ...cardLatency } = this.options.latency ?? {};
    await sleep(latencyOf(cardLatency, apdu, response));
    const limit = this.preset.maxResponseBytes;
    if (limit !== undefined && response.length - 2 > limit) {
      if (!this.preset.splitWithGetResponse)
        return Uint8Array.from([...response.subarray(0, limit), ...response.subarray(-2)]);
      this.held.set(channel, response);
      return this.release(channel, response, true);
    }
    return response;
  }

  /** Hands out held bytes in pieces of the modem's limit, announcing the rest with 61xx. */
  private release(channel: number, response: Uint8Array, first = false): Uint8Array {
    const limit = this.preset.maxResponseBytes!;
    const data = response.subarray(0, -2);
    if (first) return Uint8Array.of(0x61, Math.min(data.length, 255));
    const piece = data.subarray(0, limit);
    const rest = data.subarray(limit);
    if (rest.length === 0) {
      this.held.delete(channel);
      return response.slice();
    }
    this.held.set(channel, Uint8Array.from([...rest, ...response.subarray(-2)]));
    return Uint8Array.from([...piece, 0x61, Math.min(rest.length, 255)]);
  }

  private async csim(
    length: number,
    hex: string,
    send: (apdu: Uint8Array) => Promise<Uint8Array>,
    prefix: string,
  ): Promise<void> {
    if (length !== hex.length || hex.length % 2 !== 0 || hex.length < 8)
      return this.respond([], '+CME ERROR: 50');
    const response = bytesToHex(await send(hexToBytes(hex)));
    const body = this.preset.quotes ? `"${response}"` : response;
    return this.respond([`${prefix}: ${response.length},${body}`]);
  }

  private async openChannel(aidHex: string): Promise<void> {
    const opened = this.card.transmit(Uint8Array.of(0x00, 0x70, 0x00, 0x00, 0x01));
    if (opened.length !== 3) return this.respond([], '+CME ERROR: 21');
    const channel = opened[0]!;
    const aid = hexToBytes(aidHex);
    const selected = this.card.transmit(Uint8Array.from([channel, 0xa4, 0x04, 0x00, aid.length, ...aid]));
    const sw = (selected[selected.length - 2]! << 8) | selected[selected.length - 1]!;
    if (sw !== SW.OK) {
      this.card.transmit(Uint8Array.of(0x00, 0x70, 0x80, channel));
      return this.respond([], '+CME ERROR: 21');
    }
    return this.respond([`+CCHO: ${channel}`]);
  }
}
