// The test SMSC's submit rate limit: a token bucket of `rate` tokens a second holding at most `burst`
// (default: one second's worth). An SMSC answers ESME_RTHROTTLED (SMPP 3.4 §5.1.3) when it is empty.
export class TokenBucket {
  private tokens: number;
  private refilledAt = performance.now();
  private readonly burst: number;

  /** No rate: every take succeeds. */
  constructor(
    private readonly rate: number | undefined,
    burst?: number,
  ) {
    this.burst = burst ?? rate ?? 0;
    this.tokens = this.burst;
  }

  /** Takes a token if there is one now. */
  take(): boolean {
    if (!this.rate) return true;
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
