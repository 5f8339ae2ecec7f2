// The DTLS 1.2 record layer over datagrams (RFC 6347 §4.1): records framed as type(1) ‖ version(2) ‖
// epoch(2) ‖ sequence_number(6) ‖ length(2) ‖ fragment, several to a datagram; each direction a
// half-connection with the epoch and the sequence number written explicitly. Whatever is wrong with a
// received record — its framing, its epoch, a replay, its MAC — the record is dropped and counted,
// never fatal (§4.1.2.7). The AEAD gets epoch ‖ seq48 as its 64-bit sequence (§4.1.2.1), so the TLS 1.2
// ciphers serve unchanged.
import { CONTENT_TYPE, MAX_PLAINTEXT } from '../constants.js';
import { TlsError } from '../errors.js';
import { HalfConnection, MAX_DTLS_SEQUENCE } from '../record/half-conn.js';
import type { RecordCipher } from '../record/protection.js';
import { ReplayWindow } from './replay-window.js';

/** DTLS 1.2 on the wire (RFC 6347 §4.1: the one's complement of 1.2). */
export const DTLS12 = 0xfefd;
/** DTLS 1.0: what some servers put on a HelloVerifyRequest (RFC 6347 §4.2.1). */
export const DTLS10 = 0xfeff;
export const DTLS_RECORD_HEADER = 13;
/** The content type of a record that carries a connection ID (RFC 9146 §4). */
export const TLS12_CID = 25;
/** A ciphertext may exceed the plaintext limit by 2048 bytes (RFC 6347 §4.1, RFC 5246 §6.2.3). */
const MAX_DTLS_CIPHERTEXT = MAX_PLAINTEXT + 2048;
const KNOWN_TYPES: readonly number[] = [
  CONTENT_TYPE.CHANGE_CIPHER_SPEC,
  CONTENT_TYPE.ALERT,
  CONTENT_TYPE.HANDSHAKE,
  CONTENT_TYPE.APPLICATION_DATA,
];

export interface DtlsRecord {
  type: number;
  epoch: number;
  sequence: bigint;
  content: Uint8Array;
}

/** Why received records were dropped, counted. */
export interface DiscardCounters {
  /** Bad framing: unknown type or version, a length past the datagram. */
  malformed: number;
  /** An epoch that is not the current one (nor the next, kept for later). */
  unknownEpoch: number;
  /** Seen before, or left of the replay window (§4.1.2.6). */
  replayed: number;
  /** Failed authentication (bad_record_mac), or unprotected content where there should be none. */
  badRecord: number;
  /** A connection ID that is not ours, or a CID record where none was agreed (RFC 9146 §4). */
  foreignCid: number;
}

export interface DatagramRecordLayerOptions {
  /** Replay window width in records (RFC 6347 §4.1.2.6: at least 32, 64 preferred). Default 64. */
  replayWindow?: number;
  /** Records of the next epoch kept while its keys are not installed yet (default 16). */
  maxEarlyRecords?: number;
}

const combined = (epoch: number, sequence: bigint) => (BigInt(epoch) << 48n) | sequence;

export class DatagramRecordLayer {
  private readHalf = new HalfConnection(0, undefined, MAX_DTLS_SEQUENCE);
  private writeHalf = new HalfConnection(0, undefined, MAX_DTLS_SEQUENCE);
  private window: ReplayWindow;
  /** Records of epoch read + 1 that came before the ChangeCipherSpec (reordered): opened once it is done. */
  private early: { header: Uint8Array; body: Uint8Array; type: number; sequence: bigint }[] = [];
  readonly discarded: DiscardCounters = {
    malformed: 0,
    unknownEpoch: 0,
    replayed: 0,
    badRecord: 0,
    foreignCid: 0,
  };
  /** RFC 9146: the CID records to us carry, and the one records from us carry, from epoch 1 on. */
  private readCid?: Uint8Array;
  private writeCid?: Uint8Array;
  private readonly windowSize: number;
  private readonly maxEarly: number;

  constructor(
    readonly version = DTLS12,
    options: DatagramRecordLayerOptions = {},
  ) {
    this.windowSize = options.replayWindow ?? 64;
    if (this.windowSize < 32) throw new RangeError('the replay window must cover at least 32 records');
    this.maxEarly = options.maxEarlyRecords ?? 16;
    this.window = new ReplayWindow(this.windowSize);
  }

  get read(): HalfConnection {
    return this.readHalf;
  }

  get write(): HalfConnection {
    return this.writeHalf;
  }

