// MAC-then-encrypt record protection (RFC 5246 §6.2.3.1–§6.2.3.2, RFC 4346 and RFC 2246 §6.2.3): the
// MAC is HMAC(mac_key, seq_num ‖ type ‖ version ‖ length ‖ fragment), then content ‖ MAC ‖ padding is
// CBC-encrypted (each padding byte, and the padding-length byte, equal to the padding length); the NULL
// suites send content ‖ MAC in clear. TLS 1.1 and 1.2 put a fresh IV before each record; TLS 1.0 chains
// each record from the last ciphertext block of the one before (RFC 2246 §6.2.3.2). One Cipher (and one
// Decipher) per direction runs the whole chain: a TLS 1.1+ record is sealed as a random block R ‖ data
// through the running chain, whose first ciphertext block is then the record's IV (RFC 4346 §6.2.3.2,
// option 2b), and opened the same way, dropping the first plaintext block.
import {
  type Cipher,
  createCipheriv,
  createDecipheriv,
  createHmac,
  type Decipher,
  randomBytes,
} from 'node:crypto';
import { TLS10 } from '../constants.js';
import { tlsFail } from '../errors.js';
import type { MacThenEncrypt } from '../tls12/suites.js';
import { type RecordCipher, type RecordContext, recordPseudoHeader } from './protection.js';

/** 1 when a < b, else 0, for small non-negative integers, without a branch. */
const lessThan = (a: number, b: number) => ((a - b) >>> 31) & 1;
/** 1 when x is non-zero, else 0, for 0 ≤ x < 2^31, without a branch. */
const nonZero = (x: number) => ((x | -x) >>> 31) & 1;

export class MacThenEncryptCipher implements RecordCipher {
  /** RFC 5246 §6.2.3: TLSCiphertext.length up to 2^14 + 2048. */
  readonly maxExpansion = 2048;
  private readonly macKey: Buffer;
  private readonly block: number;
  /** TLS 1.1 and 1.2 carry an IV per record; TLS 1.0 does not. */
  private readonly explicitIv: boolean;
  private readonly encryptor?: Cipher;
  private readonly decryptor?: Decipher;

  /** `iv`: the key block's IV (TLS 1.0); TLS 1.1+ starts the chain anywhere and takes any. */
  constructor(
    private readonly params: MacThenEncrypt,
    private readonly version: number,
    macKey: Uint8Array,
    key: Uint8Array,
    iv: Uint8Array,
    direction: 'seal' | 'open',
  ) {
    this.macKey = Buffer.from(macKey);
    this.block = params.blockLength;
    this.explicitIv = version > TLS10;
    if (params.cipher === null) return;
    const chainIv = version > TLS10 ? Buffer.alloc(this.block) : Buffer.from(iv);
    if (chainIv.length !== this.block) tlsFail('internal_error', 'CBC IV of the wrong length');
    if (direction === 'seal') {
      this.encryptor = createCipheriv(params.cipher, Buffer.from(key), chainIv).setAutoPadding(false);
    } else {
      this.decryptor = createDecipheriv(params.cipher, Buffer.from(key), chainIv).setAutoPadding(false);
    }
  }

  outerType(type: number): number {
    return type;
  }

  sealedLength(plaintextLength: number): number {
    const macced = plaintextLength + this.params.macLength;
    if (this.block === 0) return macced;
    // The least padding that fills the last block: padding bytes plus the length byte (§6.2.3.2).
    const padded = (Math.floor(macced / this.block) + 1) * this.block;
    return (this.explicitIv ? this.block : 0) + padded;
  }

