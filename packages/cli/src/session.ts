// Opens the SIM a device command works on: a SIM directory in-process (the default), or a card behind
// a real transport: a PC/SC reader (--reader), an AT modem (--modem), or a served card on TCP (--tcp).

import {
  AtModemTransport,
  byId,
  byLabel,
  IoTSafe,
  MemoryTransport,
  PcscTransport,
  TcpTransport,
  type TraceSink,
  type Transport,
  verifyPin,
} from '@iotsafe/device';
import type { ObjectRef } from '@iotsafe/protocol';
import { readStorageKeyFile, storageKeyFromEnvironment, VirtualSim } from '@iotsafe/sim';
import { printError, progress } from './output.js';
import { readAccessKey } from './tcp-access.js';
import { UsageError } from './usage.js';

export interface GlobalOptions {
  sim?: string;
  keyFile?: string;
  trace?: boolean;
  json?: boolean;
  reader?: string;
  modem?: string;
  atMode?: 'csim' | 'cgla';
  baud?: string;
  tcp?: string;
  tcpKey?: string;
  sessionEnd?: 'close' | 'last-update';
  pin?: string;
  cardTimeout?: string;
}

export { UsageError };

export function storageKey(options: GlobalOptions): Uint8Array {
  // a storage key file others can read is warned of by readStorageKeyFile (as ssh does)
  return options.keyFile ? readStorageKeyFile(options.keyFile) : storageKeyFromEnvironment();
}

/** The SIM PIN: --pin, or IOTSAFE_SIM_PIN (which keeps it out of the process list). */
export function simPin(options: GlobalOptions): string | undefined {
  const pin = options.pin ?? process.env.IOTSAFE_SIM_PIN;
  if (pin !== undefined && !/^\d{4,8}$/.test(pin)) throw new UsageError('a SIM PIN is 4 to 8 digits');
  return pin;
}

export function simDirectory(options: GlobalOptions): string {
  const dir = options.sim ?? process.env.IOTSAFE_SIM;
  if (!dir) throw new UsageError('which SIM? pass --sim DIR (or set IOTSAFE_SIM)');
  return dir;
}

export function openSim(options: GlobalOptions): VirtualSim {
  return VirtualSim.open(simDirectory(options), { storageKey: storageKey(options) });
}

/** host:port (the host defaults to 127.0.0.1). */
export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const match = /^(?:(.+):)?(\d{1,5})$/.exec(value);
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || port < 1 || port > 65535) throw new UsageError(`${what} takes HOST:PORT or PORT`);
  return { host: match[1] ?? '127.0.0.1', port };
}

/**
 * The transport the global options name (without one, the SIM directory in this process), with the
 * SIM PIN verified when one is given: by the modem (AT+CPIN) or by VERIFY PIN on the others.
 */
export async function openTransport(
  options: GlobalOptions,
  /** The in-process card, when the caller opened the SIM directory itself (bip needs the VirtualSim). */
  local?: () => Transport,
): Promise<Transport> {
  const pin = simPin(options);
  const opened = await openCardTransport(options, pin, local);
  const transport = opened instanceof MemoryTransport ? opened : withProgress(opened);
  if (pin === undefined || options.modem !== undefined) return transport;
  try {
    if ((await verifyPin(transport, pin)) === 'no-pin')
      printError('warning: this card has no PIN to verify (VERIFY is not supported); --pin ignored');
  } catch (error) {
    await transport.close();
    throw error;
  }
  return transport;
}

function cardTimeout(options: GlobalOptions): { timeoutMs?: number } {
  if (options.cardTimeout === undefined) return {};
  const timeoutMs = Number(options.cardTimeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100)
    throw new UsageError('--card-timeout takes milliseconds (≥ 100)');
  return { timeoutMs };
}

/** A card behind a link says, on stderr, when an answer takes more than a second (a key generation). */
function withProgress(transport: Transport): Transport {
  return {
    transmit: async (command) => {
      const done = progress(
        () =>
          `waiting for the card's answer to INS ${command[1]?.toString(16).padStart(2, '0').toUpperCase()}`,
      );
      try {
        return await transport.transmit(command);
      } finally {
        done();
      }
    },
    reset: () => transport.reset(),
    close: () => transport.close(),
  };
}

async function openCardTransport(
  options: GlobalOptions,
  pin: string | undefined,
  local?: () => Transport,
): Promise<Transport> {
  const chosen = [options.reader, options.modem, options.tcp].filter((v) => v !== undefined).length;
  if (chosen > 1) throw new UsageError('give one of --reader, --modem and --tcp');
  if (options.reader !== undefined) {
    const index = /^\d+$/.test(options.reader) ? Number(options.reader) : undefined;
    return PcscTransport.open({ reader: index ?? options.reader });
  }
  if (options.modem !== undefined) {
    const baudRate = options.baud === undefined ? undefined : Number(options.baud);
    if (baudRate !== undefined && !(Number.isInteger(baudRate) && baudRate > 0))
      throw new UsageError('--baud takes a positive integer');
    return AtModemTransport.open(options.modem, {
      mode: options.atMode ?? 'csim',
      ...cardTimeout(options),
      ...(baudRate ? { baudRate } : {}),
      ...(pin !== undefined ? { pin } : {}),
    });
  }
  if (options.tcpKey !== undefined && options.tcp === undefined)
    throw new UsageError('--tcp-key goes with --tcp');
  if (options.tcp !== undefined)
    return new TcpTransport({
      ...parseHostPort(options.tcp, '--tcp'),
      ...cardTimeout(options),
      ...(options.tcpKey !== undefined ? { accessKey: readAccessKey(options.tcpKey) } : {}),
    });
  return local ? local() : new MemoryTransport(openSim(options).card);
}

/** Whether the global options name a card link (else the SIM directory is opened in this process). */
export const cardLinkGiven = (options: GlobalOptions): boolean =>
  options.reader !== undefined || options.modem !== undefined || options.tcp !== undefined;

export async function withIoTSafe<T>(
  options: GlobalOptions,
  body: (client: IoTSafe) => Promise<T>,
): Promise<T> {
  const trace: TraceSink | undefined = options.trace ? (line) => printError(line) : undefined;
  const transport = await openTransport(options);
  try {
    const client = await IoTSafe.connect(transport, {
      ...(trace ? { trace } : {}),
      sessionEnd: options.sessionEnd === 'last-update' ? 'lastUpdate' : 'close',
    });
    try {
      return await body(client);
    } finally {
      await client.close();
    }
  } finally {
    await transport.close();
  }
}

export function objectRef(options: { id?: string; label?: string }, what: string): ObjectRef {
  if (options.id && options.label) throw new UsageError(`give the ${what} by --id or by --label, not both`);
  if (options.id) {
    if (!/^([0-9a-fA-F]{2}){1,20}$/.test(options.id)) throw new UsageError('--id takes 1 to 20 bytes of hex');
    return byId(options.id);
  }
  if (options.label) return byLabel(options.label);
  throw new UsageError(`which ${what}? pass --id HEX or --label TEXT`);
}
