// The TLS 1.3 cipher suites' AEADs on node:crypto, and record protection (RFC 8446 §5.2–§5.3).
import { type CipherGCM, createCipheriv, createDecipheriv, type DecipherGCM } from 'node:crypto';
import type { HashAlgorithm } from '@iotsafe/protocol';
import { CIPHER_SUITE, CONTENT_TYPE } from './constants.js';
import { tlsFail } from './errors.js';

export interface CipherSuiteInfo {
  code: number;
  name: string;
  hash: HashAlgorithm;
  keyLength: number;
  cipher: 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';
}

export const CIPHER_SUITES: readonly CipherSuiteInfo[] = [
  {
    code: CIPHER_SUITE.TLS_AES_128_GCM_SHA256,
    name: 'TLS_AES_128_GCM_SHA256',
    hash: 'sha256',
    keyLength: 16,
    cipher: 'aes-128-gcm',
  },
  {
    code: CIPHER_SUITE.TLS_AES_256_GCM_SHA384,
    name: 'TLS_AES_256_GCM_SHA384',
    hash: 'sha384',
    keyLength: 32,
    cipher: 'aes-256-gcm',
  },
  {
    code: CIPHER_SUITE.TLS_CHACHA20_POLY1305_SHA256,
    name: 'TLS_CHACHA20_POLY1305_SHA256',
    hash: 'sha256',
    keyLength: 32,
    cipher: 'chacha20-poly1305',
  },
];

export function suiteByCode(code: number): CipherSuiteInfo | undefined {
  return CIPHER_SUITES.find((s) => s.code === code);
}

const TAG_LENGTH = 16;

/** One direction of record protection, whatever the version: what the record layer calls. */
export interface RecordProtector {
  open(outerType: number, body: Uint8Array, header: Uint8Array): { content: Uint8Array; type: number };
  seal(type: number, content: Uint8Array): { type: number; body: Uint8Array };
}

/** One direction of TLS 1.3 record protection: key, IV and the 64-bit sequence number (§5.3). */
export class RecordProtection implements RecordProtector {
  private sequence = 0n;

  constructor(
    private readonly suite: CipherSuiteInfo,
    private readonly key: Uint8Array,
    private readonly iv: Uint8Array,
  ) {}

  private nonce(): Uint8Array {
    const nonce = Uint8Array.from(this.iv);
    let seq = this.sequence;
    for (let i = 11; i >= 4; i--) {
      nonce[i]! ^= Number(seq & 0xffn);
      seq >>= 8n;
    }
    if (this.sequence >= 0xffffffffffffffffn) tlsFail('internal_error', 'sequence number exhausted');
    this.sequence++;
    return nonce;
  }

  /** TLS 1.3 records travel as application_data; the real type is inside (§5.2). */
  seal(type: number, content: Uint8Array): { type: number; body: Uint8Array } {
    const length = content.length + 1 + TAG_LENGTH;
    const aad = Uint8Array.of(CONTENT_TYPE.APPLICATION_DATA, 0x03, 0x03, length >> 8, length & 0xff);
    // The GCM typing stands for ChaCha20-Poly1305 too: both take a 12-byte nonce, AAD and a 16-byte tag.
    const cipher = createCipheriv(this.suite.cipher as 'aes-128-gcm', this.key, this.nonce(), {
      authTagLength: TAG_LENGTH,
    }) as CipherGCM;
    cipher.setAAD(aad);
    const body = cipher.update(content);
    const last = cipher.update(Uint8Array.of(type));
    cipher.final();
    return {
      type: CONTENT_TYPE.APPLICATION_DATA,
      body: Buffer.concat([body, last, cipher.getAuthTag()], length),
    };
  }

  /** Decrypts a record body; returns the content and its real type (padding removed). */
  open(outerType: number, body: Uint8Array, aad: Uint8Array): { content: Uint8Array; type: number } {
    if (outerType !== CONTENT_TYPE.APPLICATION_DATA)
      tlsFail('unexpected_message', 'unprotected record after the handshake keys');
    if (body.length < TAG_LENGTH + 1) tlsFail('bad_record_mac', 'record too short to be protected');
    const decipher = createDecipheriv(this.suite.cipher as 'aes-128-gcm', this.key, this.nonce(), {
      authTagLength: TAG_LENGTH,
    }) as DecipherGCM;
    decipher.setAAD(aad);
    decipher.setAuthTag(body.subarray(body.length - TAG_LENGTH));
    let inner: Buffer;
    try {
      inner = Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_LENGTH)), decipher.final()]);
    } catch {
      return tlsFail('bad_record_mac', 'record authentication failed');
    }
    let end = inner.length - 1;
    while (end >= 0 && inner[end] === 0) end--;
    if (end < 0) tlsFail('unexpected_message', 'protected record without a content type');
    return { content: new Uint8Array(inner.subarray(0, end)), type: inner[end]! };
  }
}
