// TLS 1.2 cipher suites this client speaks: ECDHE-ECDSA and ECDHE-RSA (RFC 8422, RFC 5289, RFC 7905), PSK
// (RFC 4279 with RFC 5487 GCM, RFC 6655 CCM, RFC 7905 ChaCha20), and ECDHE-PSK (RFC 5489 with RFC 8442
// GCM/CCM, RFC 7905 ChaCha20); and the PSK suites of constrained clients such as a SIM's admin agent
// (RFC 4279 §2, RFC 5487 §3.2 and §4): MAC-then-encrypt CBC (AES, 3DES) and NULL (integrity only), which
// TLS 1.0 and 1.1 can negotiate too. No RSA key exchange.
import type { HashAlgorithm } from '@iotsafe/protocol';

export type KeyExchange12 = 'ecdhe_ecdsa' | 'ecdhe_rsa' | 'psk' | 'ecdhe_psk';
export type Aead12 = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305' | 'aes-128-ccm' | 'aes-128-ccm8';

/** A MAC-then-encrypt suite's record protection (RFC 5246 §6.2.3.1–§6.2.3.2). */
export interface MacThenEncrypt {
  /** The block cipher, or null for the NULL suites (the MAC alone, RFC 4785, RFC 5487 §4). */
  cipher: 'aes-128-cbc' | 'aes-256-cbc' | 'des-ede3-cbc' | null;
  mac: 'sha1' | 'sha256';
  macLength: number;
  /** The cipher's block: the IV length and the padding unit (0 for NULL). */
  blockLength: number;
}

export interface Suite12 {
  code: number;
  name: string;
  keyExchange: KeyExchange12;
  /** The AEAD of an AEAD suite (RFC 5246 §6.2.3.3); absent for a MAC-then-encrypt one. */
  aead?: Aead12;
  /**
   * The CBC or NULL protection of a MAC-then-encrypt suite. These are offered only when the caller's
   * cipherSuites names them (RFC 9325 §4.2 recommends AEAD; NULL has no confidentiality, 3DES 64-bit
   * blocks): they are for peers such as SIM cards that speak nothing else.
   */
  macThenEncrypt?: MacThenEncrypt;
  /** PRF hash (RFC 5246 §5; SHA-384 for the _SHA384 suites). */
  hash: HashAlgorithm;
  keyLength: number;
  /**
   * Implicit IV from the key block: 4 bytes (GCM/CCM salt) or 12 (ChaCha20, RFC 7905); for CBC the
   * TLS 1.0 initial IV (one block, RFC 2246 §6.3), which TLS 1.1 and 1.2 do not derive.
   */
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

/** A PSK suite with MAC-then-encrypt protection (RFC 4279 §2, RFC 5487 §3.2, §4). */
const psk = (
  code: number,
  name: string,
  opensslName: string,
  cipher: MacThenEncrypt['cipher'],
  mac: MacThenEncrypt['mac'],
): Suite12 => {
  const blockLength = cipher === null ? 0 : cipher === 'des-ede3-cbc' ? 8 : 16;
  return {
    code,
    name,
    opensslName,
    keyExchange: 'psk',
    macThenEncrypt: { cipher, mac, macLength: mac === 'sha1' ? 20 : 32, blockLength },
    // The TLS 1.2 PRF of every suite here is SHA-256 (RFC 5246 §5, RFC 5487 §3.2).
    hash: 'sha256',
    keyLength: cipher === null ? 0 : cipher === 'aes-128-cbc' ? 16 : cipher === 'des-ede3-cbc' ? 24 : 32,
    fixedIvLength: blockLength,
    tagLength: 0,
  };
};

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
  psk(0x00ae, 'TLS_PSK_WITH_AES_128_CBC_SHA256', 'PSK-AES128-CBC-SHA256', 'aes-128-cbc', 'sha256'),
  psk(0x008c, 'TLS_PSK_WITH_AES_128_CBC_SHA', 'PSK-AES128-CBC-SHA', 'aes-128-cbc', 'sha1'),
  psk(0x008d, 'TLS_PSK_WITH_AES_256_CBC_SHA', 'PSK-AES256-CBC-SHA', 'aes-256-cbc', 'sha1'),
  psk(0x008b, 'TLS_PSK_WITH_3DES_EDE_CBC_SHA', 'PSK-3DES-EDE-CBC-SHA', 'des-ede3-cbc', 'sha1'),
  psk(0x00b0, 'TLS_PSK_WITH_NULL_SHA256', 'PSK-NULL-SHA256', null, 'sha256'),
  psk(0x002c, 'TLS_PSK_WITH_NULL_SHA', 'PSK-NULL-SHA', null, 'sha1'),
];

export function suite12ByCode(code: number): Suite12 | undefined {
  return SUITES_12.find((x) => x.code === code);
}

/** A TLS 1.2 suite by its IANA name or its OpenSSL name. */
export function suite12ByName(name: string): Suite12 | undefined {
  return SUITES_12.find((x) => x.name === name || x.opensslName === name);
}
