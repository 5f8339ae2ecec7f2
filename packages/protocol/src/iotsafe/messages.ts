// Command data and response data of each IoT SAFE command, as encoder/decoder pairs shared by the card
// (decode requests, encode responses) and the client (encode requests, decode responses). Spec §3.
import { concatBytes, FormatError, readU16be, readUintBe, u16be, u32be } from '../bytes.js';
import type { HashAlgorithm } from '../crypto/hash.js';
import { ecdsaDerToRaw } from '../der.js';
import { HASH_BY_NAME, hashFromBits, PRF_MODE, SIGN_MODE_BY_NAME, type SignMode, TAG } from './constants.js';
import { encodeObjectRef, type ObjectRef, parseObjectRef } from './objects.js';
import { decodeIotTlvs, encodeIotTlv, type FullTextLength, indexTlvs } from './tlv.js';

const fields = (data: Uint8Array) => indexTlvs(decodeIotTlvs(data));

function required(map: Map<number, Uint8Array>, tag: number, what: string): Uint8Array {
  const v = map.get(tag);
  if (v === undefined) throw new FormatError(`${what} (tag ${tag.toString(16).toUpperCase()}) is missing`);
  return v;
}

// --- Public key data: 34 LL 49 LL 86 LL 04 X Y (GSMA IoT.05, public key data) ---

export function encodePublicKeyData(point: Uint8Array): Uint8Array {
  return encodeIotTlv(
    TAG.PUBLIC_KEY_DATA,
    encodeIotTlv(TAG.ECC_PUBLIC_KEY, encodeIotTlv(TAG.EC_POINT, point)),
  );
}

/** The EC point inside `34 {49 {86 point}}`; also accepts `49 {86 …}` without the outer 34. */
export function decodePublicKeyData(data: Uint8Array): Uint8Array {
  let inner = fields(data);
  const outer = inner.get(TAG.PUBLIC_KEY_DATA);
  if (outer) inner = fields(outer);
  const ecc = required(inner, TAG.ECC_PUBLIC_KEY, 'ECC public key');
  return required(fields(ecc), TAG.EC_POINT, 'EC point');
}

// --- GENERATE KEY PAIR response: [84 id] [85 id] 34 … (GSMA IoT.05, GENERATE KEY PAIR) ---

export interface KeyPairGenerated {
  privateKeyId?: Uint8Array;
  publicKeyId?: Uint8Array;
  publicKey: Uint8Array;
}

export function encodeKeyPairGenerated(r: KeyPairGenerated): Uint8Array {
  const parts: Uint8Array[] = [];
  if (r.privateKeyId) parts.push(encodeIotTlv(TAG.PRIVATE_KEY_ID, r.privateKeyId));
  if (r.publicKeyId) parts.push(encodeIotTlv(TAG.PUBLIC_KEY_ID, r.publicKeyId));
  parts.push(encodePublicKeyData(r.publicKey));
  return concatBytes(...parts);
}

export function decodeKeyPairGenerated(data: Uint8Array): KeyPairGenerated {
  const map = fields(data);
  const result: KeyPairGenerated = { publicKey: decodePublicKeyData(data) };
  const priv = map.get(TAG.PRIVATE_KEY_ID);
  const pub = map.get(TAG.PUBLIC_KEY_ID);
  if (priv) result.privateKeyId = priv;
  if (pub) result.publicKeyId = pub;
  return result;
}

// --- COMPUTE / VERIFY SIGNATURE INIT (GSMA IoT.05, COMPUTE and VERIFY SIGNATURE) ---

export interface SignatureInit {
  key: ObjectRef;
  mode: SignMode;
  hash: HashAlgorithm;
  /** Tag 92 value; 04 = ECDSA. */
  algorithm: number;
}

export function encodeSignatureInit(keyClass: 'privateKey' | 'publicKey', p: SignatureInit): Uint8Array {
  return concatBytes(
    encodeObjectRef(keyClass, p.key),
    Uint8Array.of(TAG.MODE, 1, SIGN_MODE_BY_NAME[p.mode]),
    Uint8Array.of(TAG.HASH_ALGORITHMS, 2),
    u16be(HASH_BY_NAME[p.hash]),
    Uint8Array.of(TAG.SIGNATURE_ALGORITHMS, 1, p.algorithm),
  );
}

