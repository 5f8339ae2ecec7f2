// SCP80 algorithms (ETSI TS 102 225 §5.1.1–§5.1.2): the KIc/KID coding, CBC
// ciphering with a zero ICV, the cryptographic checksum (DES/3DES CBC-MAC over 00-padding, AES-CMAC
// truncated to 8 bytes) and the redundancy checks (CRC-16/X.25, CRC-32).
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { concatBytes, FormatError } from '../bytes.js';
import { aesCbcDecrypt, aesCbcEncrypt, aesCmac } from '../crypto/aes.js';

export type CipherAlgorithm = 'des-cbc' | '3des-2key' | '3des-3key' | 'des-ecb' | 'aes-cbc';
export type ChecksumAlgorithm = 'des-mac' | '3des-2key-mac' | '3des-3key-mac' | 'aes-cmac';
export type RedundancyAlgorithm = 'crc16' | 'crc32';

/** Thrown for an algorithm the coding names but this stack does not run (implicit, proprietary, DS). */
export class OtaUnsupportedError extends Error {
  override name = 'OtaUnsupportedError';
}

// b2b1 = 01 DES (b4b3: 00 CBC, 01 3DES-2K, 10 3DES-3K, 11 DES-ECB), 10 AES, 00 implicit, 11 proprietary.
export function cipherAlgorithm(kic: number): CipherAlgorithm {
  const family = kic & 0x03;
  if (family === 0x02) return 'aes-cbc';
  if (family === 0x01) return (['des-cbc', '3des-2key', '3des-3key', 'des-ecb'] as const)[(kic >> 2) & 0x03]!;
  throw new OtaUnsupportedError(`KIc ${hex2(kic)}: ${family === 0 ? 'implicit' : 'proprietary'} algorithm`);
}

export function checksumAlgorithm(kid: number): ChecksumAlgorithm {
  const family = kid & 0x03;
  if (family === 0x02) return 'aes-cmac';
  if (family === 0x01) {
    const des = (kid >> 2) & 0x03;
    if (des === 0x03) throw new OtaUnsupportedError(`KID ${hex2(kid)}: reserved DES mode for a CC`);
    return (['des-mac', '3des-2key-mac', '3des-3key-mac'] as const)[des]!;
  }
  throw new OtaUnsupportedError(`KID ${hex2(kid)}: ${family === 0 ? 'implicit' : 'proprietary'} algorithm`);
}

export function redundancyAlgorithm(kid: number): RedundancyAlgorithm {
  if ((kid & 0x0f) === 0x01) return 'crc16';
  if ((kid & 0x0f) === 0x05) return 'crc32';
  throw new OtaUnsupportedError(`KID ${hex2(kid)}: not a CRC16 or CRC32 redundancy check`);
}

export const cipherBlockSize = (algorithm: CipherAlgorithm): number => (algorithm === 'aes-cbc' ? 16 : 8);

function desCipherName(
  algorithm: CipherAlgorithm | ChecksumAlgorithm,
  key: Uint8Array,
): [string, Uint8Array] {
  const expected = algorithm.startsWith('des') ? 8 : algorithm.startsWith('3des-2key') ? 16 : 24;
  if (key.length !== expected && !(expected === 8 && key.length === 16))
    throw new FormatError(`a ${algorithm} key is ${expected} bytes, not ${key.length}`);
  // Single DES runs as EDE3 with K‖K‖K: OpenSSL 3 keeps plain DES in the legacy provider.
  if (expected === 8) {
    const k = key.subarray(0, 8);
    return ['des-ede3', concatBytes(k, k, k)];
  }
  return [expected === 16 ? 'des-ede' : 'des-ede3', key];
}

function desRun(
  decrypt: boolean,
  algorithm: CipherAlgorithm | ChecksumAlgorithm,
  key: Uint8Array,
  data: Uint8Array,
) {
  if (data.length % 8 !== 0) throw new FormatError('DES input is not a whole number of 8-byte blocks');
  const [name, k] = desCipherName(algorithm, key);
  const ecb = algorithm === 'des-ecb';
  const make = decrypt ? createDecipheriv : createCipheriv;
  const c = make(`${name}-${ecb ? 'ecb' : 'cbc'}`, k, ecb ? null : new Uint8Array(8)).setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

/** Ciphers whole blocks with a zero ICV (TS 102 225 §5.1.1). */
export function otaEncrypt(algorithm: CipherAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array {
  return algorithm === 'aes-cbc'
    ? aesCbcEncrypt(key, new Uint8Array(16), data)
    : desRun(false, algorithm, key, data);
}

export function otaDecrypt(algorithm: CipherAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array {
  return algorithm === 'aes-cbc'
    ? aesCbcDecrypt(key, new Uint8Array(16), data)
    : desRun(true, algorithm, key, data);
}

/** The 8-byte CC: DES/3DES CBC-MAC over the input 00-padded to 8, or the leftmost 8 bytes of AES-CMAC. */
export function cryptographicChecksum(
  algorithm: ChecksumAlgorithm,
  key: Uint8Array,
  input: Uint8Array,
): Uint8Array {
  if (algorithm === 'aes-cmac') return aesCmac(key, input).subarray(0, 8);
  const padded = new Uint8Array(Math.ceil(input.length / 8) * 8 || 8);
  padded.set(input);
  return desRun(false, algorithm, key, padded).subarray(-8);
}

const CRC16_TABLE = crcTable(0x8408);
const CRC32_TABLE = crcTable(0xedb88320);

function crcTable(poly: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC-16/X.25 (reflected 0x1021, init and xorout FFFF), big-endian: "123456789" → 906E. */
export function crc16(data: Uint8Array): Uint8Array {
  let crc = 0xffff;
  for (const b of data) crc = (crc >>> 8) ^ CRC16_TABLE[(crc ^ b) & 0xff]!;
  crc = ~crc & 0xffff;
  return Uint8Array.of(crc >> 8, crc & 0xff);
}

/** CRC-32 (ISO 3309, as zlib), big-endian: "123456789" → CBF43926. */
export function crc32(data: Uint8Array): Uint8Array {
  let crc = 0xffffffff;
  for (const b of data) crc = (crc >>> 8) ^ CRC32_TABLE[(crc ^ b) & 0xff]!;
  crc = ~crc >>> 0;
  return Uint8Array.of(crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff);
}

const hex2 = (b: number) => b.toString(16).padStart(2, '0').toUpperCase();
