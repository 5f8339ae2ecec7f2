// The AT command channel of a modem (3GPP TS 27.007 §4, ITU-T V.250 §5): one command at a time, the
// answer lines it asked for, its final result code, and a bound on every wait. Parsing tolerates what
// field reports describe: echo on or off, blank lines, unsolicited result codes between answers,
// answers split across reads.
import type { Duplex } from 'node:stream';
import { TransportError } from '../transport.js';

/** `prefix` keeps the lines starting with "prefix:", '' keeps none, '*' keeps every line but the echo. */
export type AnswerLines = string;

interface Pending {
  text: string;
  expect: AnswerLines;
  lines: string[];
  resolve: (lines: string[]) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** Text of a final result code, or undefined when the line is not one. */
function finalResult(line: string): 'OK' | string | undefined {
  if (line === 'OK') return 'OK';
  if (
    line === 'ERROR' ||
    line === 'NO CARRIER' ||
    line.startsWith('+CME ERROR') ||
    line.startsWith('+CMS ERROR')
  )
    return line;
  return undefined;
}

export class AtChannel {
  private buffer = '';
  private pending?: Pending;
  private busy: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly stream: Duplex,
    /** Default bound on each command's answer, ms. */
    private readonly timeoutMs = 10_000,
  ) {
    stream.on('data', (chunk: Buffer) => this.onData(chunk.toString('latin1')));
    stream.on('close', () => this.failPending(new TransportError('the modem port closed')));
    stream.on('error', (e) => this.failPending(new TransportError(`modem port error: ${e.message}`)));
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
      if (pending.expect === '*') {
        if (line !== pending.text) pending.lines.push(line);
      } else if (pending.expect && line.toUpperCase().startsWith(`${pending.expect}:`))
        pending.lines.push(line);
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

  /**
   * Sends one command and returns its answer lines; serialised, each wait bounded by `timeoutMs`.
   * `name` is what errors call the command (a PIN never appears in an error: AT+CPIN= is named as such).
   */
  command(
    text: string,
    expect: AnswerLines,
    options: { timeoutMs?: number; name?: string } = {},
  ): Promise<string[]> {
    const run = () =>
      new Promise<string[]>((resolve, reject) => {
        if (this.closed) return reject(new TransportError('transport is closed'));
        const timeout = options.timeoutMs ?? this.timeoutMs;
        const name = options.name ?? text.split('=')[0];
        const timer = setTimeout(() => {
          this.pending = undefined;
          reject(new TransportError(`the modem did not answer ${name} within ${timeout} ms`));
        }, timeout);
        this.pending = { text, expect, lines: [], resolve, reject, timer };
        this.stream.write(`${text}\r`);
      });
    const result = this.busy.then(run, run);
    this.busy = result.catch(() => undefined);
    return result;
  }

  /**
   * Ends the channel. A serial port is closed explicitly: destroying a SerialPort stream leaves its fd
   * and poller open, which keeps the process alive after a silent modem timed out.
   */
  close(): Promise<void> {
    this.closed = true;
    this.failPending(new TransportError('transport is closed'));
    const port = this.stream as Duplex & {
      isOpen?: boolean;
      close?: (cb: (e?: Error | null) => void) => void;
    };
    return new Promise<void>((resolve) => {
      if (port.isOpen && typeof port.close === 'function') port.close(() => resolve());
      else resolve();
    }).finally(() => this.stream.destroy());
  }
}

/** Opens a serial port (serialport@13) at `baudRate`; a port that cannot be opened is a TransportError. */
export async function openSerialPort(path: string, baudRate = 115_200): Promise<Duplex> {
  const { SerialPort } = await import('serialport');
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) =>
    port.open((e) => (e ? reject(new TransportError(`cannot open ${path}: ${e.message}`)) : resolve())),
  );
  return port;
}
