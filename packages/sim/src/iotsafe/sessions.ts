// Numbered sessions per command family (GSMA IoT.05, INIT/UPDATE commands): INIT P1=00 opens session P2, UPDATE
// commands carry it, INIT P1=01 closes it. Families are independent (ZARIOT signs on 01 and verifies on
// 02 at once); each has at most `maxSessions` open.
import { SW } from '@iotsafe/protocol';
import { CardError } from '../card/card-error.js';

/** Largest value an UPDATE series may accumulate (full-text data, public key data). */
export const MAX_UPDATE_BYTES = 16 * 1024;

export interface UpdateSession<T> {
  params: T;
  chunks: Uint8Array[];
  received: number;
  /** Set after the last UPDATE (P1=80); a finished session takes no more UPDATEs until reopened. */
  finished: boolean;
}

export class SessionTable<T> {
  private readonly sessions = new Map<number, UpdateSession<T>>();

  constructor(
    private readonly maxSessions: number,
    /** Whether INIT open may take over a session whose final UPDATE has run (see Personality). */
    private readonly reopenFinished = false,
  ) {}

  open(number: number, params: T): void {
    const current = this.sessions.get(number);
    if (current && !(current.finished && this.reopenFinished))
      throw new CardError(SW.CONDITIONS_NOT_SATISFIED, `session ${number} is already open`);
    this.sessions.delete(number);
    if (this.busyCount() >= this.maxSessions) {
      throw new CardError(SW.CONDITIONS_NOT_SATISFIED, `all ${this.maxSessions} sessions are in use`);
    }
    this.sessions.set(number, { params, chunks: [], received: 0, finished: false });
  }

  /** Sessions that hold a slot: all open ones, or only unfinished ones when a finished one may be taken over. */
  private busyCount(): number {
    if (!this.reopenFinished) return this.sessions.size;
    let busy = 0;
    for (const session of this.sessions.values()) if (!session.finished) busy++;
    return busy;
  }

  /** Closes a session; false when it was not open. */
  close(number: number): boolean {
    return this.sessions.delete(number);
  }

  /** Adds an UPDATE chunk; returns the session, with `finished` set on the last chunk. */
  append(number: number, chunk: Uint8Array, last: boolean): UpdateSession<T> {
    const session = this.sessions.get(number);
    if (!session || session.finished)
      throw new CardError(SW.CONDITIONS_NOT_SATISFIED, `session ${number} is not open`);
    if (session.received + chunk.length > MAX_UPDATE_BYTES) {
      this.sessions.delete(number);
      throw new CardError(SW.INSUFFICIENT_MEMORY, 'data too long for the session buffer');
    }
    session.chunks.push(chunk.slice());
    session.received += chunk.length;
    if (last) session.finished = true;
    return session;
  }

  /** A failed final UPDATE aborts the session, so no half-processed state survives. */
  abort(number: number): void {
    this.sessions.delete(number);
  }

  clear(): void {
    this.sessions.clear();
  }
}
