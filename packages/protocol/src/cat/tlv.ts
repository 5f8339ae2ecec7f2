// COMPREHENSION-TLV (ETSI TS 101 220 §7.1.1) as the card application toolkit uses it (TS 102 223 §8):
// a one-byte tag whose b8 is the comprehension-required (CR) flag, or 7F + two bytes; a length of one
// byte up to 127, 81 xx up to 255, 82 xxxx beyond. Live terminals and cards set the CR flag freely,
// so a decoded tag is given without it.
import { concatBytes, FormatError } from '../bytes.js';

export interface ComprehensionTlv {
  /** The tag without its CR flag: 0x36 for both 36 and B6 (three-byte tags: the 15-bit value). */
  tag: number;
  /** The comprehension-required flag as sent. */
  cr: boolean;
  value: Uint8Array;
  /** Set by a lenient decode when the length ran past the input: `value` is what was there. */
  truncated?: boolean;
}

export interface ComprehensionDecodeOptions {
  /**
   * Accept a last TLV whose value is cut short (a live card's bare `3E 05`, spec §5.3) and mark it
   * `truncated`, instead of refusing the whole input.
   */
  lenient?: boolean;
}

/** A length as TS 101 220 §7.1.2 codes it: 1 byte to 127, 81 xx to 255, 82 xxxx to 65535. */
export function encodeCatLength(length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 0xffff)
    throw new FormatError(`length ${length} cannot be encoded`);
  if (length < 0x80) return Uint8Array.of(length);
  if (length <= 0xff) return Uint8Array.of(0x81, length);
  return Uint8Array.of(0x82, length >> 8, length & 0xff);
}

/** One COMPREHENSION-TLV; tags above 0x7F are coded 7F xx xx (TS 101 220 §7.1.1.2). */
export function encodeComprehensionTlv(tag: number, value: Uint8Array, cr = false): Uint8Array {
  if (!Number.isInteger(tag) || tag < 1 || tag > 0x7fff || tag === 0x7f)
    throw new FormatError(`tag ${tag} is not a COMPREHENSION-TLV tag`);
  const tagBytes =
    tag < 0x7f
      ? Uint8Array.of(tag | (cr ? 0x80 : 0))
      : Uint8Array.of(0x7f, (tag >> 8) | (cr ? 0x80 : 0), tag);
  return concatBytes(tagBytes, encodeCatLength(value.length), value);
}

/** Decodes a sequence of COMPREHENSION-TLVs; malformed input is a FormatError (or truncated, if lenient). */
export function decodeComprehensionTlvs(
  data: Uint8Array,
  options: ComprehensionDecodeOptions = {},
): ComprehensionTlv[] {
  const out: ComprehensionTlv[] = [];
  let i = 0;
  while (i < data.length) {
    const first = data[i++]!;
    let tag: number;
    let cr: boolean;
    if (first === 0x7f) {
      if (i + 2 > data.length) throw new FormatError(`truncated three-byte tag at offset ${i - 1}`);
      cr = (data[i]! & 0x80) !== 0;
      tag = ((data[i]! & 0x7f) << 8) | data[i + 1]!;
      i += 2;
    } else {
      if (first === 0x00 || first === 0x80 || first === 0xff)
        throw new FormatError(`${first.toString(16).padStart(2, '0')} is not a tag (offset ${i - 1})`);
      cr = (first & 0x80) !== 0;
      tag = first & 0x7f;
    }
    if (i >= data.length) {
      if (options.lenient) {
        out.push({ tag, cr, value: new Uint8Array(0), truncated: true });
        break;
      }
      throw new FormatError(`TLV ${tag.toString(16)} has no length`);
    }
    let length = data[i++]!;
    if (length === 0x81 || length === 0x82) {
      const n = length - 0x80;
      if (i + n > data.length) throw new FormatError(`truncated length of TLV ${tag.toString(16)}`);
      length = n === 1 ? data[i]! : (data[i]! << 8) | data[i + 1]!;
      if (length < (n === 1 ? 0x80 : 0x100))
        throw new FormatError(`length ${length} of TLV ${tag.toString(16)} is not in its shortest form`);
      i += n;
    } else if (length >= 0x80) {
      throw new FormatError(`unsupported length byte ${length.toString(16)}`);
    }
    if (i + length > data.length) {
      if (!options.lenient)
        throw new FormatError(`TLV ${tag.toString(16)} of ${length} bytes runs past the data`);
      out.push({ tag, cr, value: data.slice(i), truncated: true });
      break;
    }
    out.push({ tag, cr, value: data.slice(i, i + length) });
    i += length;
  }
  return out;
}

/** The first TLV with `tag` (CR flag ignored). */
export const findCatTlv = (tlvs: readonly ComprehensionTlv[], tag: number) =>
  tlvs.find((t) => t.tag === tag && !t.truncated);

/** A BER-TLV template of the toolkit (D0 proactive command, D1 SMS-PP, D6 event download…). */
export function encodeCatTemplate(tag: number, body: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(tag), encodeCatLength(body.length), body);
}

/** The tag and body of a BER-TLV template (TS 101 220 §7.2), with its length checked. */
export function decodeCatTemplate(data: Uint8Array): { tag: number; body: Uint8Array } {
  if (data.length < 2) throw new FormatError('a toolkit template is at least 2 bytes');
  const tag = data[0]!;
  let length = data[1]!;
  let start = 2;
  if (length === 0x81) {
    if (data.length < 3) throw new FormatError('truncated template length');
    length = data[2]!;
    start = 3;
  } else if (length >= 0x80) throw new FormatError(`unsupported template length byte ${length.toString(16)}`);
  if (start + length > data.length) throw new FormatError('the template runs past the data');
  return { tag, body: data.subarray(start, start + length) };
}
