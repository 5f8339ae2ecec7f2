// Handshake message reassembly over records (RFC 8446 §5.1): messages that span records are joined,
// records that hold several are split. TLS frames a message as type(1) ‖ length(3) ‖ body; a DTLS
// reassembler (with message_seq and fragments) is another implementation of the same interface.
import { concatBytes } from '@iotsafe/protocol';
import { tlsFail } from '../errors.js';

export interface HandshakeMessage {
  type: number;
  body: Uint8Array;
  /** The message as the transcript hashes it (header included). */
  raw: Uint8Array;
}

export interface HandshakeReassembler {
  push(fragment: Uint8Array): void;
  /** The next whole message, or undefined until more fragments arrive. */
  next(): HandshakeMessage | undefined;
  /** No partial or unread message is buffered. */
  readonly empty: boolean;
}

/** Upper bound of one handshake message (a long certificate chain fits; a 16 MiB length does not). */
const MAX_MESSAGE = 1 << 17;

export class HandshakeBuffer implements HandshakeReassembler {
  private buffer: Uint8Array = new Uint8Array(0);

  push(fragment: Uint8Array): void {
    this.buffer = this.buffer.length === 0 ? fragment : concatBytes(this.buffer, fragment);
    if (this.buffer.length > 2 * MAX_MESSAGE) tlsFail('decode_error', 'handshake message too large');
  }

  get empty(): boolean {
    return this.buffer.length === 0;
  }

  next(): HandshakeMessage | undefined {
    if (this.buffer.length < 4) return undefined;
    const length = (this.buffer[1]! << 16) | (this.buffer[2]! << 8) | this.buffer[3]!;
    if (length > MAX_MESSAGE) tlsFail('decode_error', 'handshake message too large');
    if (this.buffer.length < 4 + length) return undefined;
    const raw = this.buffer.subarray(0, 4 + length);
    this.buffer = this.buffer.subarray(4 + length);
    return { type: raw[0]!, body: raw.subarray(4), raw };
  }
}
