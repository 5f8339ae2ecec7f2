// The Block1/Block2 option value (RFC 7959 §2.2): NUM (4, 12 or 20 bits), M, SZX.
import { CoapFormatError } from './errors.js';
import { decodeUint, encodeUint } from './options.js';

export interface BlockValue {
  num: number;
  more: boolean;
  /** Size exponent: the block is 2^(szx+4) bytes, 16 to 1024. */
  szx: number;
}

export const MAX_SZX = 6; // SZX 7 is reserved (BERT, only over TCP: RFC 8323 §6)
const MAX_NUM = 0xfffff;

export const blockSize = (szx: number): number => 1 << (szx + 4);

/** The SZX of a block size; sizes that are not a power of two from 16 to 1024 are a RangeError. */
export function sizeExponent(size: number): number {
  const szx = Math.log2(size) - 4;
  if (!Number.isInteger(szx) || szx < 0 || szx > MAX_SZX)
    throw new RangeError(`block size must be 16, 32, 64, 128, 256, 512 or 1024 (got ${size})`);
  return szx;
}

export function encodeBlock(block: BlockValue): Uint8Array {
  if (!Number.isInteger(block.num) || block.num < 0 || block.num > MAX_NUM)
    throw new RangeError(`block number out of range: ${block.num}`);
  if (!Number.isInteger(block.szx) || block.szx < 0 || block.szx > MAX_SZX)
    throw new RangeError(`SZX out of range: ${block.szx}`);
  return encodeUint(block.num * 16 + (block.more ? 8 : 0) + block.szx);
}

export function decodeBlock(value: Uint8Array): BlockValue {
  if (value.length > 3) throw new CoapFormatError(`block option of ${value.length} bytes`);
  const v = decodeUint(value);
  const szx = v & 0x07;
  if (szx > MAX_SZX) throw new CoapFormatError('block option with the reserved SZX 7');
  return { num: Math.floor(v / 16), more: (v & 0x08) !== 0, szx };
}
