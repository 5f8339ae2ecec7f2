// The card's toolkit runtime (ETSI TS 102 223 §4–§7, TS 102 221 §7.4.2.2 and §11.2): ENVELOPEs
// dispatched by template tag, a queue of proactive commands announced by 91xx and handed out by FETCH
// one at a time, and each TERMINAL RESPONSE delivered to the owner of the command it answers. Owners
// wait with promises, so applet work that needs the network goes on while the card answers other APDUs.
import {
  CAT_EVENT,
  CAT_TEMPLATE,
  type CommandDetails,
  decodeCatTemplate,
  decodeEventDownload,
  decodeProactiveCommand,
  decodeTerminalResponse,
  type EventDownload,
  encodeSetUpEventList,
  FormatError,
  MAX_PROACTIVE_COMMAND,
  resultPerformed,
  SW,
  type TerminalResponse,
} from '@iotsafe/protocol';
import { CardError } from './card-error.js';

/** A proactive command that got no TERMINAL RESPONSE in time, or was dropped by a card reset. */
export class ProactiveCommandError extends Error {
  override name = 'ProactiveCommandError';
}

export interface IssueOptions {
  /** Milliseconds from queueing to the TERMINAL RESPONSE (default: wait as long as it takes). */
  timeoutMs?: number;
}

interface Queued {
  bytes: Uint8Array;
  details: CommandDetails;
  fetched: boolean;
  resolve: (response: TerminalResponse) => void;
  reject: (error: Error) => void;
  timer?: NodeJS.Timeout;
}

type EventListener = (event: EventDownload) => void;

const ignore = () => {};

export class Toolkit {
  private readonly queue: Queued[] = [];
  private number = 0;
  private smsPpDownload?: (data: Uint8Array) => Uint8Array;
  private readonly listeners = new Map<number, Set<EventListener>>();
  private readonly wakers = new Set<() => void>();
  /** The last TERMINAL PROFILE (TS 102 221 §11.2.1); undefined until the terminal sends one. */
  terminalProfile?: Uint8Array;
  /** The events the terminal was asked to report (the last SET UP EVENT LIST it answered). */
  subscribedEvents: readonly number[] = [];
  /** TERMINAL RESPONSEs the card refused (malformed, or for no command outstanding). */
  refusedResponses = 0;

  /** Who answers SMS-PP download (D1): the OTA receiving entity. Its answer is the ENVELOPE's data. */
  onSmsPpDownload(handler: (data: Uint8Array) => Uint8Array): void {
    this.smsPpDownload = handler;
  }

