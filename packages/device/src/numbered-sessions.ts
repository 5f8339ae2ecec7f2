// IoT.05 numbered sessions (COMPUTE SIGNATURE, VERIFY SIGNATURE, PUT PUBLIC KEY: INIT, UPDATE…, INIT
// close): opened, recovered when a crash left one open, ended as the client's sessionEnd says, the
// closes deferred by a caller in a hurry sent before anything else, and sessions opened early (their
// INIT sent before the UPDATEs' data is known) taken up or closed.
import {
  buildInitClose,
  buildUpdate,
  type CommandApdu,
  StatusWordError,
  SW,
  splitIntoChunks,
} from '@iotsafe/protocol';
import type { PumpResponse } from './apdu-pump.js';

type Build = (cla: number) => CommandApdu;
type Exchange = (build: Build, name?: string) => Promise<PumpResponse>;
type Run = (name: string, build: Build, accept?: readonly number[]) => Promise<PumpResponse>;

/** A session whose INIT has gone ahead of its UPDATEs (openEarly); `opened` says whether the card took it. */
export interface EarlySession {
  readonly key: string;
  readonly initIns: number;
  readonly session: number;
  readonly opened: Promise<boolean>;
}

const ACCEPTABLE_CLOSE = new Set<number>([SW.OK, SW.INCORRECT_P1P2, SW.CONDITIONS_NOT_SATISFIED]);

export class NumberedSessions {
  /** Sessions ended by their final UPDATE only ('lastUpdate'): INIT INS and session number. */
  private readonly unclosed = new Map<string, { initIns: number; session: number }>();
  /** Sessions whose INIT close was deferred (SignOptions.deferSessionEnd), closed before anything else. */
  private readonly deferred = new Map<string, { initIns: number; session: number }>();
  /** Sessions opened early (openEarly), by INIT INS and number, until within() takes them or they close. */
  private readonly early = new Map<string, EarlySession>();

  constructor(
    private readonly exchange: Exchange,
    private readonly run: Run,
    private readonly closeBeforeOpen: boolean,
    private readonly updateChunk: number,
    /** How sessions end now: 'lastUpdate' falls back to 'close' on a card that keeps them open. */
    public ending: 'close' | 'lastUpdate',
  ) {}

  /**
   * Runs `body` inside a numbered session: opens it, and when the card says it is already open (6985:
   * a crash left it so) closes it and opens again; ends it afterwards as `sessionEnd` says, and always
   * closes it after a failure, without letting a close failure hide the body's error. With
   * `closeBeforeOpen` the session is closed first, as the Orange and Kigen libraries do (one APDU more
   * per operation).
   */
  async within<T>(
    name: string,
    initIns: number,
    session: number,
    buildOpen: (cla: number) => CommandApdu,
    body: () => Promise<T>,
    defer = false,
    early?: EarlySession,
  ): Promise<T> {
    await this.endDeferred();
    const closeSession = async () => (await this.exchange((cla) => buildInitClose(cla, initIns, session))).sw;
    const key = `${initIns}/${session}`;
    // The session opened early for this call is used as it is; another one on this number is closed first.
    const pending = this.early.get(key);
    this.early.delete(key);
    const taken = pending !== undefined && pending === early && (await pending.opened);
    if (pending && !taken && (await pending.opened)) await closeSession().catch(() => undefined);
    if (!taken) await this.open(name, initIns, session, buildOpen);
    let result: T;
    try {
      result = await body();
    } catch (error) {
      await closeSession().catch(() => undefined);
      throw error;
    }
    if (this.ending === 'lastUpdate') this.unclosed.set(key, { initIns, session });
    else if (defer) this.deferred.set(key, { initIns, session });
    else await closeSession().catch(() => undefined);
    return result;
  }