export function decodeSignatureInit(keyClass: 'privateKey' | 'publicKey', data: Uint8Array): SignatureInit {
  const map = fields(data);
  const modeBytes = required(map, TAG.MODE, 'mode of operation');
  const hashBytes = required(map, TAG.HASH_ALGORITHMS, 'hash algorithm');
  const algBytes = required(map, TAG.SIGNATURE_ALGORITHMS, 'signature algorithm');
  if (modeBytes.length !== 1 || hashBytes.length !== 2 || algBytes.length !== 1) {
    throw new FormatError('mode, hash or algorithm has the wrong length');
  }
  const mode = (['fullText', 'lastBlock', 'padAndSign'] as const)[modeBytes[0]! - 1];
  const hash = hashFromBits(readU16be(hashBytes));
  if (!mode) throw new FormatError(`unknown mode ${modeBytes[0]}`);
  if (!hash) throw new FormatError('unknown hash algorithm');
  return { key: parseObjectRef(map, keyClass), mode, hash, algorithm: algBytes[0]! };
}

// --- Signature TLV 33 (GSMA IoT.05; its length varies: docs/personalities.md) ---

export function encodeSignatureTlv(signature: Uint8Array, lengthBytes: 1 | 2): Uint8Array {
  return encodeIotTlv(TAG.SIGNATURE, signature, lengthBytes);
}

/**
 * Raw r ‖ s from a COMPUTE SIGNATURE answer: `33 LL`, `33 00 LL`, or a DER signature some applets
 * return (as docs/personalities.md lists), normalised to `2 × size` bytes.
 */
export function decodeSignatureResponse(data: Uint8Array, size: number): Uint8Array {
  if (data[0] === 0x30) return ecdsaDerToRaw(data, size);
  const sig = required(fields(data), TAG.SIGNATURE, 'signature');
  if (sig[0] === 0x30 && sig.length !== 2 * size) return ecdsaDerToRaw(sig, size);
  if (sig.length !== 2 * size)
    throw new FormatError(`signature of ${sig.length} bytes, expected ${2 * size}`);
  return sig;
}

// --- Data to sign or verify, by mode (UPDATE commands) ---

export type SignatureInput =
  | { mode: 'padAndSign'; hash: Uint8Array }
  | { mode: 'fullText'; data: Uint8Array }
  | { mode: 'lastBlock'; lastBlock: Uint8Array; intermediateHash: Uint8Array; bytesHashed: number };

export function encodeSignatureInput(
  input: SignatureInput,
  fullTextStyle: 'ber' | 'fixed3' = 'ber',
): Uint8Array {
  switch (input.mode) {
    case 'padAndSign':
      return encodeIotTlv(TAG.HASH_TO_SIGN, input.hash);
    case 'fullText': {
      if (fullTextStyle === 'fixed3') return encodeIotTlv(TAG.DATA_FULL_TEXT, input.data, 3);
      return concatBytes(Uint8Array.of(TAG.DATA_FULL_TEXT), berLength(input.data.length), input.data);
    }
    case 'lastBlock':
      return concatBytes(
        encodeIotTlv(TAG.LAST_BLOCK, input.lastBlock),
        encodeIotTlv(TAG.INTERMEDIATE_HASH, input.intermediateHash),
        encodeIotTlv(TAG.BYTES_HASHED, u32be(input.bytesHashed)),
      );
  }
}

function berLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  if (n <= 0xff) return Uint8Array.of(0x81, n);
  if (n <= 0xffff) return Uint8Array.of(0x82, n >> 8, n & 0xff);
  return Uint8Array.of(0x83, n >> 16, (n >> 8) & 0xff, n & 0xff);
}

/** The input of a finished UPDATE series, and for VERIFY the trailing signature TLV. */
export function decodeSignatureInput(
  mode: SignMode,
  data: Uint8Array,
  fullText: FullTextLength = 'auto',
): { input: SignatureInput; signature?: Uint8Array } {
  const map = indexTlvs(decodeIotTlvs(data, fullText));
  const signature = map.get(TAG.SIGNATURE);
  const withSig = <T extends SignatureInput>(input: T) => (signature ? { input, signature } : { input });
  switch (mode) {
    case 'padAndSign':
      return withSig({ mode, hash: required(map, TAG.HASH_TO_SIGN, 'hash') });
    case 'fullText':
      return withSig({ mode, data: required(map, TAG.DATA_FULL_TEXT, 'data') });
    case 'lastBlock': {
      const count = required(map, TAG.BYTES_HASHED, 'bytes already hashed');
      if (count.length < 1 || count.length > 4)
        throw new FormatError('bytes-hashed counter is not 1..4 bytes');
      return withSig({
        mode,
        lastBlock: required(map, TAG.LAST_BLOCK, 'last block'),
        intermediateHash: required(map, TAG.INTERMEDIATE_HASH, 'intermediate hash'),
        bytesHashed: readUintBe(count),
      });
    }
  }
}

// --- COMPUTE DH (GSMA IoT.05, COMPUTE DH) ---

export interface DhRequest {
  privateKey: ObjectRef;
  publicKey: ObjectRef;
}

