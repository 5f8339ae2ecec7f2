// One direction of the record layer (Go's halfConn): the cipher that protects it, its epoch and the
// sequence number of its next record. Changing keys starts a new half-connection (epoch + 1, sequence
// 0, RFC 8446 §5.3, RFC 5246 §6.1), so a record queued under the old keys keeps them.
import { tlsFail } from '../errors.js';
import type { RecordCipher } from './protection.js';

const MAX_SEQUENCE = 0xffffffffffffffffn;
/** DTLS carries 48 bits of sequence number and 16 of epoch (RFC 6347 §4.1). */
export const MAX_DTLS_SEQUENCE = 0xffffffffffffn;
const MAX_DTLS_EPOCH = 0xffff;

export class HalfConnection {
  private sequence = 0n;

  constructor(
    readonly epoch = 0,
    readonly cipher?: RecordCipher,
    /** The last sequence number allowed: 2^64 − 1 for TLS, 2^48 − 1 for DTLS. */
    private readonly maxSequence = MAX_SEQUENCE,
  ) {}

  /** The next one with `cipher`: what a key change installs. */
  next(cipher: RecordCipher): HalfConnection {
    if (this.maxSequence === MAX_DTLS_SEQUENCE && this.epoch >= MAX_DTLS_EPOCH)
      tlsFail('internal_error', 'epoch exhausted');
    return new HalfConnection(this.epoch + 1, cipher, this.maxSequence);
  }

  /**
   * Takes the sequence number of the next record: every record sent, and every record received over a
   * stream, where it is implicit. (A DTLS record carries its own, and the receiver uses that one.)
   */
  takeSequence(): bigint {
    // Sequence numbers never wrap (RFC 8446 §5.3, RFC 5246 §6.1).
    if (this.sequence >= this.maxSequence) tlsFail('internal_error', 'sequence number exhausted');
    return this.sequence++;
  }
}
