// One direction of the record layer (Go's halfConn): the cipher that protects it, its epoch and the
// sequence number of its next record. Changing keys starts a new half-connection (epoch + 1, sequence
// 0, RFC 8446 §5.3, RFC 5246 §6.1), so a record queued under the old keys keeps them.
import { tlsFail } from '../errors.js';
import type { RecordCipher } from './protection.js';

const MAX_SEQUENCE = 0xffffffffffffffffn;

export class HalfConnection {
  private sequence = 0n;

  constructor(
    readonly epoch = 0,
    readonly cipher?: RecordCipher,
  ) {}

  /** The next one with `cipher`: what a key change installs. */
  next(cipher: RecordCipher): HalfConnection {
    return new HalfConnection(this.epoch + 1, cipher);
  }

  /**
   * Takes the sequence number of the next record: every record sent, and every record received over a
   * stream, where it is implicit. (A DTLS record carries its own, and the receiver uses that one.)
   */
  takeSequence(): bigint {
    // Sequence numbers never wrap (RFC 8446 §5.3, RFC 5246 §6.1).
    if (this.sequence >= MAX_SEQUENCE) tlsFail('internal_error', 'sequence number exhausted');
    return this.sequence++;
  }
}