  /**
   * Sends the session's INIT now (after the deferred closes), for a within() given the handle to use:
   * the INIT leaves the caller's critical path. Never rejects: `opened` is false when the card refused.
   */
  openEarly(name: string, initIns: number, session: number, buildOpen: Build): EarlySession {
    const key = `${initIns}/${session}`;
    const previous = this.early.get(key);
    const opened = (async () => {
      if (previous) await this.cancelEarly(previous);
      await this.endDeferred();
      await this.open(name, initIns, session, buildOpen);
      return true;
    })().catch(() => false);
    const handle: EarlySession = { key, initIns, session, opened };
    this.early.set(key, handle);
    return handle;
  }

  /** INIT close for a session opened early and not taken (best effort); nothing if it was taken. */
  async cancelEarly(handle: EarlySession): Promise<void> {
    if (this.early.get(handle.key) !== handle) return;
    this.early.delete(handle.key);
    if (await handle.opened)
      await this.exchange((cla) => buildInitClose(cla, handle.initIns, handle.session)).catch(
        () => undefined,
      );
  }

  /** Closes every session opened early and not taken (the client closes). */
  async cancelAllEarly(): Promise<void> {
    for (const handle of [...this.early.values()]) await this.cancelEarly(handle);
  }

  /** The INIT, and when the card says the session is already open (a crash left it so) close and INIT again. */
  private async open(name: string, initIns: number, session: number, buildOpen: Build): Promise<void> {
    const closeSession = async () => (await this.exchange((cla) => buildInitClose(cla, initIns, session))).sw;
    const key = `${initIns}/${session}`;
    if (this.closeBeforeOpen) {
      const closeSw = await closeSession();
      if (!ACCEPTABLE_CLOSE.has(closeSw)) throw new StatusWordError(closeSw, `${name} INIT (close)`);
    }
    const opened = await this.exchange(buildOpen, `${name} INIT`);
    // 6985 (Kigen-class) or 6A86 (the Thales card of the CIRA trace) on a session a crash left open.
    if (
      (opened.sw === SW.CONDITIONS_NOT_SATISFIED || opened.sw === SW.INCORRECT_P1P2) &&
      !this.closeBeforeOpen
    ) {
      const leftOpenByUs = this.unclosed.has(key);
      if (this.unclosed.size > 0) {
        // The card keeps sessions open after their final UPDATE: close them, and every session from now on.
        this.ending = 'close';
        await this.closeLeftOpen();
      }
      if (!leftOpenByUs) await closeSession();
      await this.run(`${name} INIT`, buildOpen);
    } else if (opened.sw !== SW.OK) throw new StatusWordError(opened.sw, `${name} INIT`);
    this.unclosed.delete(key);
  }

  /** The INIT closes deferred by deferSessionEnd (best effort, as every close after success is). */
  async endDeferred(): Promise<void> {
    const sessions = [...this.deferred.values()];
    this.deferred.clear();
    for (const { initIns, session } of sessions)
      await this.exchange((cla) => buildInitClose(cla, initIns, session)).catch(() => undefined);
  }

  /** INIT close for each session 'lastUpdate' left open (best effort: a lenient card has ended them). */
  async closeLeftOpen(): Promise<void> {
    for (const { initIns, session } of this.unclosed.values())
      await this.exchange((cla) => buildInitClose(cla, initIns, session)).catch(() => undefined);
    this.unclosed.clear();
  }

  async sendUpdates(
    name: string,
    ins: number,
    session: number,
    data: Uint8Array,
    acceptLast: readonly number[] = [SW.OK],
  ): Promise<PumpResponse> {
    const chunks = splitIntoChunks(data, this.updateChunk);
    let response: PumpResponse | undefined;
    for (let i = 0; i < chunks.length; i++) {
      const last = i === chunks.length - 1;
      response = await this.run(
        name,
        (cla) => buildUpdate(cla, ins, session, last, chunks[i]!),
        last ? acceptLast : [SW.OK],
      );
    }
    return response!;
  }
}
