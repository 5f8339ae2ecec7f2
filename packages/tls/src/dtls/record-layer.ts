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
  readonly discarded: DiscardCounters = { malformed: 0, unknownEpoch: 0, replayed: 0, badRecord: 0 };
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

  /** Bytes a record adds to `contentLength` bytes of content under `half`. */
  overhead(half: HalfConnection = this.writeHalf, contentLength = 0): number {
    const body = half.cipher ? half.cipher.sealedLength(contentLength) : contentLength;
    return DTLS_RECORD_HEADER + body - contentLength;
  }

  /** The records of one datagram that open; every other one is counted and dropped. Never throws. */
  open(datagram: Uint8Array): DtlsRecord[] {
    const out: DtlsRecord[] = [];
    let at = 0;
    while (at < datagram.length) {
      if (datagram.length - at < DTLS_RECORD_HEADER) {
        this.discarded.malformed++;
        break;
      }
      const header = datagram.subarray(at, at + DTLS_RECORD_HEADER);
      const type = header[0]!;
      const version = (header[1]! << 8) | header[2]!;
      const epoch = (header[3]! << 8) | header[4]!;
      const sequence = readUint48(header, 5);
      const length = (header[11]! << 8) | header[12]!;
      const end = at + DTLS_RECORD_HEADER + length;
      // A length past the datagram: the rest of it cannot be framed (§4.1.2.7).
      if (end > datagram.length || length > MAX_DTLS_CIPHERTEXT) {
        this.discarded.malformed++;
        break;
      }
      const body = datagram.subarray(at + DTLS_RECORD_HEADER, end);
      at = end;
      if (!KNOWN_TYPES.includes(type) || (version !== DTLS12 && version !== DTLS10)) {
        this.discarded.malformed++;
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
    type: number,
    epoch: number,
    sequence: bigint,
    header: Uint8Array,
    body: Uint8Array,
  ): DtlsRecord | undefined {
    // The window is checked before the MAC and moved only after it (§4.1.2.6).
    if (!this.window.fresh(sequence)) {
      this.discarded.replayed++;
      return undefined;
    }
    const cipher = this.readHalf.cipher;
    let content: Uint8Array = body;
    if (!cipher) {
      // ChangeCipherSpec and everything before the first keys travel in clear; application data never does.
      if (type === CONTENT_TYPE.APPLICATION_DATA || body.length > MAX_PLAINTEXT) {
        this.discarded.badRecord++;
        return undefined;
      }
    } else if (type === CONTENT_TYPE.CHANGE_CIPHER_SPEC) {
      // A ChangeCipherSpec ends an epoch in clear; one inside a protected epoch is no one's.
      this.discarded.badRecord++;
      return undefined;
    } else {
      try {
        const context = { sequence: combined(epoch, sequence), version: this.version, header };
        content = cipher.open(context, type, body).content;
      } catch (error) {
        if (!(error instanceof TlsError)) throw error;
        this.discarded.badRecord++;
        return undefined;
      }
      if (content.length > MAX_PLAINTEXT) {
        this.discarded.badRecord++;
        return undefined;
      }
    }
    this.window.accept(sequence);
    return {
      type,
      epoch,
      sequence,
      content: new Uint8Array(content.buffer, content.byteOffset, content.length),
    };
  }

  /** One record of `content`, protected by `half` (default: the current write half-connection). */
  seal(type: number, content: Uint8Array, half: HalfConnection = this.writeHalf): Buffer {
    const cipher = half.cipher;
    const bodyLength = cipher ? cipher.sealedLength(content.length) : content.length;
    const out = Buffer.allocUnsafe(DTLS_RECORD_HEADER + bodyLength);
    const sequence = half.takeSequence();
    out[0] = type;
    out.writeUInt16BE(this.version, 1);
    out.writeUInt16BE(half.epoch, 3);
    writeUint48(out, 5, sequence);
    out.writeUInt16BE(bodyLength, 11);
    if (cipher) {
      const header = out.subarray(0, DTLS_RECORD_HEADER);
      const context = { sequence: combined(half.epoch, sequence), version: this.version, header };
      cipher.sealInto(context, type, content, out, DTLS_RECORD_HEADER);
    } else out.set(content, DTLS_RECORD_HEADER);
    return out;
  }
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
