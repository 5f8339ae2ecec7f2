// A small DER writer (ITU-T X.690 §10) for the structures this stack signs: PKCS#10 requests (RFC 2986),
// X.509 certificates (RFC 5280), and ECDSA-Sig-Value (RFC 3279 §2.2.3). Reading uses decodeBerTlvs.
import { bytesToBigint, concatBytes, FormatError, utf8 } from './bytes.js';
import { decodeBerTlvs, encodeBerLength } from './tlv.js';

function tlv(tag: number, value: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(tag), encodeBerLength(value.length), value);
}

export const derSequence = (...items: Uint8Array[]) => tlv(0x30, concatBytes(...items));
export const derSet = (...items: Uint8Array[]) => tlv(0x31, concatBytes(...items));
export const derOctetString = (value: Uint8Array) => tlv(0x04, value);
export const derUtf8String = (text: string) => tlv(0x0c, utf8(text));
export const derBoolean = (value: boolean) => Uint8Array.of(0x01, 0x01, value ? 0xff : 0x00);
/** BIT STRING with no unused bits. */
export const derBitString = (value: Uint8Array) => tlv(0x03, concatBytes(Uint8Array.of(0), value));
/** Context-specific tag [n]; constructed unless `primitive`. */
export const derContext = (n: number, value: Uint8Array, primitive = false) =>
  tlv((primitive ? 0x80 : 0xa0) | n, value);

/** INTEGER from unsigned big-endian bytes: leading zeros removed, a 00 added when b8 would be set. */
export function derUnsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const body =
    trimmed.length === 0 || (trimmed[0]! & 0x80) !== 0 ? concatBytes(Uint8Array.of(0), trimmed) : trimmed;
  return tlv(0x02, body);
}

export function derSmallInteger(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff)
    throw new FormatError(`bad integer ${value}`);
  const bytes: number[] = [];
  let v = value;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  return derUnsignedInteger(Uint8Array.from(bytes));
}

/** OBJECT IDENTIFIER from dotted text (X.690 §8.19). */
export function derOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => Number(a));
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0))
    throw new FormatError(`bad OID ${dotted}`);
  const out: number[] = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [];
    let v = arc;
    do {
      chunk.unshift((v & 0x7f) | (chunk.length ? 0x80 : 0));
      v = Math.floor(v / 128);
    } while (v > 0);
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** UTCTime before 2050, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
export function derTime(date: Date): Uint8Array {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const year = date.getUTCFullYear();
  return year < 2050 ? tlv(0x17, utf8(`${iso.slice(2)}Z`)) : tlv(0x18, utf8(`${iso}Z`));
}

export const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  brainpoolP256r1: '1.3.36.3.3.2.8.1.1.7',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  countryName: '2.5.4.6',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
} as const;

/** ECDSA-Sig-Value SEQUENCE { r INTEGER, s INTEGER } from raw r ‖ s. */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new FormatError(`raw signature of ${raw.length} bytes`);
  const half = raw.length / 2;
  return derSequence(derUnsignedInteger(raw.subarray(0, half)), derUnsignedInteger(raw.subarray(half)));
}

/** Raw r ‖ s (each `size` bytes) from a DER ECDSA-Sig-Value. */
export function ecdsaDerToRaw(der: Uint8Array, size: number): Uint8Array {
  const outer = decodeBerTlvs(der);
  if (outer.length !== 1 || outer[0]!.tag !== 0x30) throw new FormatError('not a DER ECDSA signature');
  const parts = decodeBerTlvs(outer[0]!.value);
  if (parts.length !== 2 || parts.some((p) => p.tag !== 0x02))
    throw new FormatError('not a DER ECDSA signature');
  const out = new Uint8Array(2 * size);
  parts.forEach((p, i) => {
    const v = bytesToBigint(p.value);
    const hex = v.toString(16).padStart(2 * size, '0');
    if (hex.length > 2 * size) throw new FormatError('signature component larger than the curve');
    for (let k = 0; k < size; k++) out[i * size + k] = Number.parseInt(hex.slice(2 * k, 2 * k + 2), 16);
  });
  return out;
}