  /** Moves reading to the next epoch; returns the records of that epoch that were waiting for it. */
  changeReadCipher(cipher: RecordCipher): DtlsRecord[] {
    this.readHalf = this.readHalf.next(cipher);
    this.window = new ReplayWindow(this.windowSize);
    const waiting = this.early;
    this.early = [];
    const opened: DtlsRecord[] = [];
    for (const r of waiting) {
      const record = this.openOne(r.type, this.readHalf.epoch, r.sequence, r.header, r.body);
      if (record) opened.push(record);
    }
    return opened;
  }

  changeWriteCipher(cipher: RecordCipher): HalfConnection {
    this.writeHalf = this.writeHalf.next(cipher);
    return this.writeHalf;
  }

  /**
   * Connection IDs (RFC 9146 §3): `read` is the one we asked for (records to us carry it), `write` the
   * server's. Protected epochs use them; an empty one is not sent.
   */
  useConnectionIds(read: Uint8Array, write: Uint8Array): void {
    this.readCid = read.length > 0 ? read : undefined;
    this.writeCid = write.length > 0 ? write : undefined;
  }

  /** The CID records sent under `half` carry, if any. */
  private cidFor(half: HalfConnection): Uint8Array | undefined {
    return half.epoch > 0 && half.cipher ? this.writeCid : undefined;
  }

  /** Bytes a record adds to `contentLength` bytes of content under `half`. */
  overhead(half: HalfConnection = this.writeHalf, contentLength = 0): number {
    const cid = this.cidFor(half);
    // With a CID the real type travels inside (DTLSInnerPlaintext, RFC 9146 §4).
    const inner = contentLength + (cid ? 1 : 0);
    const body = half.cipher ? half.cipher.sealedLength(inner) : inner;
    return DTLS_RECORD_HEADER + (cid?.length ?? 0) + body - contentLength;
  }

  /** The records of one datagram that open; every other one is counted and dropped. Never throws. */
  open(datagram: Uint8Array): DtlsRecord[] {
    const out: DtlsRecord[] = [];
    let at = 0;
    while (at < datagram.length) {
      const type = datagram[at]!;
      // A CID record's header has the CID before the length (RFC 9146 §4); without one agreed, it cannot be framed.
      const cidLength = type === TLS12_CID ? this.readCid?.length : 0;
      if (cidLength === undefined) {
        this.discarded.foreignCid++;
        break;
      }
      const headerLength = DTLS_RECORD_HEADER + cidLength;
      if (datagram.length - at < headerLength) {
        this.discarded.malformed++;
        break;
      }
      const header = datagram.subarray(at, at + headerLength);
      const version = (header[1]! << 8) | header[2]!;
      const epoch = (header[3]! << 8) | header[4]!;
      const sequence = readUint48(header, 5);
      const length = (header[headerLength - 2]! << 8) | header[headerLength - 1]!;
      const end = at + headerLength + length;
      // A length past the datagram: the rest of it cannot be framed (§4.1.2.7).
      if (end > datagram.length || length > MAX_DTLS_CIPHERTEXT) {
        this.discarded.malformed++;
        break;
      }
      const body = datagram.subarray(at + headerLength, end);
      at = end;
      if (!(KNOWN_TYPES.includes(type) || type === TLS12_CID) || (version !== DTLS12 && version !== DTLS10)) {
        this.discarded.malformed++;
        continue;
      }
      if (type === TLS12_CID && !Buffer.from(header.subarray(11, 11 + cidLength)).equals(this.readCid!)) {
        this.discarded.foreignCid++;
        continue;
      }
      const record = this.routeByEpoch(type, epoch, sequence, header, body);
      if (record) out.push(record);
    }
    return out;
  }

  private routeByEpoch(
    type: number,
    epoch: number,
    sequence: bigint,
    header: Uint8Array,
    body: Uint8Array,
  ): DtlsRecord | undefined {
    if (epoch === this.readHalf.epoch) return this.openOne(type, epoch, sequence, header, body);
    // The next epoch's records may overtake the ChangeCipherSpec (§4.1: "may buffer").
    if (epoch === this.readHalf.epoch + 1 && this.early.length < this.maxEarly) {
      this.early.push({ type, sequence, header: header.slice(), body: body.slice() });
      return undefined;
    }
    this.discarded.unknownEpoch++;
    return undefined;
  }

