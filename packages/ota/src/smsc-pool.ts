// Pacing that respects the network: an SMSC account allows so many submit_sm a second (TPS) and so
// many outstanding at once (the window, SMPP 3.4 §2.9 "windowing"). PacedSmsLink spreads SMS over
// one or more binds of the account through a token bucket of the TPS (kept as its theoretical
// arrival time, GCRA: no timer per submit, a late timer owes nothing, and with a burst of 1 — the
// default — SMS are evenly spaced and never one early), sends whenever a bind's window has room, and
// treats ESME_RTHROTTLED (0x58) and ESME_RMSGQFUL (0x14) as "not now": the SMS goes back to the head
// of the queue and every bind pauses — first for an eighth of the TPS interval (a paced SMS refused
// arrived a hair early), then doubling while the SMSC keeps refusing. Such a refusal never reaches
// the caller; other refusals do.
import type { MessageHandler, SmsLink } from './smpp-link.js';
import { ESME, SmppError } from './smpp-pdu.js';

export interface PacingOptions {
  /** Submits per second over all binds (default: no limit). */
  tps?: number;
  /** Unacknowledged submit_sm per bind (default 10). */
  window?: number;
  /** SMS the bucket lets out back to back after an idle spell (default 1: evenly spaced). */
  burst?: number;
  /** ready() resolves while fewer SMS than this wait (default: 200 ms of the TPS, else every window). */
  readyDepth?: number;
  /**
   * First pause after a throttling refusal (default: an eighth of the TPS interval, 200 ms without a
   * TPS), doubled while refusals follow each other, up to maxBackoffMs (5 s).
   */
  backoffMs?: number;
  maxBackoffMs?: number;
}

interface Queued {
  to: string;
  userData: Uint8Array;
  resolve: (messageId: string) => void;
  reject: (error: Error) => void;
}

const THROTTLING = new Set<number>([ESME.RTHROTTLED, ESME.RMSGQFUL]);
/** The spacing's widening per throttling refusal, and its most: 2 % of the TPS at worst. */
const MARGIN_STEP = 0.004;
const MAX_MARGIN = 0.02;

export class PacedSmsLink implements SmsLink {
  private readonly queue: Queued[] = [];
  private readonly outstanding: number[];
  /** When the bucket next has a whole token (ms, performance.now()): GCRA's theoretical arrival time. */
  private nextToken = 0;
  private pausedUntil = 0;
  /**
   * How much wider than the TPS interval SMS are spaced: a throttling refusal of a paced SMS means
   * the SMSC clocked it early (the network's jitter), so each widens the spacing by 0.4 % (up to 2 %)
   * and each acceptance narrows it by 0.1 %, settling where one SMS in five is refused: a refusal
   * costs one pause and a round trip, a wider spacing costs every SMS.
   */
  private margin = 0;
  private backoff: number;
  /** Cancels the pending wake-up of the pump, when one is set. */
  private timer: (() => void) | undefined;
  private closed = false;
  private turn = 0;
  private readonly readyWaiters: (() => void)[] = [];
  private readonly reservations: NodeJS.Timeout[] = [];
  private reserved = 0;
  /** SMS acknowledged, throttling refusals retried, and the longest queue seen. */
  readonly stats = { submitted: 0, throttled: 0, queueFull: 0, maxQueued: 0 };

  constructor(
    readonly links: readonly SmsLink[],
    private readonly options: PacingOptions = {},
  ) {
    if (links.length === 0) throw new Error('PacedSmsLink needs at least one bind');
    if (options.tps !== undefined && !(options.tps > 0)) throw new Error('the TPS is a positive number');
    if (options.burst !== undefined && !(Number.isInteger(options.burst) && options.burst >= 1))
      throw new Error('the burst is a whole number of SMS, at least 1');
    this.outstanding = links.map(() => 0);
    this.backoff = this.firstBackoff;
  }

  private get interval(): number {
    return this.options.tps ? 1000 / this.options.tps : 0;
  }

  private get firstBackoff(): number {
    return this.options.backoffMs ?? (this.options.tps ? this.interval / 8 : 200);
  }

  private get window(): number {
    return this.options.window ?? 10;
  }

  submit(to: string, userData: Uint8Array): Promise<string> {
    if (this.closed) return Promise.reject(new SmppError('the SMPP link is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ to, userData, resolve, reject });
      if (this.reserved > 0) this.unreserve();
      this.stats.maxQueued = Math.max(this.stats.maxQueued, this.queue.length);
      this.pump();
    });
  }

