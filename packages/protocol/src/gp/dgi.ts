// Data Grouping Identifiers for STORE DATA in DGI mode (GPCS 11.11.2.2): 2-byte DGI, a length on 1 byte
// up to 254 or FF + 2 bytes, then the value.
import { concatBytes, FormatError, readU16be, u16be } from '../bytes.js';

export function encodeDgi(dgi: number, value: Uint8Array): Uint8Array {
  const length =
    value.length <= 254 ? Uint8Array.of(value.length) : concatBytes(Uint8Array.of(0xff), u16be(value.length));
  return concatBytes(u16be(dgi), length, value);
}

/** Splits DGI-mode data into whole DGIs; a truncated one is a FormatError. */
export function decodeDgis(data: Uint8Array): { dgi: number; value: Uint8Array }[] {
  const out: { dgi: number; value: Uint8Array }[] = [];
  let i = 0;
  while (i < data.length) {
    if (i + 3 > data.length) throw new FormatError('truncated DGI header');
    const dgi = readU16be(data, i);
    let length = data[i + 2]!;
    let start = i + 3;
    if (length === 0xff) {
      if (i + 5 > data.length) throw new FormatError('truncated DGI length');
      length = readU16be(data, i + 3);
      start = i + 5;
    }
    if (start + length > data.length)
      throw new FormatError(`DGI ${dgi.toString(16)} announces ${length} bytes`);
    out.push({ dgi, value: data.subarray(start, start + length) });
    i = start + length;
  }
  return out;
}
