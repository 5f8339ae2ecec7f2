// What an SCP80 job asks for: its steps (TAR, script, SPI, KVN; TS 102 225 §5.1.1 command packets,
// TS 102 226 RFM/RAM scripts), its retry budgets and PoR timeout; and the check every spec passes
// before a job is made (a reserved SPI is refused here, before any counter is taken).
import { decodeSpi, hexToBytes } from '@iotsafe/protocol';
import { StorageError } from '../storage/engine.js';
import type { RetryPolicy } from './kind.js';

export interface Scp80Step {
  /** TAR, 6 hex digits: 000000 RAM to the ISD, B00000 RFM. */
  tar: string;
  /** Secured data, hex: compact C-APDUs or an expanded script. */
  script: string;
  /** SPI, 4 hex digits (default 1619: cipher, CC, counter higher, PoR required, ciphered + CC). */
  spi?: string;
  kvn?: number;
}

export interface Scp80Spec {
  steps: Scp80Step[];
  retry?: RetryPolicy;
  /** How long to wait for each attempt's PoR once its SMS are out (default: the kind's, 10 s). */
  porTimeoutMs?: number;
}

const invalid = (message: string) => new StorageError(message, 'invalid');
const isHex = (text: unknown, length?: number): text is string =>
  typeof text === 'string' &&
  /^([0-9a-fA-F]{2})+$/.test(text) &&
  (length === undefined || text.length === length * 2);

/** Checks an SCP80 job spec; a StorageError 'invalid' naming what is wrong. */
export function parseScp80Spec(spec: unknown): Scp80Spec {
  const s = spec as Partial<Scp80Spec> | null;
  if (!s || typeof s !== 'object' || !Array.isArray(s.steps) || s.steps.length === 0 || s.steps.length > 64)
    throw invalid('an SCP80 job has 1 to 64 steps');
  const steps = s.steps.map((step, n) => {
    if (!step || typeof step !== 'object') throw invalid(`step ${n + 1} is not an object`);
    if (!isHex(step.tar, 3)) throw invalid(`step ${n + 1}: the TAR is 6 hex digits`);
    if (!isHex(step.script)) throw invalid(`step ${n + 1}: the script is hex`);
    if (step.spi !== undefined && !isHex(step.spi, 2))
      throw invalid(`step ${n + 1}: the SPI is 4 hex digits`);
    if (step.kvn !== undefined && !(Number.isInteger(step.kvn) && step.kvn >= 1 && step.kvn <= 15))
      throw invalid(`step ${n + 1}: the KVN is 1 to 15`);
    decodeSpi(hexToBytes(step.spi ?? '1619')); // a reserved SPI is refused here, before any counter
    return {
      tar: step.tar.toUpperCase(),
      script: step.script.toUpperCase(),
      ...(step.spi === undefined ? {} : { spi: step.spi.toUpperCase() }),
      ...(step.kvn === undefined ? {} : { kvn: step.kvn }),
    };
  });
  const timeout = s.porTimeoutMs;
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout >= 1 && timeout <= 86_400_000))
    throw invalid('porTimeoutMs is 1 ms to a day');
  return {
    steps,
    ...(s.retry ? { retry: s.retry } : {}),
    ...(timeout === undefined ? {} : { porTimeoutMs: timeout }),
  };
}
