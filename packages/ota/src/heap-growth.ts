// How far V8 lets the old generation grow past what survived its last full (mark-compact) collection
// before it starts the next one, for a long-running OTA process. V8 chooses that factor itself from
// its collection speed against the program's allocation speed, up to 4× on a default 64-bit heap
// (V8's heap controller, "heap growing factor"). A job worker's live heap is small and steady (its
// claims and their PoR waiters, a few MiB), but everything an item allocates lives as long as the item
// is in flight (its SQL rows, packets, promises: tens to hundreds of ms in a fast network, seconds with
// real SIMs), which is longer than the young generation's collections are apart: it is promoted, and
// the old generation fills with it up to that factor times the live heap before any of it is freed.
// That headroom, not the fleet, was the worker's peak (bench/fleet.ts, docs/fleet.md "Memory").
//
// V8's --heap-growing-percent fixes the factor at 1 + percent/100. It is no limit: the heap may still
// grow as far as Node's default maximum (nothing is refused, nothing runs out of memory sooner); V8
// only collects the old generation more often, each collection costing in proportion to the live heap.
import { setFlagsFromString } from 'node:v8';

/** The default: a full collection once the old generation has grown by half since the last one. */
export const DEFAULT_HEAP_GROWING_PERCENT = 50;

/** The environment variable that overrides it (0: V8's own growth). */
export const HEAP_GROWING_ENV = 'IOTSAFE_HEAP_GROWING_PERCENT';

/**
 * Sets V8's heap growing factor for this process (process-wide: call it from a program's start, as
 * `iotsafe ota serve`, `ota worker` and `campaign start --smsc` do, not from a library). `percent`
 * defaults to $IOTSAFE_HEAP_GROWING_PERCENT, else 50; 0 leaves V8's own growth, and so does a
 * `--heap-growing-percent` given to node itself. Returns the percent in force (0: V8's own).
 */
export function moderateHeapGrowth(percent?: number): number {
  const flag = process.execArgv.find((arg) => arg.startsWith('--heap-growing-percent'));
  if (flag) return Number(flag.split('=')[1] ?? 0) || 0;
  const env = process.env[HEAP_GROWING_ENV];
  const wanted = percent ?? (env === undefined || env === '' ? DEFAULT_HEAP_GROWING_PERCENT : Number(env));
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 1000)
    throw new RangeError(`the heap growing percent is a whole number from 0 to 1000, not ${percent ?? env}`);
  // a plain number V8 reads each time it sets the next collection's limit, so it may change while the
  // process runs (0 is V8's own default: its dynamic factor)
  setFlagsFromString(`--heap-growing-percent=${wanted}`);
  return wanted;
}
