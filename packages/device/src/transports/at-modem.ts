// A Transport through a cellular modem's AT interface (3GPP TS 27.007): AT+CSIM (§8.17) carries APDUs
// as they are; AT+CCHO/AT+CGLA/AT+CCHC (§8.45–8.47) let the modem own the logical channels, so a
// MANAGE CHANNEL + SELECT from the client becomes one AT+CCHO and later APDUs go by AT+CGLA.
// Parsing tolerates what field reports describe (spec/iotsafe.md §6.1): echo on or off, spaces,
// missing quotes, unsolicited result codes between answers, answers split across reads.
import type { Duplex } from 'node:stream';
import { bytesToHex, decodeClass, hexToBytes } from '@iotsafe/protocol';
import { type Transport, TransportError } from '../transport.js';

export type AtMode = 'csim' | 'cgla';

export interface AtModemOptions {
  mode?: AtMode;
  /** Per-command timeout in ms (default 10 s; key generation on a real SIM takes seconds). */
  timeoutMs?: number;
  /** Retries of a command the modem refused as busy (+CME ERROR: 14), never of one that may have run. */
  busyRetries?: number;
}

interface Pending {
  expect: string;
  lines: string[];
  resolve: (lines: string[]) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** Text of a final result code, or undefined when the line is not one. */
function finalResult(line: string): 'OK' | string | undefined {
  if (line === 'OK') return 'OK';
  if (line === 'ERROR' || line.startsWith('+CME ERROR') || line.startsWith('+CMS ERROR')) return line;
  return undefined;
}

export class AtModemTransport implements Transport {
  private buffer = '';
  private pending?: Pending;
  private busy: Promise<unknown> = Promise.resolve();
  private readonly mode: AtMode;
  /** CGLA mode: channels the client opened → the modem's session ID once an AID is selected. */
  private readonly sessions = new Map<number, number | undefined>();
  private closed = false;

  private constructor(
    private readonly stream: Duplex,
    private readonly options: AtModemOptions,
  ) {
    this.mode = options.mode ?? 'csim';
    stream.on('data', (chunk: Buffer) => this.onData(chunk.toString('latin1')));
    stream.on('close', () => this.failPending(new TransportError('the modem port closed')));
    stream.on('error', (e) => this.failPending(new TransportError(`modem port error: ${e.message}`)));
  }

  /** Over a connected stream (a serial port, a pty); probes the modem and turns echo off. */
  static async over(stream: Duplex, options: AtModemOptions = {}): Promise<AtModemTransport> {
    const t = new AtModemTransport(stream, options);
    await t.command('ATE0', '');
    await t.command('AT+CMEE=1', '').catch(() => undefined);
    const pin = await t.command('AT+CPIN?', '+CPIN');
    if (!pin.some((l) => /READY/i.test(l)))
      throw new TransportError(`the SIM is not ready: ${pin.join(' ')}`);
    return t;
  }

  /** Opens a serial port (serialport@13) at `baudRate` and probes the modem. */
  static async open(
    path: string,
    options: AtModemOptions & { baudRate?: number } = {},
  ): Promise<AtModemTransport> {
    const { SerialPort } = await import('serialport');
    const port = new SerialPort({ path, baudRate: options.baudRate ?? 115_200, autoOpen: false });
    await new Promise<void>((resolve, reject) =>
      port.open((e) => (e ? reject(new TransportError(`cannot open ${path}: ${e.message}`)) : resolve())),
    );
    return AtModemTransport.over(port, options);
  }

  private onData(text: string): void {
    this.buffer += text;
    for (;;) {
      const end = this.buffer.search(/[\r\n]/);
      if (end < 0) return;
      const line = this.buffer.slice(0, end).trim();
      this.buffer = this.buffer.slice(end + 1);
      if (line) this.onLine(line);
    }
  }

  private onLine(line: string): void {
    const pending = this.pending;
    if (!pending) return; // an unsolicited result code between commands
    const result = finalResult(line);
    if (result === undefined) {
      // Keep the answer lines of the command; skip its echo and unrelated unsolicited codes.
      if (pending.expect && line.toUpperCase().startsWith(`${pending.expect}:`)) pending.lines.push(line);
      return;
    }
    this.pending = undefined;
    clearTimeout(pending.timer);
    if (result === 'OK') pending.resolve(pending.lines);
    else pending.reject(new TransportError(`the modem answered ${result}`));
  }

