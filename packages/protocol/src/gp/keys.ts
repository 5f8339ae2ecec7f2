// GlobalPlatform key material: diversification of a master key with the card's key diversification
// data (KDF3: NIST SP 800-108 counter mode with AES-CMAC; EMV CPS 1.1; VISA2), PUT KEY key data blocks (Amd D §7.2, GPCS 11.8), and key loading by
// STORE DATA (GPCS 11.11.4). The DEK is the static Key-DEK; SCP03 has no session DEK.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { concatBytes, constantTimeEqual, FormatError } from '../bytes.js';
import { aesCbcDecrypt, aesCmac } from '../crypto/aes.js';
import { encodeDgi } from './dgi.js';
import { aesKcv, encryptKeyWithDek } from './scp03-crypto.js';

export type KeyUse = 'enc' | 'mac' | 'dek';
const KEY_TYPE_BYTE: Record<KeyUse, number> = { enc: 0x01, mac: 0x02, dek: 0x03 };

export type Diversification = 'none' | 'kdf3' | 'emv' | 'visa2';

/** DES-EDE in ECB mode with a 2- or 3-key 3DES key, or a single DES key as K1 = K2 = K3. */
function tripleDesEcb(key: Uint8Array, data: Uint8Array, decrypt = false): Uint8Array {
  const full = key.length === 8 ? concatBytes(key, key, key) : key;
  const algorithm = full.length === 16 ? 'des-ede-ecb' : 'des-ede3-ecb';
  const c = (decrypt ? createDecipheriv : createCipheriv)(algorithm, full, null).setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

/** The 3-byte KCV of a 3DES key: 3DES-ECB(key, 8 × 00). */
export function desKcv(key: Uint8Array): Uint8Array {
  return tripleDesEcb(key, new Uint8Array(8)).subarray(0, 3);
}

/**
 * A card key from a master key and the 10-byte KDD of INITIALIZE UPDATE:
 *  - kdf3 (SCP03): SP 800-108 counter mode with AES-CMAC, input i ‖ 00 00 00 ‖ kt ‖ 00 ‖ KDD;
 *  - emv (EMV CPS 1.1): 3DES(master, KDD[4..9] ‖ F0 ‖ kt ‖ KDD[4..9] ‖ 0F ‖ kt);
 *  - visa2: 3DES(master, KDD[0..1] ‖ KDD[4..7] ‖ F0 ‖ kt ‖ KDD[0..1] ‖ KDD[4..7] ‖ 0F ‖ kt).
 */
export function diversifyKey(
  method: Diversification,
  master: Uint8Array,
  kdd: Uint8Array,
  use: KeyUse,
): Uint8Array {
  if (method === 'none') return master;
  if (kdd.length !== 10) throw new FormatError('key diversification data is 10 bytes');
  const kt = KEY_TYPE_BYTE[use];
  if (method === 'kdf3') {
    const blocks: Uint8Array[] = [];
    for (let i = 1; blocks.length * 16 < master.length; i++) {
      blocks.push(aesCmac(master, concatBytes(Uint8Array.of(i, 0, 0, 0, kt, 0), kdd)));
    }
    return concatBytes(...blocks).subarray(0, master.length);
  }
  if (master.length !== 16) throw new FormatError(`${method} diversification takes a 16-byte master key`);
  const part = method === 'emv' ? kdd.subarray(4, 10) : concatBytes(kdd.subarray(0, 2), kdd.subarray(4, 8));
  return tripleDesEcb(master, concatBytes(part, Uint8Array.of(0xf0, kt), part, Uint8Array.of(0x0f, kt)));
}

// --- PUT KEY (Amd D Table 7-10) ---

export const AES_KEY_TYPE = 0x88;

/** One AES key data block: 88 ‖ L ‖ len ‖ DEK-encrypted key ‖ 03 ‖ KCV. */
export function encodeAesKeyData(dek: Uint8Array, key: Uint8Array): Uint8Array {
  const encrypted = encryptKeyWithDek(dek, key);
  return concatBytes(
    Uint8Array.of(AES_KEY_TYPE, 1 + encrypted.length, key.length),
    encrypted,
    Uint8Array.of(0x03),
    aesKcv(key),
  );
}

/** PUT KEY data for a whole key set: new KVN ‖ ENC ‖ MAC ‖ DEK blocks (P2 = 81: KIDs 1..3). */
export function encodePutKeySet(
  newKeyVersion: number,
  dek: Uint8Array,
  keys: { enc: Uint8Array; mac: Uint8Array; dek: Uint8Array },
): Uint8Array {
  return concatBytes(
    Uint8Array.of(newKeyVersion),
    encodeAesKeyData(dek, keys.enc),
    encodeAesKeyData(dek, keys.mac),
    encodeAesKeyData(dek, keys.dek),
  );
}

/** GP key types (GPCS Table 11-16) this stack loads: DES/3DES (SCP80), TLS-PSK (SCP81), AES (SCP03, SCP80). */
export const KEY_TYPE_DES = 0x80;
export const KEY_TYPE_TLS_PSK = 0x85;

export interface DecodedKey {
  type: number;
  key: Uint8Array;
  /** The key check value the card answers with (empty for key types without a KCV rule). */
  kcv: Uint8Array;
}

/** KCV by key type: AES rule for AES keys, 3DES rule for DES keys, none for TLS-PSK (no public rule). */
export function keyCheckValue(type: number, key: Uint8Array): Uint8Array {
  if (type === AES_KEY_TYPE) return aesKcv(key);
  if (type === KEY_TYPE_DES) return desKcv(key);
  return new Uint8Array(0);
}

function validKeyLength(type: number, length: number): boolean {
  if (type === AES_KEY_TYPE) return length === 16 || length === 24 || length === 32;
  if (type === KEY_TYPE_DES) return length === 8 || length === 16 || length === 24;
  if (type === KEY_TYPE_TLS_PSK) return length >= 1 && length <= 64;
  return false;
}

/**
 * How new keys are encrypted: under an AES Key-DEK or KIK, AES-CBC with a zero IV (SCP03, Amd D §7.2);
 * under a DES/3DES one, 3DES-ECB (GPCS 2.x key data; SCP80 key sets of DES keys, TS 102 226 §8.2.1.3).
 */
export type KeyWrapping = 'aes' | 'des3';

/** The wrapping a Key-DEK or KIK of GP key type `type` implies (0x88 AES, 0x80 DES). */
export function keyWrappingFor(type: number): KeyWrapping | undefined {
  return type === AES_KEY_TYPE ? 'aes' : type === KEY_TYPE_DES ? 'des3' : undefined;
}

const WRAP_BLOCK: Record<KeyWrapping, number> = { aes: 16, des3: 8 };

function wrapKey(dek: Uint8Array, key: Uint8Array, wrapping: KeyWrapping): Uint8Array {
  if (wrapping === 'aes') return encryptKeyWithDek(dek, key);
  const padded = new Uint8Array(Math.ceil(key.length / 8) * 8);
  padded.set(key);
  return tripleDesEcb(dek, padded);
}

function unwrapKey(dek: Uint8Array, encrypted: Uint8Array, wrapping: KeyWrapping): Uint8Array {
  return wrapping === 'aes'
    ? aesCbcDecrypt(dek, new Uint8Array(16), encrypted)
    : tripleDesEcb(dek, encrypted, true);
}

/**
 * One key data block of any supported type: type ‖ L ‖ [clear length] ‖ encrypted key ‖ KCV length ‖
 * KCV. The clear length is given unless the key fills whole cipher blocks under a 3DES KIK (GPCS 2.x).
 */
export function encodeKeyData(
  dek: Uint8Array,
  type: number,
  key: Uint8Array,
  wrapping: KeyWrapping = 'aes',
): Uint8Array {
  if (!validKeyLength(type, key.length))
    throw new FormatError(`a key of type ${type.toString(16)} cannot be ${key.length} bytes`);
  const encrypted = wrapKey(dek, key, wrapping);
  const kcv = keyCheckValue(type, key);
  const header =
    wrapping === 'des3' && key.length === encrypted.length
      ? Uint8Array.of(type, encrypted.length)
      : Uint8Array.of(type, 1 + encrypted.length, key.length);
  return concatBytes(header, encrypted, Uint8Array.of(kcv.length), kcv);
}

/**
 * The keys of PUT KEY data, decrypted with the session's Key-DEK and checked against their KCVs.
 * Accepts both block forms: `88 11 10 <16 ct>` (Amd D) and `88 10 <16 ct>` (GPCS Table 11-71, pySim).
 */
export function decodePutKeyData(
  dek: Uint8Array,
  data: Uint8Array,
  wrapping: KeyWrapping = 'aes',
): { keyVersion: number; keys: DecodedKey[] } {
  const blockSize = WRAP_BLOCK[wrapping];
  if (data.length < 1) throw new FormatError('PUT KEY data is empty');
  const keys: DecodedKey[] = [];
  let i = 1;
  while (i < data.length) {
    if (i + 2 > data.length) throw new FormatError('truncated key data block');
    const type = data[i]!;
    const blockLength = data[i + 1]!;
    if (type !== AES_KEY_TYPE && type !== KEY_TYPE_DES && type !== KEY_TYPE_TLS_PSK) {
      throw new FormatError(`key type ${type.toString(16)} is not supported`);
    }
    const block = data.subarray(i + 2, i + 2 + blockLength);
    if (block.length !== blockLength) throw new FormatError('truncated key data block');
    const explicitLength = blockLength % blockSize !== 0;
    const clearLength = explicitLength ? block[0]! : blockLength;
    const cipher = explicitLength ? block.subarray(1) : block;
    if (
      cipher.length === 0 ||
      cipher.length % blockSize !== 0 ||
      !validKeyLength(type, clearLength) ||
      clearLength > cipher.length
    ) {
      throw new FormatError('bad key data block');
    }
    const key = unwrapKey(dek, cipher, wrapping).slice(0, clearLength);
    let next = i + 2 + blockLength;
    const kcvLength = data[next];
    if (kcvLength === undefined || next + 1 + kcvLength > data.length)
      throw new FormatError('missing key check value');
    const kcv = data.subarray(next + 1, next + 1 + kcvLength);
    const expected = keyCheckValue(type, key);
    if (
      kcvLength > 0 &&
      (expected.length < kcvLength || !constantTimeEqual(kcv, expected.subarray(0, kcvLength)))
    )
      throw new KeyCheckError();
    next += 1 + kcvLength;
    keys.push({ type, key, kcv: expected });
    i = next;
  }
  return { keyVersion: data[0]!, keys };
}

/** PUT KEY data of an SCP03 key set: three AES keys, ENC, MAC, DEK. */
export function decodePutKeySet(
  dek: Uint8Array,
  data: Uint8Array,
): { keyVersion: number; keys: DecodedKey[] } {
  const decoded = decodePutKeyData(dek, data);
  if (decoded.keys.some((k) => k.type !== AES_KEY_TYPE))
    throw new FormatError('an SCP03 key set holds AES keys');
  return decoded;
}

/** A key's KCV does not match the decrypted key (GPCS: 6982). */
export class KeyCheckError extends FormatError {
  override name = 'KeyCheckError';
  constructor() {
    super('key check value does not match');
  }
}

// --- Key loading by STORE DATA, kaoh/globalplatform's DGI layout (GPCS 11.11.4) ---

/** DGI 00B9 {B7 attributes, B9 per key (KID, KCV)} then a DGI 8113 per key encrypted under the DEK. */
export function encodeStoreDataKeys(
  dek: Uint8Array,
  keyVersion: number,
  access: number,
  keys: readonly Uint8Array[],
): Uint8Array {
  const first = keys[0];
  if (!first) throw new FormatError('no keys to load');
  const tlv = (tag: number, value: Uint8Array) => concatBytes(Uint8Array.of(tag, value.length), value);
  const attributes = tlv(
    0xb7,
    concatBytes(
      tlv(0x80, Uint8Array.of(AES_KEY_TYPE)),
      tlv(0x81, Uint8Array.of(first.length)),
      tlv(0x83, Uint8Array.of(keyVersion)),
      tlv(0x96, Uint8Array.of(access)),
      tlv(0x97, Uint8Array.of(0x00, 0x03)),
    ),
  );
  const perKey = keys.map((key, index) =>
    tlv(0xb9, concatBytes(tlv(0x82, Uint8Array.of(index + 1)), tlv(0x84, aesKcv(key)))),
  );
  return concatBytes(
    encodeDgi(0x00b9, concatBytes(attributes, ...perKey)),
    ...keys.map((key) => encodeDgi(0x8113, encryptKeyWithDek(dek, key))),
  );
}