export const encodeDhRequest = (r: DhRequest) =>
  concatBytes(encodeObjectRef('privateKey', r.privateKey), encodeObjectRef('publicKey', r.publicKey));

export function decodeDhRequest(data: Uint8Array): DhRequest {
  const map = fields(data);
  return { privateKey: parseObjectRef(map, 'privateKey'), publicKey: parseObjectRef(map, 'publicKey') };
}

// --- COMPUTE PRF (GSMA IoT.05, COMPUTE PRF) ---

export type PrfRequest =
  | { mode: 'general'; secret: Uint8Array; labelAndSeed: Uint8Array; length: number }
  | { mode: 'psk'; secretRef: ObjectRef; labelAndSeed: Uint8Array; length: number }
  | {
      mode: 'ecdhePsk';
      secretRef: ObjectRef;
      otherSecret: Uint8Array;
      labelAndSeed: Uint8Array;
      length: number;
    };

export const PRF_MODE_BYTE = {
  general: PRF_MODE.GENERAL,
  psk: PRF_MODE.PSK,
  ecdhePsk: PRF_MODE.ECDHE_PSK,
} as const;

export function encodePrfRequest(r: PrfRequest): Uint8Array {
  const parts: Uint8Array[] = [];
  if (r.mode === 'general') parts.push(encodeIotTlv(TAG.SECRET, r.secret));
  else parts.push(encodeObjectRef('secret', r.secretRef));
  if (r.mode === 'ecdhePsk') parts.push(encodeIotTlv(TAG.PREMASTER_OTHER_SECRET, r.otherSecret));
  parts.push(encodeIotTlv(TAG.LABEL_AND_SEED, r.labelAndSeed), Uint8Array.of(TAG.OUTPUT_LENGTH, 1, r.length));
  return concatBytes(...parts);
}

export function decodePrfRequest(modeByte: number, data: Uint8Array): PrfRequest {
  const map = fields(data);
  const labelAndSeed = required(map, TAG.LABEL_AND_SEED, 'label and seed');
  const lengthBytes = required(map, TAG.OUTPUT_LENGTH, 'output length');
  if (lengthBytes.length !== 1 || lengthBytes[0] === 0) throw new FormatError('output length must be 1..255');
  const length = lengthBytes[0]!;
  if (modeByte === PRF_MODE.GENERAL) {
    if (map.has(0x86) || map.has(0x76))
      throw new FormatError('mode 00 takes the secret in D1, not a container');
    return { mode: 'general', secret: required(map, TAG.SECRET, 'secret'), labelAndSeed, length };
  }
  if (map.has(TAG.SECRET)) throw new FormatError('modes 01/02 take the secret from a container, not D1');
  const secretRef = parseObjectRef(map, 'secret');
  if (modeByte === PRF_MODE.PSK) return { mode: 'psk', secretRef, labelAndSeed, length };
  const otherSecret = required(map, TAG.PREMASTER_OTHER_SECRET, 'ECDHE secret');
  return { mode: 'ecdhePsk', secretRef, otherSecret, labelAndSeed, length };
}

// --- COMPUTE HKDF, extract (GSMA IoT.05, COMPUTE HKDF) ---

export type HkdfRequest =
  | { mode: 'ikm'; ikm: Uint8Array; salt: Uint8Array; hash: HashAlgorithm }
  | { mode: 'secret'; secretRef: ObjectRef; salt: Uint8Array; hash: HashAlgorithm };

export function encodeHkdfRequest(r: HkdfRequest): Uint8Array {
  return concatBytes(
    r.mode === 'ikm' ? encodeIotTlv(TAG.SECRET, r.ikm) : encodeObjectRef('secret', r.secretRef),
    encodeIotTlv(TAG.SALT, r.salt),
    Uint8Array.of(TAG.HASH_ALGORITHMS, 2),
    u16be(HASH_BY_NAME[r.hash]),
  );
}

export function decodeHkdfRequest(modeByte: number, data: Uint8Array): HkdfRequest {
  const map = fields(data);
  const salt = required(map, TAG.SALT, 'salt');
  const hashBytes = required(map, TAG.HASH_ALGORITHMS, 'hash algorithm');
  const hash = hashBytes.length === 2 ? hashFromBits(readU16be(hashBytes)) : undefined;
  if (!hash) throw new FormatError('unknown hash algorithm');
  if (modeByte === 0x00) {
    if (map.has(0x86) || map.has(0x76)) throw new FormatError('mode 00 takes the IKM in D1, not a container');
    return { mode: 'ikm', ikm: required(map, TAG.SECRET, 'IKM'), salt, hash };
  }
  if (map.has(TAG.SECRET)) throw new FormatError('mode 01 takes the IKM from a container, not D1');
  return { mode: 'secret', secretRef: parseObjectRef(map, 'secret'), salt, hash };
}
