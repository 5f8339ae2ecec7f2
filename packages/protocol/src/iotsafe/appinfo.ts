// GET DATA P1=00: applet capabilities (GSMA IoT.05, GET DATA). The Thales MVP applet uses tags 61/6F
// where the spec table has 90/93; both are decoded.
import { concatBytes, FormatError, fromUtf8, readUintBe, u16be, utf8 } from '../bytes.js';
import { TAG } from './constants.js';
import { decodeIotTlvs, encodeIotTlv } from './tlv.js';

export interface ApplicationInfo {
  simAllianceVersion: number;
  /** Tag 11: a 32-byte applet identifier (ASCII text padded, on the cards seen). */
  proprietaryId: Uint8Array;
  maxFiles: number;
  maxPrivateKeys: number;
  maxPublicKeys: number;
  maxSecrets: number;
  cryptoFunctions: number;
  hashAlgorithms: number;
  signatureAlgorithms: number;
  keyAgreementAlgorithms: number;
  kdfAlgorithms: number;
  maxSessions: number;
}

export type AppInfoTagStyle = 'spec' | 'thalesMvp';

export function encodeApplicationInfo(info: ApplicationInfo, style: AppInfoTagStyle = 'spec'): Uint8Array {
  const byte = (tag: number, v: number) => Uint8Array.of(tag, 1, v);
  return concatBytes(
    byte(TAG.SIM_ALLIANCE_VERSION, info.simAllianceVersion),
    encodeIotTlv(TAG.PROPRIETARY_ID, info.proprietaryId),
    byte(TAG.MAX_FILES, info.maxFiles),
    byte(TAG.MAX_PRIVATE_KEYS, info.maxPrivateKeys),
    byte(TAG.MAX_PUBLIC_KEYS, info.maxPublicKeys),
    byte(TAG.MAX_SECRETS, info.maxSecrets),
    byte(style === 'spec' ? TAG.APP_CRYPTO_FUNCTIONS : TAG.CRYPTO_FUNCTIONS, info.cryptoFunctions),
    encodeIotTlv(TAG.HASH_ALGORITHMS, u16be(info.hashAlgorithms)),
    byte(TAG.SIGNATURE_ALGORITHMS, info.signatureAlgorithms),
    byte(style === 'spec' ? TAG.APP_KEY_AGREEMENT : TAG.KEY_AGREEMENT, info.keyAgreementAlgorithms),
    byte(TAG.KDF_ALGORITHMS, info.kdfAlgorithms),
    byte(TAG.MAX_SESSIONS, info.maxSessions),
  );
}

export function decodeApplicationInfo(data: Uint8Array): ApplicationInfo {
  const info: Partial<ApplicationInfo> = {};
  for (const { tag, value } of decodeIotTlvs(data)) {
    const n = () => readUintBe(value);
    switch (tag) {
      case TAG.SIM_ALLIANCE_VERSION:
        info.simAllianceVersion = n();
        break;
      case TAG.PROPRIETARY_ID:
        info.proprietaryId = value;
        break;
      case TAG.MAX_FILES:
        info.maxFiles = n();
        break;
      case TAG.MAX_PRIVATE_KEYS:
        info.maxPrivateKeys = n();
        break;
      case TAG.MAX_PUBLIC_KEYS:
        info.maxPublicKeys = n();
        break;
      case TAG.MAX_SECRETS:
        info.maxSecrets = n();
        break;
      case TAG.APP_CRYPTO_FUNCTIONS:
      case TAG.CRYPTO_FUNCTIONS:
        info.cryptoFunctions = n();
        break;
      case TAG.HASH_ALGORITHMS:
        info.hashAlgorithms = n();
        break;
      case TAG.SIGNATURE_ALGORITHMS:
        info.signatureAlgorithms = n();
        break;
      case TAG.APP_KEY_AGREEMENT:
      case TAG.KEY_AGREEMENT:
        info.keyAgreementAlgorithms = n();
        break;
      case TAG.KDF_ALGORITHMS:
        info.kdfAlgorithms = n();
        break;
      case TAG.MAX_SESSIONS:
        info.maxSessions = n();
        break;
    }
  }
  if (info.proprietaryId === undefined || info.maxSessions === undefined) {
    throw new FormatError('application information lacks the applet identifier or the session count');
  }
  return {
    simAllianceVersion: 0,
    maxFiles: 0,
    maxPrivateKeys: 0,
    maxPublicKeys: 0,
    maxSecrets: 0,
    cryptoFunctions: 0,
    hashAlgorithms: 0,
    signatureAlgorithms: 0,
    keyAgreementAlgorithms: 0,
    kdfAlgorithms: 0,
    ...info,
  } as ApplicationInfo;
}

/** The applet identifier as text, trailing padding removed. */
export function proprietaryIdText(id: Uint8Array): string {
  return fromUtf8(id).replace(/[\0 \xff]+$/u, '');
}

export function paddedIdentifier(text: string, length = 32): Uint8Array {
  const out = new Uint8Array(length).fill(0x20);
  out.set(utf8(text).subarray(0, length));
  return out;
}
