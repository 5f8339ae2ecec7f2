// Observe (RFC 7641): the order of notifications by their 24-bit sequence number.

/** Observe values are 24 bits; a value and its successor 2^23 apart are ambiguous (RFC 7641 §4.4). */
export const OBSERVE_MODULUS = 1 << 24;
const HALF = 1 << 23;
/** After 128 s a notification is newer whatever its number says (RFC 7641 §3.4). */
export const OBSERVE_FRESHNESS_WINDOW_MS = 128_000;

/**
 * RFC 7641 §3.4: notification 2 (value v2, received at t2 ms) is fresher than notification 1 if
 * (v1 < v2 and v2 - v1 < 2^23) or (v1 > v2 and v1 - v2 > 2^23) or (t2 > t1 + 128 s).
 */
export function isFresher(v1: number, t1: number, v2: number, t2: number): boolean {
  return (v1 < v2 && v2 - v1 < HALF) || (v1 > v2 && v1 - v2 > HALF) || t2 > t1 + OBSERVE_FRESHNESS_WINDOW_MS;
}
