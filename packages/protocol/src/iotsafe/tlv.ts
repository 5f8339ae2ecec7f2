// The IoT SAFE TLV dialect (GSMA IoT.05; variants in docs/personalities.md): 1-byte tags and 1-byte lengths, except
//  - 33 (signature): length on 1 byte (Thales MVP) or 2 bytes (spec reading of W/K/ZARIOT);
//  - 9B (full-text data): 1 byte, BER (81/82/83), or a fixed 3 bytes (Kigen) — the first byte tells;
// and values split across several UPDATE APDUs carry the header only in the first one, so the card
// parses the concatenation of all chunks.
import { concatBytes, FormatError } from '../bytes.js';
import { encodeBerLength } from '../tlv.js';
import { TAG } from './constants.js';

export interface IotTlv {
  tag: number;
  value: Uint8Array;
}

/** Encodes a TLV with a 1-byte length, or with `lengthBytes` fixed big-endian length bytes. */
export function encodeIotTlv(tag: number, value: Uint8Array, lengthBytes: 1 | 2 | 3 = 1): Uint8Array {
  const max = 2 ** (8 * lengthBytes) - 1;
  if (value.length > max)
    throw new FormatError(`value of ${value.length} bytes does not fit tag ${tag.toString(16)}`);
  const length = new Uint8Array(lengthBytes);
  for (let i = 0, v = value.length; i < lengthBytes; i++, v = Math.floor(v / 256))
    length[lengthBytes - 1 - i] = v & 0xff;
  return concatBytes(Uint8Array.of(tag), length, value);
}

/** Full-text data (tag 9B) with a BER length, the encoding our client sends by default. */
export function encodeFullTextTlv(value: Uint8Array, style: 'ber' | 'fixed3' = 'ber'): Uint8Array {
  if (style === 'fixed3') return encodeIotTlv(TAG.DATA_FULL_TEXT, value, 3);
  return concatBytes(Uint8Array.of(TAG.DATA_FULL_TEXT), encodeBerLength(value.length), value);
}

/** How a card reads the length of full-text data (tag 9B): `auto` (1 byte, BER, or fixed 3 when it starts with 00) or always a fixed 3 bytes (Kigen-class cards). */
export type FullTextLength = 'auto' | 'fixed3';

function readLength(
  data: Uint8Array,
  tag: number,
  at: number,
  fullText: FullTextLength,
): { length: number; headerEnd: number } {
  const remaining = data.length - at; // bytes after the tag
  const need = (n: number) => {
    if (n > remaining) throw new FormatError(`truncated length of tag ${tag.toString(16)}`);
  };
  need(1);
  const first = data[at]!;
  if (tag === TAG.SIGNATURE) {
    // Prefer the reading under which the TLV ends exactly where the data ends.
    if (remaining >= 2 && ((first << 8) | data[at + 1]!) === remaining - 2) {
      return { length: remaining - 2, headerEnd: at + 2 };
    }
    if (first === remaining - 1) return { length: first, headerEnd: at + 1 };
    if (first === 0x00 && remaining >= 2) return { length: data[at + 1]!, headerEnd: at + 2 };
    return { length: first, headerEnd: at + 1 };
  }
  if (tag === TAG.DATA_FULL_TEXT) {
    if (first === 0x00 || fullText === 'fixed3') {
      need(3);
      return { length: first * 0x10000 + ((data[at + 1]! << 8) | data[at + 2]!), headerEnd: at + 3 };
    }
    if (first >= 0x81 && first <= 0x83) {
      const n = first - 0x80;
      need(1 + n);
      let length = 0;
      for (let k = 1; k <= n; k++) length = length * 256 + data[at + k]!;
      return { length, headerEnd: at + 1 + n };
    }
    return { length: first, headerEnd: at + 1 };
  }
  return { length: first, headerEnd: at + 1 };
}

/** Decodes a sequence of IoT SAFE TLVs; any truncation is a FormatError. */
export function decodeIotTlvs(data: Uint8Array, fullText: FullTextLength = 'auto'): IotTlv[] {
  const out: IotTlv[] = [];
  let i = 0;
  while (i < data.length) {
    const tag = data[i]!;
    const { length, headerEnd } = readLength(data, tag, i + 1, fullText);
    if (headerEnd + length > data.length) {
      throw new FormatError(
        `tag ${tag.toString(16)} announces ${length} bytes, ${data.length - headerEnd} remain`,
      );
    }
    out.push({ tag, value: data.subarray(headerEnd, headerEnd + length) });
    i = headerEnd + length;
  }
  return out;
}

/** A map from tag to value; a repeated tag is a FormatError (IoT SAFE commands never repeat tags). */
export function indexTlvs(tlvs: readonly IotTlv[]): Map<number, Uint8Array> {
  const map = new Map<number, Uint8Array>();
  for (const t of tlvs) {
    if (map.has(t.tag)) throw new FormatError(`tag ${t.tag.toString(16)} appears twice`);
    map.set(t.tag, t.value);
  }
  return map;
}
