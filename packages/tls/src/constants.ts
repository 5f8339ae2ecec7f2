// TLS 1.3 code points (RFC 8446 §4, §5, §6; IANA TLS registries).

export const CONTENT_TYPE = {
  CHANGE_CIPHER_SPEC: 20,
  ALERT: 21,
  HANDSHAKE: 22,
  APPLICATION_DATA: 23,
} as const;

export const HANDSHAKE_TYPE = {
  HELLO_REQUEST: 0,
  CLIENT_HELLO: 1,
  SERVER_HELLO: 2,
  HELLO_VERIFY_REQUEST: 3, // DTLS only (RFC 6347 §4.2.1)
  NEW_SESSION_TICKET: 4,
  END_OF_EARLY_DATA: 5,
  ENCRYPTED_EXTENSIONS: 8,
  CERTIFICATE: 11,
  SERVER_KEY_EXCHANGE: 12,
  CERTIFICATE_REQUEST: 13,
  SERVER_HELLO_DONE: 14,
  CERTIFICATE_VERIFY: 15,
  CLIENT_KEY_EXCHANGE: 16,
  FINISHED: 20,
  KEY_UPDATE: 24,
  MESSAGE_HASH: 254,
} as const;

export const EXTENSION = {
  SERVER_NAME: 0,
  SUPPORTED_GROUPS: 10,
  EC_POINT_FORMATS: 11, // RFC 8422 §5.1.2
  SIGNATURE_ALGORITHMS: 13,
  ALPN: 16,
  EXTENDED_MASTER_SECRET: 23, // RFC 7627
  PRE_SHARED_KEY: 41,
  EARLY_DATA: 42,
  SUPPORTED_VERSIONS: 43,
  COOKIE: 44,
  PSK_KEY_EXCHANGE_MODES: 45,
  CERTIFICATE_AUTHORITIES: 47,
  SIGNATURE_ALGORITHMS_CERT: 50,
  KEY_SHARE: 51,
  CONNECTION_ID: 54, // RFC 9146 (DTLS 1.2; the drafts' 53 is obsolete)
  RENEGOTIATION_INFO: 0xff01, // RFC 5746
} as const;

export const CIPHER_SUITE = {
  TLS_AES_128_GCM_SHA256: 0x1301,
  TLS_AES_256_GCM_SHA384: 0x1302,
  TLS_CHACHA20_POLY1305_SHA256: 0x1303,
} as const;

export type NamedGroup = 'secp256r1' | 'secp384r1' | 'secp521r1' | 'x25519' | 'brainpoolP256r1';
export const GROUP_CODE: Record<NamedGroup, number> = {
  secp256r1: 0x0017,
  secp384r1: 0x0018,
  secp521r1: 0x0019,
  x25519: 0x001d,
  brainpoolP256r1: 0x001a, // RFC 7027, TLS 1.2 only: TLS 1.3 gave brainpool new codes (RFC 8734)
};

/** The group a code names, if this library knows it. */
export function groupByCode(code: number): NamedGroup | undefined {
  return (Object.keys(GROUP_CODE) as NamedGroup[]).find((g) => GROUP_CODE[g] === code);
}
/** Groups that TLS 1.3 does not use (never a key share, never granted to a HelloRetryRequest). */
export const TLS12_ONLY_GROUPS: readonly NamedGroup[] = ['brainpoolP256r1'];

export const SIGNATURE_SCHEME = {
  ecdsa_secp256r1_sha256: 0x0403,
  ecdsa_secp384r1_sha384: 0x0503,
  ecdsa_secp521r1_sha512: 0x0603,
  ecdsa_brainpoolP256r1tls13_sha256: 0x081a,
  rsa_pss_rsae_sha256: 0x0804,
  rsa_pss_rsae_sha384: 0x0805,
  rsa_pss_rsae_sha512: 0x0806,
  ed25519: 0x0807,
  rsa_pss_pss_sha256: 0x0809,
  rsa_pkcs1_sha256: 0x0401,
  rsa_pkcs1_sha384: 0x0501,
  rsa_pkcs1_sha512: 0x0601,
} as const;

/** Names of the signature schemes (IANA TLS SignatureScheme registry), for messages. */
const SCHEME_NAMES: Record<number, string> = {
  ...Object.fromEntries(Object.entries(SIGNATURE_SCHEME).map(([name, code]) => [code, name])),
  513: 'rsa_pkcs1_sha1',
  515: 'ecdsa_sha1',
  2056: 'ed448',
  2058: 'rsa_pss_pss_sha384',
  2059: 'rsa_pss_pss_sha512',
  2075: 'ecdsa_brainpoolP384r1tls13_sha384',
  2076: 'ecdsa_brainpoolP512r1tls13_sha512',
};

/** A scheme's IANA name, or its code in hex. In TLS 1.2, 0x0503 is (sha384, ecdsa) on any curve. */
export function schemeName(code: number): string {
  return SCHEME_NAMES[code] ?? `0x${code.toString(16).padStart(4, '0')}`;
}

/** ClientCertificateType of a TLS 1.2 CertificateRequest (RFC 5246 §7.4.4, RFC 8422 §5.5). */
export const CLIENT_CERTIFICATE_TYPE = { rsa_sign: 1, ecdsa_sign: 64 } as const;

export const TLS13 = 0x0304;
export const TLS12 = 0x0303;

/** ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest") (RFC 8446 §4.1.3). */
export const HELLO_RETRY_REQUEST_RANDOM = Buffer.from(
  'CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C',
  'hex',
);
/** Last 8 bytes of ServerHello.random when a TLS 1.3 server negotiates 1.2 or below (§4.1.3). */
export const DOWNGRADE_TLS12 = Buffer.from('444F574E47524401', 'hex');
export const DOWNGRADE_TLS11 = Buffer.from('444F574E47524400', 'hex');

/** Alert descriptions by their RFC names (RFC 8446 §6, RFC 5246 §7.2; the reserved ones kept for reading). */
export const ALERT = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  decryption_failed: 21,
  record_overflow: 22,
  decompression_failure: 30,
  handshake_failure: 40,
  no_certificate: 41,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  export_restriction: 60,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  inappropriate_fallback: 86,
  user_canceled: 90,
  no_renegotiation: 100,
  missing_extension: 109,
  unsupported_extension: 110,
  certificate_unobtainable: 111,
  unrecognized_name: 112,
  bad_certificate_status_response: 113,
  bad_certificate_hash_value: 114,
  unknown_psk_identity: 115,
  certificate_required: 116,
  no_application_protocol: 120,
} as const;

export type AlertName = keyof typeof ALERT;

/** The RFC name of an alert code (`unknown_ca`), or `alert N` for a code no RFC of ours names. */
export function alertName(code: number): string {
  return Object.entries(ALERT).find(([, v]) => v === code)?.[0] ?? `alert ${code}`;
}

/** "an unknown_ca alert", "a handshake_failure alert": the name as the RFC writes it, with its article. */
export function describeAlert(code: number): string {
  if (!Object.values(ALERT).includes(code as 0)) return `an alert of unknown code ${code}`;
  const name = alertName(code);
  const article = /^[aeio]|^u(?!se)/.test(name) ? 'an' : 'a';
  return `${article} ${name} alert`;
}

/** Largest TLSPlaintext fragment (2^14) and TLSCiphertext (2^14 + 256), §5.1–§5.2. */
export const MAX_PLAINTEXT = 16384;
export const MAX_CIPHERTEXT = 16384 + 256;