  private openOne(
    outerType: number,
    epoch: number,
    sequence: bigint,
    header: Uint8Array,
    body: Uint8Array,
  ): DtlsRecord | undefined {
    let type = outerType;
    // The window is checked before the MAC and moved only after it (§4.1.2.6).
    if (!this.window.fresh(sequence)) {
      this.discarded.replayed++;
      return undefined;
    }
    const cipher = this.readHalf.cipher;
    let content: Uint8Array = body;
    if (!cipher) {
      // ChangeCipherSpec and everything before the first keys travel in clear; application data never does.
      if (type === CONTENT_TYPE.APPLICATION_DATA || type === TLS12_CID || body.length > MAX_PLAINTEXT) {
        this.discarded.badRecord++;
        return undefined;
      }
    } else if (type === CONTENT_TYPE.CHANGE_CIPHER_SPEC || (type !== TLS12_CID && this.readCid)) {
      // A ChangeCipherSpec ends an epoch in clear; with a CID agreed, every protected record carries it.
      this.discarded.badRecord++;
      return undefined;
    } else {
      const opened = this.openProtected(cipher, type, epoch, sequence, header, body);
      if (!opened || opened.content.length > MAX_PLAINTEXT) {
        this.discarded.badRecord++;
        return undefined;
      }
      type = opened.type;
      content = opened.content;
    }
    this.window.accept(sequence);
    return {
      type,
      epoch,
      sequence,
      content: new Uint8Array(content.buffer, content.byteOffset, content.length),
    };
  }

  /** Opens a protected body: the content and its type (from inside, with a CID), or undefined. */
  private openProtected(
    cipher: RecordCipher,
    type: number,
    epoch: number,
    sequence: bigint,
    header: Uint8Array,
    body: Uint8Array,
  ): { type: number; content: Uint8Array } | undefined {
    const context = { sequence: combined(epoch, sequence), version: this.version, header };
    try {
      if (type !== TLS12_CID) return { type, content: cipher.open(context, type, body).content };
      const innerLength = body.length - cipher.sealedLength(0);
      if (innerLength < 1) return undefined;
      const aad = cidAad(header, this.readCid!, innerLength);
      const inner = cipher.open({ ...context, aad }, type, body).content;
      // DTLSInnerPlaintext: content ‖ real type ‖ zero padding (RFC 9146 §4).
      let end = inner.length - 1;
      while (end >= 0 && inner[end] === 0) end--;
      if (end < 0 || inner[end] === TLS12_CID || !KNOWN_TYPES.includes(inner[end]!)) return undefined;
      return { type: inner[end]!, content: inner.subarray(0, end) };
    } catch (error) {
      if (error instanceof TlsError) return undefined;
      throw error;
    }
  }

  /** One record of `content`, protected by `half` (default: the current write half-connection). */
  seal(type: number, content: Uint8Array, half: HalfConnection = this.writeHalf): Buffer {
    const cipher = half.cipher;
    const cid = this.cidFor(half);
    const plaintext = cid ? Buffer.concat([content, Buffer.of(type)]) : content;
    const headerLength = DTLS_RECORD_HEADER + (cid?.length ?? 0);
    const bodyLength = cipher ? cipher.sealedLength(plaintext.length) : plaintext.length;
    const out = Buffer.allocUnsafe(headerLength + bodyLength);
    const sequence = half.takeSequence();
    out[0] = cid ? TLS12_CID : type;
    out.writeUInt16BE(this.version, 1);
    out.writeUInt16BE(half.epoch, 3);
    writeUint48(out, 5, sequence);
    if (cid) out.set(cid, 11);
    out.writeUInt16BE(bodyLength, headerLength - 2);
    if (cipher) {
      const header = out.subarray(0, headerLength);
      const context = {
        sequence: combined(half.epoch, sequence),
        version: this.version,
        header,
        ...(cid ? { aad: cidAad(header, cid, plaintext.length) } : {}),
      };
      cipher.sealInto(context, cid ? TLS12_CID : type, plaintext, out, headerLength);
    } else out.set(plaintext, headerLength);
    return out;
  }
}

/**
 * RFC 9146 §5 additional data: seq_num_placeholder (8 × 0xff) ‖ tls12_cid ‖ cid_length ‖ tls12_cid ‖
 * version ‖ epoch ‖ sequence_number ‖ cid ‖ length_of_DTLSInnerPlaintext.
 */
function cidAad(header: Uint8Array, cid: Uint8Array, innerLength: number): Uint8Array {
  const out = Buffer.alloc(8 + 3 + 10 + cid.length + 2, 0xff);
  out[8] = TLS12_CID;
  out[9] = cid.length;
  out[10] = TLS12_CID;
  out.set(header.subarray(1, 11), 11); // version ‖ epoch ‖ sequence_number
  out.set(cid, 21);
  out.writeUInt16BE(innerLength, 21 + cid.length);
  return out;
}

function readUint48(bytes: Uint8Array, at: number): bigint {
  let v = 0n;
  for (let i = 0; i < 6; i++) v = (v << 8n) | BigInt(bytes[at + i]!);
  return v;
}

function writeUint48(out: Buffer, at: number, value: bigint): void {
  out.writeUInt16BE(Number(value >> 32n), at);
  out.writeUInt32BE(Number(value & 0xffffffffn), at + 2);
}