  sealInto(record: RecordContext, type: number, content: Uint8Array, out: Buffer, offset: number): void {
    const mac = createHmac(this.params.mac, this.macKey)
      .update(recordPseudoHeader(record.sequence, type, record.version, content.length))
      .update(content)
      .digest();
    if (!this.encryptor) {
      out.set(content, offset);
      mac.copy(out, offset + content.length);
      return;
    }
    const total = this.sealedLength(content.length);
    const iv = this.explicitIv ? this.block : 0;
    // Lay out [R] ‖ content ‖ MAC ‖ padding in `out`, then encrypt it in place through the chain.
    const plain = out.subarray(offset, offset + total);
    if (iv) randomBytes(iv).copy(plain, 0);
    plain.set(content, iv);
    mac.copy(plain, iv + content.length);
    const padding = total - iv - content.length - mac.length - 1;
    plain.fill(padding, iv + content.length + mac.length);
    this.encryptor.update(plain).copy(plain);
  }

  open(record: RecordContext, outerType: number, body: Uint8Array): { type: number; content: Uint8Array } {
    const macLength = this.params.macLength;
    if (!this.decryptor) {
      if (body.length < macLength) tlsFail('bad_record_mac', 'record too short to carry its MAC');
      const length = body.length - macLength;
      const expected = this.mac(record, outerType, body, length);
      if (nonZero(compare(expected, body.subarray(length)))) tlsFail('bad_record_mac', 'record MAC mismatch');
      return { type: outerType, content: body.subarray(0, length) };
    }
    const iv = this.explicitIv ? this.block : 0;
    const minimum = iv + (Math.floor(macLength / this.block) + 1) * this.block;
    if (body.length < minimum || body.length % this.block !== 0)
      tlsFail('bad_record_mac', 'record length is not a whole number of cipher blocks');
    const decrypted = this.decryptor.update(body);
    const plain = decrypted.subarray(iv);
    return { type: outerType, content: this.checkPaddingAndMac(record, outerType, plain) };
  }

  /**
   * Padding and MAC checked in constant time as far as JavaScript allows (RFC 5246 §6.2.3.2 and its
   * implementation note; Lucky Thirteen): the padding is read over the last 256 bytes whatever its
   * length byte says, a bad padding is taken as none and the MAC still computed, the hash is fed the
   * same number of bytes either way, and both failures are one bad_record_mac.
   */
  private checkPaddingAndMac(record: RecordContext, type: number, plain: Buffer): Buffer {
    const macLength = this.params.macLength;
    const length = plain.length;
    const padding = plain[length - 1]!;
    // padding + 1 + macLength must fit in the record.
    let bad = lessThan(length, padding + 1 + macLength);
    const scan = Math.min(256, length);
    for (let i = 1; i < scan; i++) {
      const inPadding = lessThan(i, padding + 1);
      bad |= inPadding & nonZero(plain[length - 1 - i]! ^ padding);
    }
    const good = bad ^ 1;
    // With a bad padding, the MAC is computed as if there were none (RFC 5246 §6.2.3.2).
    const contentLength = length - macLength - 1 - padding * good;
    const expected = this.mac(record, type, plain, contentLength, length - macLength - 1);
    const macBad = nonZero(compare(expected, plain.subarray(contentLength, contentLength + macLength)));
    if (bad | macBad) tlsFail('bad_record_mac', 'record MAC or padding mismatch');
    return plain.subarray(0, contentLength);
  }

  /**
   * The record's MAC over `data[0, length)`; `hashedLength` pads the work done with a throwaway hash of
   * the bytes left over, so that it does not depend on where the padding began.
   */
  private mac(
    record: RecordContext,
    type: number,
    data: Buffer | Uint8Array,
    length: number,
    hashedLength = length,
  ): Buffer {
    const mac = createHmac(this.params.mac, this.macKey)
      .update(recordPseudoHeader(record.sequence, type, record.version, length))
      .update(data.subarray(0, length))
      .digest();
    if (hashedLength > length)
      createHmac(this.params.mac, this.macKey).update(data.subarray(length, hashedLength)).digest();
    return mac;
  }
}

/** OR of the XORed bytes of two equal-length buffers: 0 when they are equal, read in full either way. */
function compare(a: Uint8Array, b: Uint8Array): number {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ (b[i] ?? 0);
  return diff;
}
