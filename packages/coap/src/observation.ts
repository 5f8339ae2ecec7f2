// One observation (RFC 7641): the registration's response, then notifications in order of
// freshness (§3.4), each whole even when it needs Block2 (RFC 7959 §2.6), until the server ends it
// with an error or a response without Observe, or the client cancels (§3.6).
import { EventEmitter } from 'node:events';
import type { RequestParts } from './blockwise.js';
import { codeToString, isSuccessCode } from './codes.js';
import { type CoapError, CoapResponseError } from './errors.js';
import type { CoapMessage } from './message.js';
import { isFresher } from './observe.js';
import { findUintOption, OptionNumber } from './options.js';
import { CoapResponse } from './response.js';

export interface ObservationHooks {
  request: RequestParts;
  /** The rest of a representation whose first block came in a notification. */
  fetchRest(first: CoapMessage): Promise<{ payload: Uint8Array; messages: number }>;
  /** GET with Observe 1 and the registration's token and options. */
  deregister(): Promise<CoapMessage>;
  /** Stops routing the token here: the next notification is answered with a RST. */
  forget(): void;
}

const MAX_QUEUED = 256;

/**
 * Events: 'notification' (CoapResponse) for each fresher notification after the first response;
 * 'end' (reason?: CoapError) once. Iterating yields `initial`, then every notification, until end
 * (holding at most 256 not yet taken).
 */
export class Observation extends EventEmitter {
  /** The response to the registration request (the first notification when `registered`). */
  initial!: CoapResponse;
  /** Whether the server added this client to its observers (the response carried Observe). */
  registered = false;
  /** Notifications dropped because a fresher one had come already (reordered or duplicated). */
  stale = 0;
  ended = false;
  private last?: { sequence: number; time: number };
  private readonly queue: CoapResponse[] = [];
  private wake?: () => void;
  private endReason?: CoapError;
  /** Notifications that completed before the first response did, delivered right after it. */
  private early: CoapResponse[] | undefined = [];

  constructor(private readonly hooks: ObservationHooks) {
    super();
  }

  /** Called with the response to the registration. */
  async start(first: CoapMessage): Promise<void> {
    const sequence = findUintOption(first.options, OptionNumber.Observe);
    this.registered = isSuccessCode(first.code) && sequence !== undefined;
    if (this.registered) this.last = { sequence: sequence!, time: performance.now() };
    try {
      const whole = await this.hooks.fetchRest(first);
      this.initial = new CoapResponse(first, whole.payload, whole.messages);
    } catch (error) {
      this.end(error as CoapError);
      throw error;
    }
    this.queue.push(this.initial);
    const early = this.early ?? [];
    this.early = undefined;
    for (const response of early) this.deliver(response);
    if (!this.registered) this.end();
  }

  /** A later message with the registration's token; false asks for a RST (nobody wants it). */
  notify(message: CoapMessage): boolean {
    if (this.ended) return false;
    if (!isSuccessCode(message.code)) {
      // §3.2: an error response ends the observation.
      this.end(
        new CoapResponseError(`the observation ended with ${codeToString(message.code)}`, {
          responseCode: message.code,
        }),
      );
      return true;
    }
    const sequence = findUintOption(message.options, OptionNumber.Observe);
    const now = performance.now();
    if (
      sequence !== undefined &&
      this.last &&
      !isFresher(this.last.sequence, this.last.time, sequence, now)
    ) {
      this.stale++;
      return true; // still acknowledged (§3.4 only says it is not used)
    }
    if (sequence !== undefined) this.last = { sequence, time: now };
    this.hooks.fetchRest(message).then(
      (whole) => {
        // A fresher notification that finished first has made this one stale.
        if (sequence !== undefined && this.last?.sequence !== sequence) {
          this.stale++;
          return;
        }
        this.deliver(new CoapResponse(message, whole.payload, whole.messages));
        if (sequence === undefined) this.end(); // a response without Observe: no longer observed
      },
      (error: CoapError) => this.end(error),
    );
    return true;
  }

  private deliver(response: CoapResponse): void {
    if (this.ended) return;
    if (this.early) {
      this.early.push(response); // the first response is still being fetched in blocks
      return;
    }
    this.queue.push(response);
    // Only the iterator drains the queue: without one, keep the latest few, not all.
    if (this.queue.length > MAX_QUEUED) this.queue.shift();
    this.wake?.();
    this.emit('notification', response);
  }

  private end(reason?: CoapError): void {
    if (this.ended) return;
    this.ended = true;
    if (reason) this.endReason = reason;
    this.hooks.forget();
    this.wake?.();
    this.emit('end', reason);
  }

  /** Ends observing. Proactive (default): GET with Observe 1 (§3.6); otherwise the next notification gets a RST. */
  async cancel(options: { proactive?: boolean } = {}): Promise<CoapResponse | undefined> {
    if (this.ended) return undefined;
    const proactive = (options.proactive ?? true) && this.registered;
    this.end();
    if (!proactive) return undefined;
    const response = await this.hooks.deregister();
    return new CoapResponse(response, response.payload);
  }

  /** Ends without telling the server (the client is closing). */
  abandon(reason: CoapError): void {
    this.end(reason);
  }

  /** Why the observation ended, if it ended with an error. */
  get reason(): CoapError | undefined {
    return this.endReason;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<CoapResponse> {
    for (;;) {
      const next = this.queue.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }
}
