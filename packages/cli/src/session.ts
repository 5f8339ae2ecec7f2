// Opens the SIM a device command works on. Today: a SIM directory in-process; later issues add
// --reader, --modem and --tcp behind the same Transport.
import { byId, byLabel, IoTSafe, MemoryTransport, type TraceSink } from '@iotsafe/device';
import type { ObjectRef } from '@iotsafe/protocol';
import { readStorageKeyFile, STORAGE_KEY_ENV, storageKeyFromEnvironment, VirtualSim } from '@iotsafe/sim';
import { printError } from './output.js';

export interface GlobalOptions {
  sim?: string;
  keyFile?: string;
  trace?: boolean;
  json?: boolean;
}

/** A usage problem: exit code 2 with a message that says what to pass. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function storageKey(options: GlobalOptions): Uint8Array {
  return options.keyFile ? readStorageKeyFile(options.keyFile) : storageKeyFromEnvironment();
}

export function simDirectory(options: GlobalOptions): string {
  const dir = options.sim ?? process.env.IOTSAFE_SIM;
  if (!dir) throw new UsageError('which SIM? pass --sim DIR (or set IOTSAFE_SIM)');
  return dir;
}

export function openSim(options: GlobalOptions): VirtualSim {
  return VirtualSim.open(simDirectory(options), { storageKey: storageKey(options) });
}

export async function withIoTSafe<T>(
  options: GlobalOptions,
  body: (client: IoTSafe, sim: VirtualSim) => Promise<T>,
): Promise<T> {
  const sim = openSim(options);
  const trace: TraceSink | undefined = options.trace ? (line) => printError(line) : undefined;
  const transport = new MemoryTransport(sim.card);
  const client = await IoTSafe.connect(transport, trace ? { trace } : {});
  try {
    return await body(client, sim);
  } finally {
    await client.close();
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

export { STORAGE_KEY_ENV };