  /**
   * Listens to an event download (TS 102 223 §7.5); the events listened to are those the card asks
   * the terminal for with SET UP EVENT LIST after TERMINAL PROFILE. Returns the unsubscribe function.
   */
  onEvent(event: number, listener: EventListener): () => void {
    const set = this.listeners.get(event) ?? new Set<EventListener>();
    this.listeners.set(event, set);
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Called when a proactive command becomes ready to FETCH (an in-process terminal polls at once). */
  onPending(waker: () => void): () => void {
    this.wakers.add(waker);
    return () => this.wakers.delete(waker);
  }

  /**
   * Queues the proactive command `build` makes with the next command number (§8.6) and resolves with
   * its TERMINAL RESPONSE. FormatError if the command is over 255 bytes.
   */
  issue(build: (number: number) => Uint8Array, options: IssueOptions = {}): Promise<TerminalResponse> {
    this.number = (this.number % 0xfe) + 1; // 01..FE
    const bytes = build(this.number);
    if (bytes.length > MAX_PROACTIVE_COMMAND)
      throw new FormatError('a proactive command is at most 255 bytes');
    const { details } = decodeProactiveCommand(bytes);
    return new Promise<TerminalResponse>((resolve, reject) => {
      const entry: Queued = { bytes, details, fetched: false, resolve, reject };
      if (options.timeoutMs !== undefined) {
        entry.timer = setTimeout(() => {
          this.remove(entry);
          reject(new ProactiveCommandError(`no TERMINAL RESPONSE to command ${details.number} in time`));
        }, options.timeoutMs);
      }
      this.queue.push(entry);
      if (this.queue[0] === entry) this.wake();
    });
  }

  /** Queues a command whose TERMINAL RESPONSE nobody waits for (a PoR sent by SEND SHORT MESSAGE). */
  post(command: Uint8Array): void {
    this.issue(() => command).catch(ignore);
  }

  /** Length of the command a 91xx announces: the head of the queue, unless it was fetched already. */
  pendingLength(): number | undefined {
    const head = this.queue[0];
    return head && !head.fetched ? head.bytes.length : undefined;
  }

  /** FETCH (TS 102 221 §11.2.3): the command at the head of the queue; a repeated FETCH gets it again. */
  fetch(): Uint8Array | undefined {
    return this.queue[0]?.bytes;
  }

  /** The FETCHed bytes reached the terminal: the command now waits for its TERMINAL RESPONSE. */
  fetched(bytes: Uint8Array): void {
    const head = this.queue[0];
    if (head?.bytes === bytes) head.fetched = true;
  }

  /** TERMINAL RESPONSE (TS 102 221 §11.2.4): to the owner of the command it answers. */
  terminalResponse(data: Uint8Array): void {
    const head = this.queue[0];
    if (!head?.fetched) {
      this.refusedResponses++;
      throw new CardError(SW.CONDITIONS_NOT_SATISFIED, 'no proactive command is waiting for a response');
    }
    let response: TerminalResponse;
    try {
      response = decodeTerminalResponse(data, { lenient: true });
    } catch (error) {
      this.refusedResponses++;
      throw new CardError(SW.INCORRECT_DATA, `not a TERMINAL RESPONSE: ${(error as Error).message}`);
    }
    if (response.details.number !== head.details.number || response.details.type !== head.details.type) {
      this.refusedResponses++;
      throw new CardError(
        SW.INCORRECT_DATA,
        `a response to command ${response.details.number}, not ${head.details.number}`,
      );
    }
    this.remove(head);
    head.resolve(response);
  }

  /**
   * ENVELOPE (TS 102 221 §11.2.2) by template: D1 SMS-PP download, D6 event download; an envelope
   * this card offers no service for is 6A81 (function not supported), as onomondo-uicc answers.
   */
  envelope(data: Uint8Array): Uint8Array {
    let tag: number;
    try {
      tag = decodeCatTemplate(data).tag;
    } catch (error) {
      throw new CardError(SW.INCORRECT_DATA, (error as Error).message);
    }
    if (tag === CAT_TEMPLATE.SMS_PP_DOWNLOAD && this.smsPpDownload) return this.smsPpDownload(data);
    if (tag === CAT_TEMPLATE.EVENT_DOWNLOAD) {
      let event: EventDownload;
      try {
        event = decodeEventDownload(data);
      } catch (error) {
        throw new CardError(SW.INCORRECT_DATA, (error as Error).message);
      }
      for (const listener of [...(this.listeners.get(event.event) ?? [])]) listener(event);
      return new Uint8Array(0);
    }
    throw new CardError(SW.FUNCTION_NOT_SUPPORTED, `no service for ENVELOPE ${tag.toString(16)}`);
  }

  /** TERMINAL PROFILE: kept, and answered by a SET UP EVENT LIST of the events listened to (§6.4.16). */
  profile(profile: Uint8Array): void {
    this.terminalProfile = profile.slice();
    const events = this.wantedEvents();
    if (events.length === 0) return;
    this.issue((n) => encodeSetUpEventList(n, events))
      .then((response) => {
        if (resultPerformed(response.result.general)) this.subscribedEvents = events;
      })
      .catch(ignore);
  }

  /** Card reset: every queued command is dropped (its owner gets ProactiveCommandError). */
  reset(): void {
    const dropped = this.queue.splice(0);
    this.terminalProfile = undefined;
    this.subscribedEvents = [];
    for (const entry of dropped) {
      clearTimeout(entry.timer);
      entry.reject(new ProactiveCommandError('the card was reset'));
    }
  }

  private wantedEvents(): number[] {
    return [CAT_EVENT.DATA_AVAILABLE, CAT_EVENT.CHANNEL_STATUS, CAT_EVENT.LOCATION_STATUS].filter(
      (e) => (this.listeners.get(e)?.size ?? 0) > 0,
    );
  }

  private remove(entry: Queued): void {
    clearTimeout(entry.timer);
    const index = this.queue.indexOf(entry);
    if (index >= 0) this.queue.splice(index, 1);
    if (index === 0 && this.queue.length > 0) this.wake();
  }

  private wake(): void {
    for (const waker of [...this.wakers]) queueMicrotask(waker);
  }
}
