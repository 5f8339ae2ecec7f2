// The DTLS anti-replay window (RFC 6347 §4.1.2.6, after RFC 4303 §3.4.3): the right edge is the
// highest sequence number authenticated so far; a record left of the window, or marked inside it, is a
// replay. A record is checked with fresh() before its MAC and recorded with accept() after it.
export class ReplayWindow {
  private right = -1n;
  /** Bit i set: sequence number (right − i) has been received. */
  private bits = 0n;
  private readonly mask: bigint;

  constructor(private readonly size = 64) {
    this.mask = (1n << BigInt(size)) - 1n;
  }

  fresh(sequence: bigint): boolean {
    if (sequence > this.right) return true;
    const offset = this.right - sequence;
    if (offset >= BigInt(this.size)) return false;
    return ((this.bits >> offset) & 1n) === 0n;
  }

  accept(sequence: bigint): void {
    if (sequence > this.right) {
      const shift = sequence - this.right;
      this.bits = shift >= BigInt(this.size) ? 1n : ((this.bits << shift) | 1n) & this.mask;
      this.right = sequence;
      return;
    }
    this.bits |= 1n << (this.right - sequence);
  }
}
