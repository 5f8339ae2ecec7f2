// Record protection, whatever the version: a RecordCipher seals and opens one record given the sequence
// number it is told (the half-connection counts it, or a DTLS record carries it), so no cipher keeps a
// counter of its own. TLS 1.3 AEAD (RFC 8446 §5.2–§5.3) is here; TLS 1.2 AEAD is in tls12/protection.ts.
import { CONTENT_TYPE } from '../constants.js';
import { tlsFail } from '../errors.js';
import type { CipherSuiteInfo } from '../suites.js';
import { AeadKey } from './aead.js';

/** What a cipher knows of the record it protects: its number, and the header it travels under. */
export interface RecordContext {
  /** The 64-bit sequence number the AEAD binds (TLS: implicit; DTLS: epoch ‖ seq48). */
  sequence: bigint;
  /** The record-layer version field (0x0303 for TLS, 0xFEFD for DTLS 1.2). */
  version: number;
  /** The outer header as it is (or will be) written: TLS 1.3 authenticates it (§5.2). */
  header: Uint8Array;
  /** The additional data, when the record format defines its own (DTLS 1.2 with a CID, RFC 9146 §5). */
  aad?: Uint8Array;
}

export interface RecordCipher {
  /** The content type a sealed record of `type` carries outside (TLS 1.3: application_data). */
  outerType(type: number): number;
  /** Length of the protected body for `plaintextLength` bytes of content. */
  sealedLength(plaintextLength: number): number;
  /**
   * Writes the protected body into `out` at `offset` (sealedLength bytes): one buffer holds a whole
   * write's records, so they go to the socket as one chunk.
   */
  sealInto(record: RecordContext, type: number, content: Uint8Array, out: Buffer, offset: number): void;
  /**
   * How much longer than its plaintext a protected body may be: 256 in TLS 1.3 (RFC 8446 §5.2); a
   * MAC-then-encrypt record may carry up to 255 bytes of padding and is allowed 2048 (RFC 5246
   * §6.2.3). Absent: 256.
   */
  readonly maxExpansion?: number;
  /** Opens a body: the content and its real type, or bad_record_mac. */
  open(record: RecordContext, outerType: number, body: Uint8Array): { type: number; content: Uint8Array };
}

export const TAG_LENGTH = 16;

/**
 * seq_num ‖ type ‖ version ‖ length: what TLS 1.2 and below authenticate before the fragment, as the
 * AEAD's additional data (RFC 5246 §6.2.3.3) or the MAC's first bytes (RFC 5246 §6.2.3.1).
 */
export function recordPseudoHeader(sequence: bigint, type: number, version: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(13);
  out.writeBigUInt64BE(sequence, 0);
  out[8] = type;
  out.writeUInt16BE(version, 9);
  out.writeUInt16BE(length, 11);
  return out;
}

/** Per-record nonces: a 12-byte IV with the 64-bit sequence number XORed into its last 8 bytes (§5.3, RFC 7905 §2). */
export class NonceMaker {
  private readonly prefix: number;
  private readonly low: bigint;

  /** One buffer for every nonce: node:crypto and the addon copy the nonce when they take it. */
  private readonly scratch = Buffer.alloc(12);

  constructor(iv: Uint8Array) {
    const bytes = Buffer.from(iv);
    this.prefix = bytes.readUInt32BE(0);
    this.low = bytes.readBigUInt64BE(4);
    this.scratch.writeUInt32BE(this.prefix, 0);
  }

  /** The nonce of record `sequence`, valid until the next call (hand it to the cipher at once). */
  nonce(sequence: bigint): Buffer {
    this.scratch.writeBigUInt64BE(this.low ^ sequence, 4);
    return this.scratch;
  }
}

/** TLS 1.3 record protection for one traffic key: the real type travels inside, padding is stripped. */
export class Tls13RecordCipher implements RecordCipher {
  private readonly aead: AeadKey;
  private readonly nonces: NonceMaker;

  constructor(suite: CipherSuiteInfo, key: Uint8Array, iv: Uint8Array) {
    this.aead = new AeadKey(suite.cipher, key);
    this.nonces = new NonceMaker(iv);
  }

  outerType(): number {
    return CONTENT_TYPE.APPLICATION_DATA;
  }

  sealedLength(plaintextLength: number): number {
    return plaintextLength + 1 + TAG_LENGTH;
  }

  sealInto(record: RecordContext, type: number, content: Uint8Array, out: Buffer, offset: number): void {
    // TLSInnerPlaintext: the content, then its real type (§5.2); the header is the AAD (§5.2).
    this.aead.sealInto(this.nonces.nonce(record.sequence), record.header, content, type, out, offset);
  }

  open(record: RecordContext, outerType: number, body: Uint8Array): { type: number; content: Uint8Array } {
    if (outerType !== CONTENT_TYPE.APPLICATION_DATA)
      tlsFail('unexpected_message', 'unprotected record after the handshake keys');
    if (body.length < TAG_LENGTH + 1) tlsFail('bad_record_mac', 'record too short to be protected');
    const inner =
      this.aead.open(this.nonces.nonce(record.sequence), record.header, body) ??
      tlsFail('bad_record_mac', 'record authentication failed');
    let end = inner.length - 1;
    while (end >= 0 && inner[end] === 0) end--;
    if (end < 0) tlsFail('unexpected_message', 'protected record without a content type');
    return { type: inner[end]!, content: inner.subarray(0, end) };
  }
}
