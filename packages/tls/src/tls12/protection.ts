// TLS 1.2 AEAD record protection (RFC 5246 §6.2.3.3): GCM and CCM carry an 8-byte explicit nonce
// (the sequence number) after a 4-byte implicit salt (RFC 5288 §3, RFC 6655 §3); ChaCha20-Poly1305
// XORs the sequence number into a 12-byte IV (RFC 7905 §2). AAD = seq ‖ type ‖ version ‖ length, where
// seq is what the record context says (DTLS 1.2 puts epoch ‖ seq48 there, RFC 6347 §4.1.2.1).
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { tlsFail } from '../errors.js';
import {
  NonceMaker,
  type RecordCipher,
  type RecordContext,
  recordPseudoHeader,
} from '../record/protection.js';
import type { Suite12 } from './suites.js';

type AeadCipher = ReturnType<typeof createCipheriv> & {
  setAAD(aad: Uint8Array, options?: { plaintextLength: number }): unknown;
  getAuthTag(): Buffer;
};
type AeadDecipher = ReturnType<typeof createDecipheriv> & {
  setAAD(aad: Uint8Array, options?: { plaintextLength: number }): unknown;
  setAuthTag(tag: Uint8Array): unknown;
};

export class Tls12RecordCipher implements RecordCipher {
  private readonly algorithm: string;
  private readonly chacha: boolean;
  private readonly explicitNonceLength: number;
  /** A KeyObject: node:crypto starts a cipher from one about 1 µs sooner than from raw key bytes. */
  private readonly key: KeyObject;
  private readonly chachaNonces?: NonceMaker;

  constructor(
    private readonly suite: Suite12,
    key: Uint8Array,
    private readonly fixedIv: Uint8Array,
  ) {
    const aead = suite.aead ?? tlsFail('internal_error', `${suite.name} is not an AEAD suite`);
    this.algorithm = aead === 'aes-128-ccm8' ? 'aes-128-ccm' : aead;
    this.chacha = aead === 'chacha20-poly1305';
    this.explicitNonceLength = this.chacha ? 0 : 8;
    this.key = createSecretKey(key);
    if (this.chacha) this.chachaNonces = new NonceMaker(fixedIv);
  }

  outerType(type: number): number {
    return type;
  }

  sealedLength(plaintextLength: number): number {
    return this.explicitNonceLength + plaintextLength + this.suite.tagLength;
  }

  private nonce(sequence: bigint, explicit?: Uint8Array): Buffer {
    if (this.chachaNonces) return this.chachaNonces.nonce(sequence);
    const nonce = Buffer.allocUnsafe(12);
    nonce.set(this.fixedIv, 0);
    if (explicit) nonce.set(explicit, 4);
    else nonce.writeBigUInt64BE(sequence, 4);
    return nonce;
  }

  sealInto(record: RecordContext, type: number, content: Uint8Array, out: Buffer, offset: number): void {
    const nonce = this.nonce(record.sequence);
    const cipher = createCipheriv(this.algorithm as 'aes-128-gcm', this.key, nonce, {
      authTagLength: this.suite.tagLength,
    }) as unknown as AeadCipher;
    cipher.setAAD(record.aad ?? recordPseudoHeader(record.sequence, type, record.version, content.length), {
      plaintextLength: content.length,
    });
    // GCM and CCM carry the sequence number as the explicit nonce (RFC 5288 §3, RFC 6655 §3).
    if (!this.chacha) nonce.copy(out, offset, 4);
    const at = offset + this.explicitNonceLength;
    cipher.update(content).copy(out, at);
    cipher.final();
    cipher.getAuthTag().copy(out, at + content.length);
  }

  open(record: RecordContext, outerType: number, body: Uint8Array): { type: number; content: Uint8Array } {
    const explicit = this.explicitNonceLength;
    const tag = this.suite.tagLength;
    if (body.length < explicit + tag) tlsFail('bad_record_mac', 'record too short to be protected');
    const nonce = this.nonce(record.sequence, explicit ? body.subarray(0, explicit) : undefined);
    const ciphertext = body.subarray(explicit, body.length - tag);
    const decipher = createDecipheriv(this.algorithm as 'aes-128-gcm', this.key, nonce, {
      authTagLength: tag,
    }) as unknown as AeadDecipher;
    decipher.setAuthTag(body.subarray(body.length - tag));
    decipher.setAAD(
      record.aad ?? recordPseudoHeader(record.sequence, outerType, record.version, ciphertext.length),
      {
        plaintextLength: ciphertext.length,
      },
    );
    let content: Buffer;
    try {
      content = decipher.update(ciphertext);
      decipher.final();
    } catch {
      return tlsFail('bad_record_mac', 'record authentication failed');
    }
    return { type: outerType, content };
  }
}
