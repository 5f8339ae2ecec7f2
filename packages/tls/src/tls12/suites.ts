// TLS 1.2 cipher suites this client speaks: ECDHE-ECDSA and ECDHE-RSA (RFC 8422, RFC 5289, RFC 7905), PSK
// (RFC 4279 with RFC 5487 GCM, RFC 6655 CCM, RFC 7905 ChaCha20), and ECDHE-PSK (RFC 5489 with RFC 8442
// GCM/CCM, RFC 7905 ChaCha20). Only AEAD suites: no CBC, no RSA key exchange.
import type { HashAlgorithm } from '@iotsafe/protocol';

export type KeyExchange12 = 'ecdhe_ecdsa' | 'ecdhe_rsa' | 'psk' | 'ecdhe_psk';
export type Aead12 = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305' | 'aes-128-ccm' | 'aes-128-ccm8';

export interface Suite12 {
  code: number;
  name: string;
  keyExchange: KeyExchange12;
  aead: Aead12;
  /** PRF hash (RFC 5246 §5; SHA-384 for the _SHA384 suites). */
  hash: HashAlgorithm;
  keyLength: number;
  /** Implicit IV from the key block: 4 bytes (GCM/CCM salt) or 12 (ChaCha20, RFC 7905). */
  fixedIvLength: number;
  tagLength: number;
  /** The name OpenSSL gives it (openssl ciphers -V). */
  opensslName: string;
}

const s = (
  code: number,
  name: string,
  opensslName: string,
  keyExchange: KeyExchange12,
  aead: Aead12,
  hash: HashAlgorithm = 'sha256',
): Suite12 => ({
  code,
  name,
  opensslName,
  keyExchange,
  aead,
  hash,
  keyLength: aead === 'aes-128-gcm' || aead === 'aes-128-ccm' || aead === 'aes-128-ccm8' ? 16 : 32,
  fixedIvLength: aead === 'chacha20-poly1305' ? 12 : 4,
  tagLength: aead === 'aes-128-ccm8' ? 8 : 16,
});

export const SUITES_12: readonly Suite12[] = [
  s(
    0xc02b,
    'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ecdhe_ecdsa',
    'aes-128-gcm',
  ),
  s(0xc0ae, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8', 'ECDHE-ECDSA-AES128-CCM8', 'ecdhe_ecdsa', 'aes-128-ccm8'),
  s(0xc0ac, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM', 'ECDHE-ECDSA-AES128-CCM', 'ecdhe_ecdsa', 'aes-128-ccm'),
  s(
    0xc02c,
    'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ecdhe_ecdsa',
    'aes-256-gcm',
    'sha384',
  ),
  s(
    0xcca9,
    'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ecdhe_ecdsa',
    'chacha20-poly1305',
  ),
  s(
    0xc02f,
    'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ecdhe_rsa',
    'aes-128-gcm',
  ),
  s(
    0xc030,
    'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ecdhe_rsa',
    'aes-256-gcm',
    'sha384',
  ),
  s(
    0xcca8,
    'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
    'ECDHE-RSA-CHACHA20-POLY1305',
    'ecdhe_rsa',
    'chacha20-poly1305',
  ),
  s(
    0xd001,
    'TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256',
    'ECDHE-PSK-AES128-GCM-SHA256',
    'ecdhe_psk',
    'aes-128-gcm',
  ),
  s(
    0xd005,
    'TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256',
    'ECDHE-PSK-AES128-CCM-SHA256',
    'ecdhe_psk',
    'aes-128-ccm',
  ),
  s(
    0xd003,
    'TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256',
    'ECDHE-PSK-AES128-CCM8-SHA256',
    'ecdhe_psk',
    'aes-128-ccm8',
  ),
  s(
    0xccac,
    'TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256',
    'ECDHE-PSK-CHACHA20-POLY1305',
    'ecdhe_psk',
    'chacha20-poly1305',
  ),
  s(0x00a8, 'TLS_PSK_WITH_AES_128_GCM_SHA256', 'PSK-AES128-GCM-SHA256', 'psk', 'aes-128-gcm'),
  s(0x00a9, 'TLS_PSK_WITH_AES_256_GCM_SHA384', 'PSK-AES256-GCM-SHA384', 'psk', 'aes-256-gcm', 'sha384'),
  s(0xc0a4, 'TLS_PSK_WITH_AES_128_CCM', 'PSK-AES128-CCM', 'psk', 'aes-128-ccm'),
  s(0xc0a8, 'TLS_PSK_WITH_AES_128_CCM_8', 'PSK-AES128-CCM8', 'psk', 'aes-128-ccm8'),
  s(0xccab, 'TLS_PSK_WITH_CHACHA20_POLY1305_SHA256', 'PSK-CHACHA20-POLY1305', 'psk', 'chacha20-poly1305'),
];

export function suite12ByCode(code: number): Suite12 | undefined {
  return SUITES_12.find((x) => x.code === code);
}

/** A TLS 1.2 suite by its IANA name or its OpenSSL name. */
export function suite12ByName(name: string): Suite12 | undefined {
  return SUITES_12.find((x) => x.name === name || x.opensslName === name);
}
