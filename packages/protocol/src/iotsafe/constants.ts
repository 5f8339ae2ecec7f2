// IoT SAFE (GSMA IoT.05) constants: AIDs, INS codes and object attributes (docs/personalities.md
// names where real applets differ).
import type { HashAlgorithm } from '../crypto/hash.js';

/** Standard GSMA IoT SAFE applet AID (RID A000000559 = GSMA) [cross-confirmed]. */
export const IOTSAFE_AID = Uint8Array.of(0xa0, 0x00, 0x00, 0x05, 0x59, 0x00, 0x10);
/** Thales "MVP" applet AID (tail "ISA"). */
export const THALES_MVP_AID = Uint8Array.from([
  0xa0, 0x00, 0x00, 0x00, 0x30, 0x53, 0xf1, 0x24, 0x01, 0x77, 0x01, 0x01, 0x49, 0x53, 0x41,
]);
/** Early vendor AID (Orange partner applets, CIRA's Thales SIM). */
export const LEGACY_VENDOR_AID = Uint8Array.of(0xa0, 0x00, 0x00, 0x02, 0x48, 0x04, 0x00);
/** The order a client tries AIDs in when none is configured. */
export const DEFAULT_AIDS: readonly Uint8Array[] = [IOTSAFE_AID, THALES_MVP_AID, LEGACY_VENDOR_AID];

export const INS = {
  SELECT: 0xa4,
  MANAGE_CHANNEL: 0x70,
  GET_RESPONSE: 0xc0,
  GET_RANDOM: 0x84,
  GET_DATA: 0xcb,
  READ_FILE: 0xb0,
  GENERATE_KEY_PAIR: 0xb9,
  READ_PUBLIC_KEY: 0xcd,
  PUT_PUBLIC_KEY_INIT: 0x24,
  PUT_PUBLIC_KEY_UPDATE: 0xd8,
  COMPUTE_SIGNATURE_INIT: 0x2a,
  COMPUTE_SIGNATURE_UPDATE: 0x2b,
  VERIFY_SIGNATURE_INIT: 0x2c,
  VERIFY_SIGNATURE_UPDATE: 0x2d,
  COMPUTE_DH: 0x46,
  COMPUTE_PRF: 0x48,
  COMPUTE_HKDF: 0x4a,
} as const;

export const TAG = {
  FILE_ID: 0x83,
  PRIVATE_KEY_ID: 0x84,
  PUBLIC_KEY_ID: 0x85,
  SECRET_ID: 0x86,
  FILE_LABEL: 0x73,
  PRIVATE_KEY_LABEL: 0x74,
  PUBLIC_KEY_LABEL: 0x75,
  SECRET_LABEL: 0x76,
  PRIVATE_KEY_INFO: 0xc1,
  PUBLIC_KEY_INFO: 0xc2,
  FILE_INFO: 0xc3,
  SECRET_INFO: 0xc4,
  ACCESS_CONDITIONS: 0x60,
  OBJECT_STATE: 0x4a,
  KEY_TYPE: 0x4b,
  KEY_USAGE: 0x4e,
  FILE_USAGE: 0x21,
  FILE_SIZE: 0x20,
  CRYPTO_FUNCTIONS: 0x61,
  HASH_ALGORITHMS: 0x91,
  SIGNATURE_ALGORITHMS: 0x92,
  KEY_AGREEMENT: 0x6f,
  KDF_ALGORITHMS: 0x94,
  MODE: 0xa1,
  PUBLIC_KEY_DATA: 0x34,
  ECC_PUBLIC_KEY: 0x49,
  EC_POINT: 0x86,
  SIGNATURE: 0x33,
  DATA_FULL_TEXT: 0x9b,
  LAST_BLOCK: 0x9a,
  INTERMEDIATE_HASH: 0x9c,
  BYTES_HASHED: 0x9d,
  HASH_TO_SIGN: 0x9e,
  SECRET: 0xd1,
  LABEL_AND_SEED: 0xd2,
  OUTPUT_LENGTH: 0xd3,
  PREMASTER_OTHER_SECRET: 0xd4,
  SALT: 0xd5,
  // GET DATA P1=00 application information
  SIM_ALLIANCE_VERSION: 0x10,
  PROPRIETARY_ID: 0x11,
  MAX_FILES: 0xb1,
  MAX_PRIVATE_KEYS: 0xb2,
  MAX_PUBLIC_KEYS: 0xb3,
  MAX_SECRETS: 0xb4,
  APP_CRYPTO_FUNCTIONS: 0x90,
  APP_KEY_AGREEMENT: 0x93,
  MAX_SESSIONS: 0xb7,
} as const;

