// TLS 1.2 AEAD record protection (RFC 5246 §6.2.3.3): GCM and CCM carry an 8-byte explicit nonce
// (the sequence number) after a 4-byte implicit salt (RFC 5288 §3, RFC 6655 §3); ChaCha20-Poly1305
// XORs the sequence number into a 12-byte IV (RFC 7905 §2). AAD = seq ‖ type ‖ version ‖ length.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { concatBytes } from '@iotsafe/protocol';
import type { RecordProtector } from '../aead.js';
import { tlsFail } from '../errors.js';
import type { Suite12 } from './suites.js';

type AeadCipher = ReturnType<typeof createCipheriv> & {
  setAAD(aad: Uint8Array, options?: { plaintextLength: number }): unknown;
  getAuthTag(): Buffer;
};
type AeadDecipher = ReturnType<typeof createDecipheriv> & {
  setAAD(aad: Uint8Array, options?: { plaintextLength: number }): unknown;
  setAuthTag(tag: Uint8Array): unknown;
};

const u64 = (v: bigint) => {
  const out = new Uint8Array(8);
  for (let i = 7; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
};

export class Tls12Protection implements RecordProtector {
  private sequence = 0n;

  constructor(
    private readonly suite: Suite12,
    private readonly key: Uint8Array,
    private readonly fixedIv: Uint8Array,
  ) {}

  private algorithm(): string {
    return this.suite.aead === 'aes-128-ccm8' ? 'aes-128-ccm' : this.suite.aead;
  }

  private nextSequence(): Uint8Array {
    if (this.sequence >= 0xffffffffffffffffn) tlsFail('internal_error', 'sequence number exhausted');
    return u64(this.sequence++);
  }

  private chachaNonce(sequence: Uint8Array): Uint8Array {
    const nonce = Uint8Array.from(this.fixedIv);
    for (let i = 0; i < 8; i++) nonce[4 + i]! ^= sequence[i]!;
    return nonce;
  }

  private aad(sequence: Uint8Array, type: number, length: number): Uint8Array {
    return concatBytes(sequence, Uint8Array.of(type, 0x03, 0x03, length >> 8, length & 0xff));
  }

  /** The record body for `content`: [explicit nonce ‖] ciphertext ‖ tag; the record keeps its type. */
  seal(type: number, content: Uint8Array): { type: number; body: Uint8Array } {
    return { type, body: this.sealBody(type, content) };
  }

  open(outerType: number, body: Uint8Array): { content: Uint8Array; type: number } {
    return { content: this.openBody(outerType, body), type: outerType };
  }

  private sealBody(type: number, content: Uint8Array): Uint8Array {
    const sequence = this.nextSequence();
    const chacha = this.suite.aead === 'chacha20-poly1305';
    const nonce = chacha ? this.chachaNonce(sequence) : concatBytes(this.fixedIv, sequence);
    const cipher = createCipheriv(this.algorithm() as 'aes-128-gcm', this.key, nonce, {
      authTagLength: this.suite.tagLength,
    }) as unknown as AeadCipher;
    cipher.setAAD(this.aad(sequence, type, content.length), { plaintextLength: content.length });
    const body = Buffer.concat([cipher.update(content), cipher.final(), cipher.getAuthTag()]);
    return chacha ? new Uint8Array(body) : concatBytes(sequence, body);
  }

  private openBody(type: number, record: Uint8Array): Uint8Array {
    const chacha = this.suite.aead === 'chacha20-poly1305';
    const explicit = chacha ? 0 : 8;
    const tag = this.suite.tagLength;
    if (record.length < explicit + tag) tlsFail('bad_record_mac', 'record too short to be protected');
    const sequence = this.nextSequence();
    const nonce = chacha ? this.chachaNonce(sequence) : concatBytes(this.fixedIv, record.subarray(0, 8));
    const ciphertext = record.subarray(explicit, record.length - tag);
    const decipher = createDecipheriv(this.algorithm() as 'aes-128-gcm', this.key, nonce, {
      authTagLength: tag,
    }) as unknown as AeadDecipher;
    decipher.setAuthTag(record.subarray(record.length - tag));
    decipher.setAAD(this.aad(sequence, type, ciphertext.length), { plaintextLength: ciphertext.length });
    try {
      return new Uint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
    } catch {
      return tlsFail('bad_record_mac', 'record authentication failed');
    }
  }
}
