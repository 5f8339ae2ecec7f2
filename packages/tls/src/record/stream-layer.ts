// The TLS record layer over a byte stream (RFC 8446 §5.1–§5.2, RFC 5246 §6.2): records framed as
// type(1) ‖ version(2) ‖ length(2) ‖ body out of the received bytes, with the length limits; each
// direction protected by its half-connection, whose implicit sequence number counts every record.
// The version is the layer's, given once; the DTLS datagram framing is another layer over the same
// half-connections and ciphers.
import { CONTENT_TYPE, MAX_CIPHERTEXT, MAX_PLAINTEXT } from '../constants.js';
import { tlsFail } from '../errors.js';
import { HalfConnection } from './half-conn.js';
import type { RecordCipher } from './protection.js';

export interface TlsRecord {
  type: number;
  content: Uint8Array;
}

const HEADER_LENGTH = 5;
const KNOWN_TYPES: readonly number[] = [
  CONTENT_TYPE.CHANGE_CIPHER_SPEC,
  CONTENT_TYPE.ALERT,
  CONTENT_TYPE.HANDSHAKE,
  CONTENT_TYPE.APPLICATION_DATA,
];
/**
 * Records in a row that carry nothing (empty fragments, ChangeCipherSpec) before the peer is cut off
 * with unexpected_message: OpenSSL (MAX_EMPTY_RECORDS) and BoringSSL (kMaxEmptyRecords) allow 32.
 */
export const MAX_EMPTY_RECORDS = 32;

const NOTHING = new Uint8Array(0);

