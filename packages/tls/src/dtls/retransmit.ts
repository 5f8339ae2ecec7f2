// Flight retransmission (RFC 6347 §4.2.4): after a flight is sent a timer runs; when it expires the
// flight is sent again and the timer doubles, up to a ceiling, for a bounded number of times. The
// timer runs on network time: while the handshake waits on the key operations (a SIM behind a modem
// takes hundreds of ms) it is paused, so a slow SIM is not taken for a lost datagram.
import { DtlsError } from './errors.js';

export interface RetransmitOptions {
  /** First timeout in ms. Default 9,000 (RFC 7925 §11; RFC 6347 §4.2.4.1 says 1,000 for the Internet). */
  initial?: number;
  /** Ceiling of the doubled timeout in ms. Default 60,000 (RFC 6347 §4.2.4.1, RFC 7925 §11). */
  max?: number;
  /** Retransmissions of one flight before the handshake fails. Default 6. */
  maxRetransmissions?: number;
}

export const RETRANSMIT_DEFAULTS: Required<RetransmitOptions> = {
  initial: 9_000,
  max: 60_000,
  maxRetransmissions: 6,
};

export class RetransmitTimer {
  private readonly settings: Required<RetransmitOptions>;
  private timer?: NodeJS.Timeout;
  private onExpiry?: () => void;
  /** What is left of the current timeout when paused, and when the running part started. */
  private remaining = 0;
  private startedAt = 0;
  private pauses = 0;
  private attempt = 0;
  /** Retransmissions over the whole handshake (for statistics). */
  total = 0;

  constructor(
    options: RetransmitOptions,
    private readonly onRetransmit: (attempt: number, timeout: number) => void,
    private readonly onGiveUp: (error: DtlsError) => void,
  ) {
    this.settings = { ...RETRANSMIT_DEFAULTS, ...options };
  }

  private get timeout(): number {
    return Math.min(this.settings.initial * 2 ** this.attempt, this.settings.max);
  }

  /** A new flight went out: the timer restarts at the initial timeout (§4.2.4.1). */
  start(): void {
    this.stop();
    this.attempt = 0;
    this.remaining = this.timeout;
    this.onExpiry = () => this.expired();
    this.run();
  }

  /** The flight was answered (or the handshake ended). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.onExpiry = undefined;
  }

  get running(): boolean {
    return this.onExpiry !== undefined;
  }

  pause(): void {
    if (this.pauses++ > 0 || !this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.remaining = Math.max(0, this.remaining - (performance.now() - this.startedAt));
  }

  resume(): void {
    if (this.pauses === 0 || --this.pauses > 0) return;
    if (this.onExpiry) this.run();
  }

  private run(): void {
    if (this.pauses > 0) return;
    this.startedAt = performance.now();
    this.timer = setTimeout(() => this.onExpiry?.(), this.remaining);
  }

  private expired(): void {
    this.timer = undefined;
    if (this.attempt >= this.settings.maxRetransmissions) {
      this.stop();
      this.onGiveUp(
        new DtlsError(
          'retransmissions_exhausted',
          `no answer from the server after ${this.attempt} retransmissions of our flight`,
        ),
      );
      return;
    }
    this.attempt++;
    this.total++;
    this.remaining = this.timeout;
    this.onRetransmit(this.attempt, this.remaining);
    this.run();
  }
}
