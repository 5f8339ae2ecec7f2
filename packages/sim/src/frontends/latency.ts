// The latency model of a front-end (docs/hardware.md, "Timing"): per-INS card time plus the time the
// bytes take on the link. Off by default; `iotsafe sim serve --latency` turns it on.
import { TYPICAL_SIM_CARD_MS, TYPICAL_SIM_DEFAULT_MS } from '@iotsafe/protocol';

export interface LatencyOptions {
  /** Card time per INS in ms; others take `defaultMs`. */
  perInsMs?: Readonly<Record<number, number>>;
  defaultMs?: number;
  /** Link speed: bytes × 10 bits / baud. */
  baud?: number;
}

export const TYPICAL_SIM_LATENCY: LatencyOptions = {
  perInsMs: TYPICAL_SIM_CARD_MS,
  defaultMs: TYPICAL_SIM_DEFAULT_MS,
};

export function latencyOf(
  options: LatencyOptions | undefined,
  command: Uint8Array,
  response: Uint8Array,
): number {
  if (!options) return 0;
  const card = options.perInsMs?.[command[1] ?? -1] ?? options.defaultMs ?? 0;
  const link = options.baud ? ((command.length + response.length) * 10 * 1000) / options.baud : 0;
  return card + link;
}

export const sleep = (ms: number) =>
  ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