/** The same bytes as a plain Uint8Array (no copy): what parsers hand on is never a Buffer. */
const plain = (b: Uint8Array) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export class StreamRecordLayer {
  private readHalf = new HalfConnection();
  private writeHalf = new HalfConnection();
  /** Received bytes not yet framed, as the chunks they came in (never concatenated on arrival). */
  private chunks: Uint8Array[] = [];
  private received = 0;
  private emptyInARow = 0;
  private fragmentLimit = MAX_PLAINTEXT;
  /** The memory under bytes lent by pushBorrowed: valid until keepBorrowed, never handed on. */
  private borrowed?: ArrayBufferLike;

  /**
   * `version`: the record-layer version field written and MACed (TLS 1.2 and 1.3: 0x0303; TLS 1.0:
   * 0x0301); received records are checked for its major byte, 3, as a ClientHello's reply may carry any.
   */
  constructor(public version: number) {}

  /** The most plaintext a record may carry, either way: 2^14, or the max_fragment_length negotiated. */
  get maxFragment(): number {
    return this.fragmentLimit;
  }

  /** From now on every record sent is cut at `length` bytes, and one received with more is record_overflow. */
  limitFragments(length: number): void {
    this.fragmentLimit = length;
  }

  /** Bytes received and not yet framed into records. */
  get buffered(): number {
    return this.received;
  }

  get read(): HalfConnection {
    return this.readHalf;
  }

  /** The half-connection records written now are protected by. */
  get write(): HalfConnection {
    return this.writeHalf;
  }

  changeReadCipher(cipher: RecordCipher): void {
    this.readHalf = this.readHalf.next(cipher);
  }

  changeWriteCipher(cipher: RecordCipher): HalfConnection {
    this.writeHalf = this.writeHalf.next(cipher);
    return this.writeHalf;
  }

  /** Adds received bytes (kept by reference: the caller must not reuse the buffer). */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.chunks.push(plain(bytes));
    this.received += bytes.length;
  }

  /**
   * Adds received bytes that stay valid only until keepBorrowed() (a socket's reused read buffer): the
   * records framed meanwhile are opened from them in place; whatever is still unframed then is copied.
   * Bytes right behind the last chunk in the same memory (a read landing behind what was kept) join it.
   */
  pushBorrowed(bytes: Uint8Array): void {
    this.borrowed = bytes.buffer;
    const last = this.chunks[this.chunks.length - 1];
    if (last && last.buffer === bytes.buffer && last.byteOffset + last.length === bytes.byteOffset) {
      this.chunks[this.chunks.length - 1] = new Uint8Array(
        bytes.buffer,
        last.byteOffset,
        last.length + bytes.length,
      );
      this.received += bytes.length;
      return;
    }
    this.push(bytes);
  }

  /**
   * Makes the borrowed bytes not framed yet (at most a partial record) safe from the lender's next
   * read: `relocate` may move them within the lender's memory (returning where), else they are copied.
   */
  keepBorrowed(relocate?: (rest: Uint8Array) => Uint8Array | undefined): void {
    const borrowed = this.borrowed;
    if (!borrowed) return;
    this.borrowed = undefined;
    const first = this.chunks[0];
    const only = this.chunks.length === 1 && first!.buffer === borrowed ? first : undefined;
    // Told even when there is nothing to move, so that the lender's next read starts afresh.
    const moved = relocate?.(only ?? NOTHING);
    if (only && moved) {
      this.chunks[0] = moved;
      return;
    }
    for (let i = 0; i < this.chunks.length; i++)
      if (this.chunks[i]!.buffer === borrowed) this.chunks[i] = this.chunks[i]!.slice();
  }

  private byteAt(index: number): number {
    for (const chunk of this.chunks) {
      if (index < chunk.length) return chunk[index]!;
      index -= chunk.length;
    }
    return 0;
  }

  /** Removes the first `n` buffered bytes: a view when one chunk holds them, else one copy. */
  private take(n: number): Uint8Array {
    const first = this.chunks[0]!;
    this.received -= n;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const part = Math.min(chunk.length, n - filled);
      out.set(chunk.subarray(0, part), filled);
      filled += part;
      if (part === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part);
    }
    return out;
  }

  /** The next complete record, opened; undefined while more bytes are needed. */
  next(): TlsRecord | undefined {
    if (this.received < HEADER_LENGTH) return undefined;
    const type = this.byteAt(0);
    if (!KNOWN_TYPES.includes(type)) tlsFail('unexpected_message', `record of unknown type ${type}`);
    if (this.byteAt(1) !== this.version >> 8) tlsFail('protocol_version', 'record with a foreign version');
    const length = (this.byteAt(3) << 8) | this.byteAt(4);
    const expansion = this.readHalf.cipher?.maxExpansion;
    const limit = expansion === undefined ? MAX_CIPHERTEXT : MAX_PLAINTEXT + expansion;
    if (length > limit) tlsFail('record_overflow', `record of ${length} bytes`);
    if (this.received < HEADER_LENGTH + length) return undefined;
    const bytes = this.take(HEADER_LENGTH + length);
    const recordHeader = bytes.subarray(0, HEADER_LENGTH);
    const body = bytes.subarray(HEADER_LENGTH);
    const record = this.open(type, recordHeader, body);
    // What a record hands on never points into borrowed bytes (a NULL cipher's or a plaintext record's
    // content is a view of its body).
    if (this.borrowed !== undefined && record.content.buffer === this.borrowed)
      record.content = record.content.slice();
    if (record.content.length === 0 || record.type === CONTENT_TYPE.CHANGE_CIPHER_SPEC) {
      if (++this.emptyInARow > MAX_EMPTY_RECORDS)
        tlsFail('unexpected_message', `more than ${MAX_EMPTY_RECORDS} empty records in a row`);
    } else this.emptyInARow = 0;
    return record;
  }

  private open(type: number, recordHeader: Uint8Array, body: Uint8Array): TlsRecord {
    // ChangeCipherSpec is never protected (RFC 8446 §5, RFC 5246 §7.1).
    if (type === CONTENT_TYPE.CHANGE_CIPHER_SPEC) {
      if (body.length !== 1 || body[0] !== 1) tlsFail('unexpected_message', 'bad ChangeCipherSpec');
      return { type, content: body };
    }
    const half = this.readHalf;
    if (!half.cipher) {
      if (body.length > this.fragmentLimit) tlsFail('record_overflow', 'plaintext record too long');
      if (type === CONTENT_TYPE.APPLICATION_DATA)
        tlsFail('unexpected_message', 'application data before keys');
      return { type, content: body };
    }
    const opened = half.cipher.open(
      { sequence: half.takeSequence(), version: this.version, header: recordHeader },
      type,
      body,
    );
    if (opened.content.length > this.fragmentLimit)
      tlsFail(
        'record_overflow',
        `record of ${opened.content.length} plaintext bytes (limit ${this.fragmentLimit})`,
      );
    return { type: opened.type, content: plain(opened.content) };
  }

  /** Bytes the records for `length` bytes of content take, headers included (what sealInto writes). */
  sealedLength(length: number, half: HalfConnection = this.writeHalf): number {
    const cipher = half.cipher;
    const limit = this.fragmentLimit;
    const fragments = Math.max(1, Math.ceil(length / limit));
    const body = (n: number) => (cipher ? cipher.sealedLength(n) : n);
    const last = length - (fragments - 1) * limit;
    return (fragments - 1) * (HEADER_LENGTH + body(limit)) + HEADER_LENGTH + body(last);
  }

  /**
   * Whole records for `content`, fragmented to 2^14 bytes (or the negotiated maximum), in one buffer
   * to write as one chunk; protected by `half` (default: the current write half-connection).
   */
  seal(type: number, content: Uint8Array, half: HalfConnection = this.writeHalf): Buffer {
    const out = Buffer.allocUnsafe(this.sealedLength(content.length, half));
    this.sealInto(type, content, out, 0, half);
    return out;
  }

  /**
   * The records of seal(), written into `out` from `offset` (sealedLength bytes of room): a buffer the
   * caller reuses once the socket has sent it. Returns the offset after the last record.
   */
  sealInto(
    type: number,
    content: Uint8Array,
    out: Buffer,
    offset: number,
    half: HalfConnection = this.writeHalf,
  ): number {
    const cipher = half.cipher;
    const limit = this.fragmentLimit;
    let at = offset;
    let from = 0;
    do {
      const fragment = content.subarray(from, from + limit);
      from += limit;
      const length = cipher ? cipher.sealedLength(fragment.length) : fragment.length;
      out[at] = cipher ? cipher.outerType(type) : type;
      out.writeUInt16BE(this.version, at + 1);
      out.writeUInt16BE(length, at + 3);
      if (cipher) {
        const header = out.subarray(at, at + HEADER_LENGTH);
        const context = { sequence: half.takeSequence(), version: this.version, header };
        cipher.sealInto(context, type, fragment, out, at + HEADER_LENGTH);
      } else out.set(fragment, at + HEADER_LENGTH);
      at += HEADER_LENGTH + length;
    } while (from < content.length);
    return at;
  }
}
