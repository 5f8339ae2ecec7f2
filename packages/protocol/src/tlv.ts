// BER-TLV (ISO/IEC 8825-1, ISO 7816-4 §5.2) for GlobalPlatform and OTA data, with a reader that
// never reads past its input: every malformed input is a FormatError.
import { concatBytes, FormatError } from './bytes.js';

export interface Tlv {
  /** The tag as a number: 0x9F7F for the two-byte tag 9F 7F. */
  tag: number;
  value: Uint8Array;
}

/** Encodes a BER length: short form below 0x80, else 81 LL / 82 LLLL / 83 LLLLLL. */
export function encodeBerLength(length: number): Uint8Array {
  if (length < 0 || !Number.isInteger(length) || length > 0xffffff) {
    throw new FormatError(`length ${length} cannot be encoded`);
  }
  if (length < 0x80) return Uint8Array.of(length);
  if (length <= 0xff) return Uint8Array.of(0x81, length);
  if (length <= 0xffff) return Uint8Array.of(0x82, length >> 8, length & 0xff);
  return Uint8Array.of(0x83, length >> 16, (length >> 8) & 0xff, length & 0xff);
}

export function encodeBerTag(tag: number): Uint8Array {
  if (tag <= 0xff) return Uint8Array.of(tag);
  if (tag <= 0xffff) return Uint8Array.of(tag >> 8, tag & 0xff);
  return Uint8Array.of(tag >> 16, (tag >> 8) & 0xff, tag & 0xff);
}

export function encodeBerTlv(tag: number, value: Uint8Array): Uint8Array {
  return concatBytes(encodeBerTag(tag), encodeBerLength(value.length), value);
}

interface Decoded {
  tlv: Tlv;
  next: number;
}

function decodeOneBer(data: Uint8Array, start: number): Decoded {
  let i = start;
  const need = (n: number, what: string) => {
    if (i + n > data.length) throw new FormatError(`truncated TLV: ${what} at offset ${i}`);
  };
  need(1, 'tag');
  let tag = data[i++]!;
  if ((tag & 0x1f) === 0x1f) {
    // Multi-byte tag: subsequent bytes while b8 is set, at most 3 bytes in all (ISO 7816-4 §5.2.2.1).
    do {
      need(1, 'tag');
      if (tag > 0xffff) throw new FormatError('tag longer than 3 bytes');
      tag = (tag << 8) | data[i]!;
    } while ((data[i++]! & 0x80) !== 0);
  }
  need(1, 'length');
  let length = data[i++]!;
  if (length === 0x80 || length > 0x83)
    throw new FormatError(`unsupported BER length byte ${length.toString(16)}`);
  if (length > 0x80) {
    const n = length - 0x80;
    need(n, 'length');
    length = 0;
    for (let k = 0; k < n; k++) length = (length << 8) | data[i++]!;
  }
  need(length, `value of ${length} bytes`);
  return { tlv: { tag, value: data.subarray(i, i + length) }, next: i + length };
}

/** Decodes a sequence of BER-TLVs. Padding bytes 00 / FF between TLVs are skipped (ISO 7816-4 §5.2.1). */
export function decodeBerTlvs(data: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0x00 || data[i] === 0xff) {
      i++;
      continue;
    }
    const { tlv, next } = decodeOneBer(data, i);
    out.push(tlv);
    i = next;
  }
  return out;
}

export function findTlv(tlvs: readonly Tlv[], tag: number): Tlv | undefined {
  return tlvs.find((t) => t.tag === tag);
}
