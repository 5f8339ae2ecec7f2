// The TLS 1.3 cipher suites (RFC 8446 §B.4): hash, key length and the AEAD on node:crypto.
import type { HashAlgorithm } from '@iotsafe/protocol';
import { CIPHER_SUITE } from './constants.js';

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
