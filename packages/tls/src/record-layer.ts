// The record layer (RFC 8446 §5): frames records out of a byte stream with length limits, hands
// handshake bytes to a reassembly buffer, and protects records once keys are installed.
import { concatBytes } from '@iotsafe/protocol';
import type { RecordProtector } from './aead.js';
import { CONTENT_TYPE, MAX_CIPHERTEXT, MAX_PLAINTEXT } from './constants.js';
import { tlsFail } from './errors.js';
import { u16 } from './wire.js';

export interface TlsRecord {
  type: number;
  content: Uint8Array;
}

const header = (type: number, length: number) => concatBytes(Uint8Array.of(type, 0x03, 0x03), u16(length));

export class RecordLayer {
  private buffer: Uint8Array = new Uint8Array(0);
  private readProtection?: RecordProtector;
  private writeProtection?: RecordProtector;

  setReadProtection(p: RecordProtector): void {
    this.readProtection = p;
  }

  setWriteProtection(p: RecordProtector): void {
    this.writeProtection = p;
  }

  get readProtected(): boolean {
    return this.readProtection !== undefined;
  }

  /** Adds received bytes. */
  push(bytes: Uint8Array): void {
    this.buffer = this.buffer.length === 0 ? Uint8Array.from(bytes) : concatBytes(this.buffer, bytes);
  }

  /** The next complete record, opened, or undefined when more bytes are needed. */
  next(): TlsRecord | undefined {
    if (this.buffer.length < 5) return undefined;
    const type = this.buffer[0]!;
    const length = (this.buffer[3]! << 8) | this.buffer[4]!;
    if (
      ![
        CONTENT_TYPE.CHANGE_CIPHER_SPEC,
        CONTENT_TYPE.ALERT,
        CONTENT_TYPE.HANDSHAKE,
        CONTENT_TYPE.APPLICATION_DATA,
      ].includes(type as 20)
    ) {
      tlsFail('unexpected_message', `record of unknown type ${type}`);
    }
    if (this.buffer[1] !== 0x03) tlsFail('protocol_version', 'record with a foreign version');
    if (length > MAX_CIPHERTEXT) tlsFail('record_overflow', `record of ${length} bytes`);
    if (this.buffer.length < 5 + length) return undefined;
    const aad = this.buffer.slice(0, 5);
    const body = this.buffer.slice(5, 5 + length);
    this.buffer = this.buffer.subarray(5 + length);
    // ChangeCipherSpec is never protected; it is ignored in TLS 1.3 (middlebox compatibility, §5).
    if (type === CONTENT_TYPE.CHANGE_CIPHER_SPEC) {
      if (length !== 1 || body[0] !== 1) tlsFail('unexpected_message', 'bad ChangeCipherSpec');
      return { type, content: body };
    }
    if (!this.readProtection) {
      if (length > MAX_PLAINTEXT) tlsFail('record_overflow', 'plaintext record too long');
      if (type === CONTENT_TYPE.APPLICATION_DATA)
        tlsFail('unexpected_message', 'application data before keys');
      return { type, content: body };
    }
    const opened = this.readProtection.open(type, body, aad);
    if (opened.content.length > MAX_PLAINTEXT) tlsFail('record_overflow', 'inner plaintext too long');
    return { type: opened.type, content: opened.content };
  }

  /** Whole records for `content` (header and body chunks), fragmented to 2^14 bytes, protected when keys are installed. */
  encode(type: number, content: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let offset = 0;
    do {
      const fragment = content.subarray(offset, offset + MAX_PLAINTEXT);
      if (this.writeProtection) {
        const sealed = this.writeProtection.seal(type, fragment);
        out.push(header(sealed.type, sealed.body.length), sealed.body);
      } else out.push(header(type, fragment.length), fragment);
      offset += MAX_PLAINTEXT;
    } while (offset < content.length);
    return out;
  }
}

/** Reassembles handshake messages that span records, and splits records that hold several. */
export class HandshakeBuffer {
  private buffer: Uint8Array = new Uint8Array(0);

  push(bytes: Uint8Array): void {
    this.buffer = concatBytes(this.buffer, bytes);
    if (this.buffer.length > 1 << 18) tlsFail('decode_error', 'handshake message too large');
  }

  get empty(): boolean {
    return this.buffer.length === 0;
  }

  /** The next whole message (header included), or undefined. */
  next(): { type: number; body: Uint8Array; raw: Uint8Array } | undefined {
    if (this.buffer.length < 4) return undefined;
    const length = (this.buffer[1]! << 16) | (this.buffer[2]! << 8) | this.buffer[3]!;
    if (length > 1 << 17) tlsFail('decode_error', 'handshake message too large');
    if (this.buffer.length < 4 + length) return undefined;
    const raw = this.buffer.slice(0, 4 + length);
    this.buffer = this.buffer.subarray(4 + length);
    return { type: raw[0]!, body: raw.subarray(4), raw };
  }
}
