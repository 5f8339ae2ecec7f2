// A Transport through a cellular modem's AT interface (3GPP TS 27.007): AT+CSIM (§8.17) carries APDUs
// as they are; AT+CCHO/AT+CGLA/AT+CCHC (§8.45–8.47) let the modem own the logical channels, so a
// MANAGE CHANNEL + SELECT from the client becomes one AT+CCHO and later APDUs go by AT+CGLA. The SIM
// PIN is the modem's business (AT+CPIN, §8.3): it is entered there when the SIM asks for it.
import type { Duplex } from 'node:stream';
import { bytesToHex, decodeClass, hexToBytes } from '@iotsafe/protocol';
import { type Transport, TransportError } from '../transport.js';
import { AtChannel, openSerialPort } from './at-channel.js';

export type AtMode = 'csim' | 'cgla';

export interface AtModemOptions {
  mode?: AtMode;
  /** Per-command timeout in ms (default 10 s; key generation on a real SIM takes seconds). */
  timeoutMs?: number;
  /** Retries of a command the modem refused as busy (+CME ERROR: 14), never of one that may have run. */
  busyRetries?: number;
  /** The SIM PIN, entered with AT+CPIN when the SIM asks for it (never traced or put in an error). */
  pin?: string;
}

/** What AT+CPIN? answered, as the CLI shows it (§8.3: READY, SIM PIN, SIM PUK, …). */
export function pinState(lines: string[]): string {
  return (
    /^\+CPIN:\s*"?([^"]*)"?/i
      .exec(lines[0] ?? '')?.[1]
      ?.trim()
      .toUpperCase() ?? 'UNKNOWN'
  );
}

/** Brings the SIM to READY: enters `pin` when asked, explains every other state. */
export async function unlockSim(at: AtChannel, pin: string | undefined): Promise<void> {
  let state = pinState(await at.command('AT+CPIN?', '+CPIN'));
  if (state === 'READY') return;
  if (state === 'SIM PIN' && pin !== undefined) {
    if (!/^\d{4,8}$/.test(pin)) throw new TransportError('a SIM PIN is 4 to 8 digits');
    try {
      await at.command(`AT+CPIN="${pin}"`, '', { name: 'AT+CPIN (PIN entry)' });
    } catch (error) {
      const wrong = error instanceof TransportError && /CME ERROR: (16|incorrect)/i.test(error.message);
      throw new TransportError(
        wrong
          ? 'the modem refused the SIM PIN (wrong PIN): check it before the SIM blocks it'
          : (error as Error).message,
      );
    }
    for (let i = 0; i < 10 && state !== 'READY'; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 300)); // the SIM initialises after the PIN
      state = pinState(await at.command('AT+CPIN?', '+CPIN'));
    }
    if (state === 'READY') return;
  }
  if (state === 'SIM PIN') throw new TransportError('the SIM asks for its PIN (+CPIN: SIM PIN): pass --pin');
  if (state === 'SIM PUK')
    throw new TransportError('the SIM is blocked (+CPIN: SIM PUK): unblock it with its PUK first');
  throw new TransportError(`the SIM is not ready (+CPIN: ${state})`);
}

export class AtModemTransport implements Transport {
  private readonly mode: AtMode;
  /** CGLA mode: channels the client opened → the modem's session ID once an AID is selected. */
  private readonly sessions = new Map<number, number | undefined>();

  private constructor(
    private readonly at: AtChannel,
    private readonly options: AtModemOptions,
  ) {
    this.mode = options.mode ?? 'csim';
  }

  /**
   * Over a connected stream (a serial port, a pty): turns echo off, checks the SIM is ready (entering
   * the PIN when given). A modem that does not answer fails within the timeout and the stream is closed.
   */
  static async over(stream: Duplex, options: AtModemOptions = {}): Promise<AtModemTransport> {
    const at = new AtChannel(stream, options.timeoutMs);
    try {
      await at.command('ATE0', '');
      await at.command('AT+CMEE=1', '').catch(() => undefined);
      await unlockSim(at, options.pin);
    } catch (error) {
      await at.close(); // nothing may keep the port open (and the process alive) after a failed open
      if (error instanceof TransportError && /did not answer ATE0/.test(error.message))
        throw new TransportError(
          `${error.message}: this port may not be the modem's AT port (\`iotsafe modem probe\` tries one)`,
        );
      throw error;
    }
    return new AtModemTransport(at, options);
  }

  /** Opens a serial port at `baudRate` (115200 by default) and probes the modem. */
  static async open(
    path: string,
    options: AtModemOptions & { baudRate?: number } = {},
  ): Promise<AtModemTransport> {
    return AtModemTransport.over(await openSerialPort(path, options.baudRate), options);
  }

  private async commandWithBusyRetry(text: string, expect: string): Promise<string[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.at.command(text, expect);
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

  private async csim(command: Uint8Array): Promise<Uint8Array> {
    const hex = bytesToHex(command);
    return AtModemTransport.payload(
      await this.commandWithBusyRetry(`AT+CSIM=${hex.length},"${hex}"`, '+CSIM'),
      '+CSIM',
    );
  }

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    if (this.mode === 'cgla') return this.transmitCgla(command);
    return this.csim(command);
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
      if (session !== undefined) await this.at.command(`AT+CCHC=${session}`, '');
      return Uint8Array.of(0x90, 0x00);
    }
    if (ins === 0xa4 && p1 === 0x04 && this.sessions.has(channel)) {
      const aid = bytesToHex(command.subarray(5, 5 + command[4]!));
      try {
        const lines = await this.at.command(`AT+CCHO="${aid}"`, '+CCHO');
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
    if (channel === 0 || session === undefined) return this.csim(command);
    const hex = bytesToHex(command);
    return AtModemTransport.payload(
      await this.commandWithBusyRetry(`AT+CGLA=${session},${hex.length},"${hex}"`, '+CGLA'),
      '+CGLA',
    );
  }

  /** Restarts the modem's SIM interface (AT+CFUN=1,1); a modem gives no ATR, so the answer is empty. */
  async reset(): Promise<Uint8Array> {
    this.sessions.clear();
    await this.at.command('AT+CFUN=1,1', '');
    return new Uint8Array(0);
  }

  async close(): Promise<void> {
    await this.at.close();
  }
}
