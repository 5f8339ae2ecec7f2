// DTLS handshake framing (RFC 6347 §4.2.2–§4.2.3): a 12-byte header — msg_type(1) ‖ length(3) ‖
// message_seq(2) ‖ fragment_offset(3) ‖ fragment_length(3) — so a message can be cut into fragments
// that fit a datagram, and put back together whatever order and how many times they arrive. The
// transcript hashes each message as if it were one fragment (§4.2.6).
import type { HandshakeMessage, HandshakeReassembler } from '../record/handshake-buffer.js';

export const DTLS_HANDSHAKE_HEADER = 12;

/** Why fragments were dropped (never fatal: epoch 0 is unauthenticated, anyone can inject). */
export interface FragmentCounters {
  /** Shorter than its header says, or past the message's length. */
  malformed: number;
  /** Claims a message longer than the limit. */
  oversized: number;
  /** Disagrees with fragments of the same message already received (type, length or bytes). */
  conflicting: number;
  /** Of a message already handed on (a retransmission). */
  stale: number;
  /** Too far ahead of the next message expected. */
  ahead: number;
}

/** A TLS-framed message (type ‖ length(3) ‖ body) in DTLS framing as one fragment, with `messageSeq`. */
export function toDtlsHandshake(tlsMessage: Uint8Array, messageSeq: number): Uint8Array {
  const length = tlsMessage.length - 4;
  const out = new Uint8Array(DTLS_HANDSHAKE_HEADER + length);
  out.set(tlsMessage.subarray(0, 4), 0);
  out[4] = messageSeq >> 8;
  out[5] = messageSeq & 0xff;
  writeU24(out, 6, 0);
  writeU24(out, 9, length);
  out.set(tlsMessage.subarray(4), DTLS_HANDSHAKE_HEADER);
  return out;
}

/** Cuts one whole DTLS-framed message into fragments of at most `maxFragment` body bytes (§4.2.3). */
export function fragmentHandshake(message: Uint8Array, maxFragment: number): Uint8Array[] {
  if (maxFragment < 1) throw new RangeError('the datagram size leaves no room for a handshake fragment');
  const body = message.subarray(DTLS_HANDSHAKE_HEADER);
  if (body.length <= maxFragment) return [message];
  const out: Uint8Array[] = [];
  for (let offset = 0; offset < body.length; offset += maxFragment) {
    const part = body.subarray(offset, offset + maxFragment);
    const fragment = new Uint8Array(DTLS_HANDSHAKE_HEADER + part.length);
    fragment.set(message.subarray(0, 6), 0);
    writeU24(fragment, 6, offset);
    writeU24(fragment, 9, part.length);
    fragment.set(part, DTLS_HANDSHAKE_HEADER);
    out.push(fragment);
  }
  return out;
}

/** The message_seq of a DTLS-framed message. */
export const messageSeqOf = (message: Uint8Array) => (message[4]! << 8) | message[5]!;

interface Partial {
  type: number;
  body: Uint8Array;
  /** have[i] = 1 when byte i has arrived. */
  have: Uint8Array;
  missing: number;
}

export interface ReassemblerOptions {
  /** Largest message accepted (default 2^17 bytes: a long certificate chain fits). */
  maxMessage?: number;
  /** How many messages past the next expected are kept (default 8). */
  maxAhead?: number;
}

/**
 * Reassembles DTLS handshake messages in message_seq order. Duplicates, retransmissions and
 * fragments that disagree are dropped and counted; a message is handed on once, whole.
 */
export class DtlsReassembler implements HandshakeReassembler {
  private nextSeq = 0;
  private readonly partial = new Map<number, Partial>();
  readonly discarded: FragmentCounters = { malformed: 0, oversized: 0, conflicting: 0, stale: 0, ahead: 0 };
  private readonly maxMessage: number;
  private readonly maxAhead: number;
  /** Set when a fragment of an already delivered message arrived: the peer is retransmitting. */
  peerRetransmitted = false;

  constructor(options: ReassemblerOptions = {}) {
    this.maxMessage = options.maxMessage ?? 1 << 17;
    this.maxAhead = options.maxAhead ?? 8;
  }

  /** The message_seq expected next. */
  get expected(): number {
    return this.nextSeq;
  }

  /** Expects `seq` next and forgets partial messages before it (a new ClientHello restarts the count). */
  expect(seq: number): void {
    this.nextSeq = seq;
    for (const key of this.partial.keys()) if (key < seq) this.partial.delete(key);
  }

  get empty(): boolean {
    return this.partial.size === 0;
  }

  /** Takes the fragments of one handshake record; never throws. */
  push(record: Uint8Array): void {
    let at = 0;
    while (at < record.length) {
      if (record.length - at < DTLS_HANDSHAKE_HEADER) {
        this.discarded.malformed++;
        return;
      }
      const type = record[at]!;
      const length = readU24(record, at + 1);
      const seq = (record[at + 4]! << 8) | record[at + 5]!;
      const offset = readU24(record, at + 6);
      const fragmentLength = readU24(record, at + 9);
      const start = at + DTLS_HANDSHAKE_HEADER;
      if (start + fragmentLength > record.length) {
        this.discarded.malformed++;
        return;
      }
      at = start + fragmentLength;
      this.add(type, length, seq, offset, record.subarray(start, start + fragmentLength));
    }
  }

  private add(type: number, length: number, seq: number, offset: number, data: Uint8Array): void {
    if (seq < this.nextSeq) {
      this.discarded.stale++;
      this.peerRetransmitted = true;
      return;
    }
    if (seq >= this.nextSeq + this.maxAhead) {
      this.discarded.ahead++;
      return;
    }
    if (length > this.maxMessage) {
      this.discarded.oversized++;
      return;
    }
    if (offset + data.length > length) {
      this.discarded.malformed++;
      return;
    }
    let message = this.partial.get(seq);
    if (message && (message.type !== type || message.body.length !== length)) {
      this.discarded.conflicting++;
      return;
    }
    if (!message) {
      message = { type, body: new Uint8Array(length), have: new Uint8Array(length), missing: length };
      this.partial.set(seq, message);
    }
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      if (message.have[at]) {
        // An overlap must repeat the same bytes: if it does not, no copy can be trusted (§4.2.3).
        if (message.body[at] !== data[i]) {
          this.discarded.conflicting++;
          this.partial.delete(seq);
          return;
        }
      } else {
        message.body[at] = data[i]!;
        message.have[at] = 1;
        message.missing--;
      }
    }
  }

  next(): HandshakeMessage | undefined {
    const message = this.partial.get(this.nextSeq);
    if (!message || message.missing > 0) return undefined;
    this.partial.delete(this.nextSeq);
    const raw = new Uint8Array(DTLS_HANDSHAKE_HEADER + message.body.length);
    raw[0] = message.type;
    writeU24(raw, 1, message.body.length);
    raw[4] = this.nextSeq >> 8;
    raw[5] = this.nextSeq & 0xff;
    writeU24(raw, 6, 0);
    writeU24(raw, 9, message.body.length);
    raw.set(message.body, DTLS_HANDSHAKE_HEADER);
    this.nextSeq++;
    return { type: message.type, body: raw.subarray(DTLS_HANDSHAKE_HEADER), raw };
  }
}

function readU24(b: Uint8Array, at: number): number {
  return (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!;
}

function writeU24(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >> 16) & 0xff;
  b[at + 1] = (v >> 8) & 0xff;
  b[at + 2] = v & 0xff;
}
