// TLS 1.2 AEAD record protection (RFC 5246 §6.2.3.3): GCM and CCM carry an 8-byte explicit nonce
// (the sequence number) after a 4-byte implicit salt (RFC 5288 §3, RFC 6655 §3); ChaCha20-Poly1305
// XORs the sequence number into a 12-byte IV (RFC 7905 §2). AAD = seq ‖ type ‖ version ‖ length, where
// seq is what the record context says (DTLS 1.2 puts epoch ‖ seq48 there, RFC 6347 §4.1.2.1).
import { tlsFail } from '../errors.js';
import { AeadKey, NO_TRAILER } from '../record/aead.js';
import {
  NonceMaker,
  type RecordCipher,
  type RecordContext,
  recordPseudoHeader,
} from '../record/protection.js';
import type { Suite12 } from './suites.js';

export class Tls12RecordCipher implements RecordCipher {
  private readonly chacha: boolean;
  private readonly explicitNonceLength: number;
  private readonly aead: AeadKey;
  private readonly chachaNonces?: NonceMaker;

  constructor(
    private readonly suite: Suite12,
    key: Uint8Array,
    private readonly fixedIv: Uint8Array,
  ) {
    const aead = suite.aead ?? tlsFail('internal_error', `${suite.name} is not an AEAD suite`);
    this.chacha = aead === 'chacha20-poly1305';
    this.explicitNonceLength = this.chacha ? 0 : 8;
    this.aead = new AeadKey(aead === 'aes-128-ccm8' ? 'aes-128-ccm' : aead, key, suite.tagLength);
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
    const aad = record.aad ?? recordPseudoHeader(record.sequence, type, record.version, content.length);
    // GCM and CCM carry the sequence number as the explicit nonce (RFC 5288 §3, RFC 6655 §3).
    if (!this.chacha) nonce.copy(out, offset, 4);
    this.aead.sealInto(nonce, aad, content, NO_TRAILER, out, offset + this.explicitNonceLength);
  }

  open(record: RecordContext, outerType: number, body: Uint8Array): { type: number; content: Uint8Array } {
    const explicit = this.explicitNonceLength;
    const tag = this.suite.tagLength;
    if (body.length < explicit + tag) tlsFail('bad_record_mac', 'record too short to be protected');
    const nonce = this.nonce(record.sequence, explicit ? body.subarray(0, explicit) : undefined);
    const sealed = body.subarray(explicit);
    const aad =
      record.aad ?? recordPseudoHeader(record.sequence, outerType, record.version, sealed.length - tag);
    const content =
      this.aead.open(nonce, aad, sealed) ?? tlsFail('bad_record_mac', 'record authentication failed');
    return { type: outerType, content };
  }
}
