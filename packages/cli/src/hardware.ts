// Real hardware as a guided path: `iotsafe readers` (PC/SC readers and their cards), `iotsafe modem
// probe PATH` (which serial port is the AT port and what it allows), and `iotsafe apdu HEX…` (raw
// command APDUs through any transport, 61xx/6Cxx followed up; inside SCP03 as `iotsafe gp apdu`).
import { ApduPump, PcscTransport, probeModem, type TraceSink, type Transport } from '@iotsafe/device';
import { bytesToHex, describeStatusWord, hexToBytes, parseCommandApdu, swToHex } from '@iotsafe/protocol';
import type { Command } from 'commander';
import { statusWordHint } from './errors.js';
import { emit, printError, progress, table } from './output.js';
import { type GlobalOptions, openTransport, simPin, UsageError } from './session.js';

export interface ApduResult {
  command: string;
  data: string;
  sw: string;
  meaning: string;
  hint?: string;
}

/** Sends each hex APDU through `transport`, following 61xx/6Cxx up, and says what each SW means. */
export async function runApdus(
  transport: Transport,
  hexes: string[],
  trace?: TraceSink,
): Promise<ApduResult[]> {
  const commands = hexes.map((hex) => {
    const clean = hex.replace(/[\s:]/g, '');
    if (!/^([0-9a-fA-F]{2}){4,}$/.test(clean)) throw new UsageError(`not a command APDU in hex: ${hex}`);
    try {
      return parseCommandApdu(hexToBytes(clean));
    } catch (error) {
      throw new UsageError(`not a command APDU: ${hex} (${(error as Error).message})`);
    }
  });
  const pump = new ApduPump(transport, trace ? { trace } : {});
  const results: ApduResult[] = [];
  for (const [i, apdu] of commands.entries()) {
    const response = await pump.exchange(apdu);
    const hint = response.sw === 0x9000 ? undefined : statusWordHint(response.sw);
    results.push({
      command: hexes[i]!.replace(/[\s:]/g, '').toUpperCase(),
      data: bytesToHex(response.data),
      sw: swToHex(response.sw),
      meaning: describeStatusWord(response.sw),
      ...(hint ? { hint } : {}),
    });
  }
  return results;
}

export function printApduResults(json: boolean | undefined, results: ApduResult[]): void {
  emit(json, results, () =>
    results
      .map(
        (r) =>
          `${r.command}\n  → ${r.data ? `${r.data} ` : ''}${r.sw} (${r.meaning})${r.hint ? `\n  hint: ${r.hint}` : ''}`,
      )
      .join('\n'),
  );
  if (results.some((r) => !/^(90|61|91)/.test(r.sw))) process.exitCode = 3;
}

export function registerHardware(program: Command, globals: () => GlobalOptions): void {
  program
    .command('readers')
    .description('PC/SC readers pcscd knows, and the card in each (ATR)')
    .action(async () => {
      const readers = await PcscTransport.readers();
      emit(globals().json, readers, () =>
        readers.length === 0
          ? 'no PC/SC reader (is the reader plugged in and pcscd running? docs/hardware.md)'
          : table([
              ['#', 'reader', 'card', 'ATR'],
              ...readers.map((r, i) => [
                String(i),
                r.name,
                r.card ? (r.inUse ? 'present, in use' : 'present') : 'empty',
                r.atr ? bytesToHex(r.atr) : '',
              ]),
            ]),
      );
    });

  const modem = program.command('modem').description('cellular modems: find the AT port and what it allows');
  modem
    .command('probe <path>')
    .description('AT answer, modem identity, SIM PIN state, AT+CSIM and AT+CCHO/CGLA access to the applet')
    .option('--timeout <ms>', 'bound on each AT command', '3000')
    .action(async (path: string, options: { timeout: string }) => {
      const timeoutMs = Number(options.timeout);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 100)
        throw new UsageError('--timeout takes milliseconds (≥ 100)');
      const baud = globals().baud === undefined ? undefined : Number(globals().baud);
      const pin = simPin(globals());
      const done = progress(() => `probing ${path}`);
      try {
        const probe = await probeModem(path, {
          timeoutMs,
          ...(baud ? { baudRate: baud } : {}),
          ...(pin !== undefined ? { pin } : {}),
        });
        done();
        emit(globals().json, { path, ...probe }, () =>
          table([
            ['port', path],
            ['answers AT', probe.answers ? 'yes' : 'no'],
            ...(probe.identity.length ? [['modem', probe.identity.join(' / ')]] : []),
            ...(probe.pin !== undefined ? [['SIM PIN', probe.pin]] : []),
            ...(probe.answers && probe.pin === 'READY'
              ? [
                  ['AT+CSIM', probe.csim ? `yes${probe.csimApplet ? ', IoT SAFE applet found' : ''}` : 'no'],
                  ['AT+CCHO/CGLA', probe.cgla ? 'yes, IoT SAFE applet found' : 'no'],
                ]
              : []),
            ...probe.advice.map((a) => ['→', a]),
          ]),
        );
        if (!probe.answers || (!probe.csimApplet && !probe.cgla)) process.exitCode = 5;
      } finally {
        done();
      }
    });

  program
    .command('apdu <hex...>')
    .description('send raw command APDUs (hex) to the card; 61xx/6Cxx are followed up')
    .action(async (hexes: string[]) => {
      const transport = await openTransport(globals());
      try {
        const trace = globals().trace ? (line: string) => printError(line) : undefined;
        printApduResults(globals().json, await runApdus(transport, hexes, trace));
      } finally {
        await transport.close();
      }
    });
}