  /** SMS waiting for a slot. */
  get queued(): number {
    return this.queue.length;
  }

  private get readyDepth(): number {
    const tps = this.options.tps;
    return (
      this.options.readyDepth ?? (tps ? Math.max(1, Math.ceil(tps / 5)) : this.window * this.links.length)
    );
  }

  /**
   * Resolves when the queue is short enough that an SMS handed over now goes out soon: callers that
   * take a counter, or check that their job still runs, do it then, not long before the SMS can leave.
   */
  ready(): Promise<void> {
    return new Promise((resolve) => {
      this.readyWaiters.push(resolve);
      this.wakeReady();
    });
  }

  // Each caller let through holds a place until its SMS comes (or for a second, should it not send).
  private wakeReady(): void {
    while (this.readyWaiters.length && (this.closed || this.queue.length + this.reserved < this.readyDepth)) {
      this.reserved++;
      const timer = setTimeout(() => this.unreserve(), 1000);
      timer.unref();
      this.reservations.push(timer);
      this.readyWaiters.shift()!();
    }
  }

  private unreserve(): void {
    const timer = this.reservations.shift();
    if (timer === undefined) return;
    clearTimeout(timer);
    this.reserved--;
    this.wakeReady();
  }

  private pump(): void {
    if (this.timer || this.closed) return;
    const interval = this.interval;
    const tolerance = ((this.options.burst ?? 1) - 1) * interval;
    while (this.queue.length) {
      const now = performance.now();
      const at = Math.max(this.nextToken - tolerance, this.pausedUntil);
      if (at > now) {
        this.wakeAt(at);
        return;
      }
      const link = this.freeLink();
      if (link === undefined) return; // woken when a submit is acknowledged
      this.nextToken = Math.max(this.nextToken, now) + interval * (1 + this.margin);
      this.send(link, this.queue.shift()!);
      this.wakeReady();
    }
  }

  // A timer to the millisecond below `at`, then the event loop's next turns to the exact time: a
  // paced SMS never leaves early (a strict SMSC refuses it) and rarely more than a turn late.
  private wakeAt(at: number): void {
    const wait = at - performance.now();
    const again = () => {
      this.timer = undefined;
      this.pump();
    };
    if (wait >= 2) {
      const timer = setTimeout(again, Math.floor(wait) - 1);
      this.timer = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(again);
      this.timer = () => clearImmediate(immediate);
    }
  }

  // Round robin over the binds that have room in their window.
  private freeLink(): number | undefined {
    for (let i = 0; i < this.links.length; i++) {
      const at = (this.turn + i) % this.links.length;
      if (this.outstanding[at]! < this.window) {
        this.turn = at + 1;
        return at;
      }
    }
    return undefined;
  }

  private send(at: number, entry: Queued): void {
    this.outstanding[at]!++;
    this.links[at]!.submit(entry.to, entry.userData).then(
      (messageId) => {
        this.outstanding[at]!--;
        this.stats.submitted++;
        this.backoff = this.firstBackoff;
        this.margin = Math.max(0, this.margin - MARGIN_STEP / 4);
        entry.resolve(messageId);
        this.pump();
      },
      (error: Error) => {
        this.outstanding[at]!--;
        const status = error instanceof SmppError ? error.commandStatus : undefined;
        if (status !== undefined && THROTTLING.has(status) && !this.closed) {
          if (status === ESME.RTHROTTLED) this.stats.throttled++;
          else this.stats.queueFull++;
          if (this.options.tps) this.margin = Math.min(MAX_MARGIN, this.margin + MARGIN_STEP);
          this.queue.unshift(entry);
          // the SMSC did not count it: the bucket starts again from the end of the pause, and the
          // wake-up set for the next slot (an interval away) is moved to it
          this.pausedUntil = Math.max(this.pausedUntil, performance.now() + this.backoff);
          this.nextToken = this.pausedUntil;
          this.backoff = Math.min(this.backoff * 2, this.options.maxBackoffMs ?? 5000);
          this.timer?.();
          this.timer = undefined;
        } else entry.reject(error);
        this.pump();
      },
    );
  }

  onMessage(handler: MessageHandler): void {
    for (const link of this.links) link.onMessage(handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.();
    this.timer = undefined;
    for (const entry of this.queue.splice(0))
      entry.reject(new SmppError(`the SMPP link was closed before the SMS to ${entry.to} was sent`));
    for (const wake of this.readyWaiters.splice(0)) wake();
    await Promise.all(this.links.map((link) => link.close()));
  }
}