  private failPending(error: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    if (pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }

  /** Sends one AT command and returns its `expect:` lines; serialised, with a timeout. */
  private command(text: string, expect: string): Promise<string[]> {
    const run = () =>
      new Promise<string[]>((resolve, reject) => {
        if (this.closed) return reject(new TransportError('transport is closed'));
        const timeout = this.options.timeoutMs ?? 10_000;
        const timer = setTimeout(() => {
          this.pending = undefined;
          reject(new TransportError(`the modem did not answer ${text.split('=')[0]} within ${timeout} ms`));
        }, timeout);
        this.pending = { expect, lines: [], resolve, reject, timer };
        this.stream.write(`${text}\r`);
      });
    const result = this.busy.then(run, run);
    this.busy = result.catch(() => undefined);
    return result;
  }

  private async commandWithBusyRetry(text: string, expect: string): Promise<string[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.command(text, expect);
      } catch (error) {
        const busy = error instanceof TransportError && /CME ERROR: 14\b/.test(error.message);
        if (!busy || attempt >= (this.options.busyRetries ?? 3)) throw error;
        await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
      }
    }
  }

  /** The hex payload of "+CSIM: n,"…"" (or without quotes), checked against its announced length. */
  private static payload(lines: string[], prefix: string): Uint8Array {
    const line = lines[0];
    const m = line ? /^\+\w+:\s*(\d+)\s*,\s*"?([0-9A-Fa-f]*)"?\s*$/.exec(line) : null;
    if (!m || Number(m[1]) !== m[2]!.length || m[2]!.length < 4 || m[2]!.length % 2 !== 0) {
      throw new TransportError(
        `the modem gave an answer that is not a ${prefix} response: ${line ?? '(none)'}`,
      );
    }
    return hexToBytes(m[2]!);
  }

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    if (this.mode === 'cgla') return this.transmitCgla(command);
    const hex = bytesToHex(command);
    return AtModemTransport.payload(
      await this.commandWithBusyRetry(`AT+CSIM=${hex.length},"${hex}"`, '+CSIM'),
      '+CSIM',
    );
  }

  private async transmitCgla(command: Uint8Array): Promise<Uint8Array> {
    const [cla, ins, p1, p2] = command;
    const channel = decodeClass(cla!)?.channel ?? 0;
    // MANAGE CHANNEL open: the modem opens the channel at AT+CCHO; answer with a local channel number.
    if (ins === 0x70 && p1 === 0x00) {
      let local = 1;
      while (this.sessions.has(local)) local++;
      this.sessions.set(local, undefined);
      return Uint8Array.of(local, 0x90, 0x00);
    }
    if (ins === 0x70 && p1 === 0x80) {
      const session = this.sessions.get(p2!);
      this.sessions.delete(p2!);
      if (session !== undefined) await this.command(`AT+CCHC=${session}`, '');
      return Uint8Array.of(0x90, 0x00);
    }
    if (ins === 0xa4 && p1 === 0x04 && this.sessions.has(channel)) {
      const aid = bytesToHex(command.subarray(5, 5 + command[4]!));
      try {
        const lines = await this.command(`AT+CCHO="${aid}"`, '+CCHO');
        const m = /^\+CCHO:\s*"?(\d+)"?/.exec(lines[0] ?? '');
        if (!m) throw new TransportError(`the modem gave no session for AT+CCHO: ${lines.join(' ')}`);
        this.sessions.set(channel, Number(m[1]));
        return Uint8Array.of(0x90, 0x00);
      } catch (error) {
        if (error instanceof TransportError && /CME ERROR/.test(error.message))
          return Uint8Array.of(0x6a, 0x82);
        throw error;
      }
    }
    const session = this.sessions.get(channel);
    if (channel === 0 || session === undefined) {
      const hex = bytesToHex(command);
      return AtModemTransport.payload(
        await this.commandWithBusyRetry(`AT+CSIM=${hex.length},"${hex}"`, '+CSIM'),
        '+CSIM',
      );
    }
    const hex = bytesToHex(command);
    return AtModemTransport.payload(
      await this.commandWithBusyRetry(`AT+CGLA=${session},${hex.length},"${hex}"`, '+CGLA'),
      '+CGLA',
    );
  }

  /** Restarts the modem's SIM interface (AT+CFUN=1,1); a modem gives no ATR, so the answer is empty. */
  async reset(): Promise<Uint8Array> {
    this.sessions.clear();
    await this.command('AT+CFUN=1,1', '');
    return new Uint8Array(0);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failPending(new TransportError('transport is closed'));
    this.stream.destroy();
  }
}
