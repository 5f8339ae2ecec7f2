// The records a DTLS connection has opened and not handled yet, and the wait for more: the handshake
// pulls from it, the established connection drains it as datagrams come.
import { DtlsError } from './errors.js';
import type { DtlsRecord } from './record-layer.js';

export class RecordInbox {
  private records: DtlsRecord[] = [];
  private waiter?: { resolve: () => void; reject: (error: Error) => void };
  private closed = false;

  /** Records just opened; a wait for them ends. */
  add(records: DtlsRecord[]): void {
    this.records.push(...records);
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve();
  }

  /** Records the layer held back for the next epoch (RFC 6347 §4.1): handled before the rest. */
  addFirst(records: DtlsRecord[]): void {
    this.records.unshift(...records);
  }

  take(): DtlsRecord | undefined {
    return this.records.shift();
  }

  /** Resolves when records come; rejects once the connection is closed. */
  wait(): Promise<void> {
    if (this.closed) return Promise.reject(new DtlsError('closed', 'the DTLS connection is closed'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** The connection closed with `error`: a wait fails with it, later ones fail at once. */
  close(error: Error): void {
    this.closed = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }
}
