// The latency model of a front-end (docs/hardware.md, "Timing"): per-INS card time plus the time the
// bytes take on the link. Off by default; `iotsafe sim serve --latency` turns it on.
export interface LatencyOptions {
  /** Card time per INS in ms; others take `defaultMs`. */
  perInsMs?: Record<number, number>;
  defaultMs?: number;
  /** Link speed: bytes × 10 bits / baud. */
  baud?: number;
}

export const TYPICAL_SIM_LATENCY: LatencyOptions = {
  perInsMs: { 185: 1000, 43: 300, 45: 300, 70: 60, 74: 40, 72: 40, 216: 30 },
  defaultMs: 20,
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