export type ObjectClass = 'privateKey' | 'publicKey' | 'file' | 'secret';
export const OBJECT_CLASSES: readonly ObjectClass[] = ['privateKey', 'publicKey', 'file', 'secret'];

export const ID_TAG: Record<ObjectClass, number> = {
  privateKey: 0x84,
  publicKey: 0x85,
  file: 0x83,
  secret: 0x86,
};
export const LABEL_TAG: Record<ObjectClass, number> = {
  privateKey: 0x74,
  publicKey: 0x75,
  file: 0x73,
  secret: 0x76,
};
export const INFO_TAG: Record<ObjectClass, number> = {
  privateKey: 0xc1,
  publicKey: 0xc2,
  file: 0xc3,
  secret: 0xc4,
};

export const MAX_ID_LENGTH = 20;
export const MAX_LABEL_LENGTH = 60;

/** Tag 4B key type (§4.2). */
export const KEY_TYPE = {
  RSA_2048: 0x03,
  P256_PERSISTENT: 0x13,
  P256_VOLATILE: 0x14,
  BRAINPOOL_PERSISTENT: 0x23,
  BRAINPOOL_VOLATILE: 0x24,
  HMAC: 0xa0,
} as const;

/** Tag 4E key specific usage. */
export const KEY_USAGE = {
  GENERAL: 0x01,
  TLS12_CERTIFICATE_VERIFY: 0x02,
  TLS13_CERTIFICATE_VERIFY: 0x03,
} as const;
/** Tag 21 file specific usage. */
export const FILE_USAGE = { GENERAL: 0x01, CERTIFICATE: 0x02 } as const;
/** Tag 60 access conditions (bitmask). */
export const ACCESS = { READ: 0x01, UPDATE: 0x02 } as const;
/** Tag 4A object state. */
export const STATE = { DEACTIVATED: 0x00, ACTIVATED: 0x01 } as const;
/** Tags 61 / 90 cryptographic functions (bitmask). */
export const FUNCTION = {
  SIGNATURE: 0x01,
  KEY_GENERATION: 0x02,
  KEY_AGREEMENT: 0x04,
  KEY_DERIVATION: 0x08,
} as const;
/** Tag 91 hash algorithms (2-byte bitmask). */
export const HASH = { SHA256: 0x0001, SHA384: 0x0002, SHA512: 0x0004 } as const;
/** Tag 92 signature algorithms. */
export const SIGNATURE_ALGORITHM = { RSA_PKCS1: 0x01, RSA_PSS: 0x02, ECDSA: 0x04, AES_CMAC: 0x08 } as const;
/** Tags 6F / 93 key agreement. */
export const KEY_AGREEMENT = { ECKA: 0x01 } as const;
/** Tag 94 key derivation. */
export const KDF = { PRF_SHA256: 0x01, HKDF: 0x02 } as const;
/** Tag A1 mode of operation for COMPUTE/VERIFY SIGNATURE. */
export const SIGN_MODE = { FULL_TEXT: 0x01, LAST_BLOCK: 0x02, PAD_AND_SIGN: 0x03 } as const;
export type SignMode = 'fullText' | 'lastBlock' | 'padAndSign';
export const SIGN_MODE_BY_NAME: Record<SignMode, number> = { fullText: 1, lastBlock: 2, padAndSign: 3 };

/** COMPUTE PRF modes in P1 (GSMA IoT.05, COMPUTE PRF). */
export const PRF_MODE = { GENERAL: 0x00, PSK: 0x01, ECDHE_PSK: 0x02 } as const;
/** COMPUTE HKDF modes in P1 (GSMA IoT.05, COMPUTE HKDF). */
export const HKDF_MODE = { IKM_IN_COMMAND: 0x00, SECRET_CONTAINER: 0x01 } as const;

export const HASH_BY_NAME: Record<HashAlgorithm, number> = { sha256: 0x0001, sha384: 0x0002, sha512: 0x0004 };
export function hashFromBits(bits: number): HashAlgorithm | undefined {
  return bits === 0x0001 ? 'sha256' : bits === 0x0002 ? 'sha384' : bits === 0x0004 ? 'sha512' : undefined;
}
