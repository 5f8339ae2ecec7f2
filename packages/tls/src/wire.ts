// Reading and writing TLS presentation-language vectors (RFC 8446 §3). Reading past the end is a
// decode_error, never an exception of another kind.
import { concatBytes } from '@iotsafe/protocol';
import { tlsFail } from './errors.js';

export class Reader {
  private offset = 0;

  constructor(private readonly data: Uint8Array) {}

  get remaining(): number {
    return this.data.length - this.offset;
  }

  private take(n: number): Uint8Array {
    if (n > this.remaining) tlsFail('decode_error', 'message truncated');
    const out = this.data.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  u8(): number {
    return this.take(1)[0]!;
  }

  u16(): number {
    const b = this.take(2);
    return (b[0]! << 8) | b[1]!;
  }

  u24(): number {
    const b = this.take(3);
    return (b[0]! << 16) | (b[1]! << 8) | b[2]!;
  }

  u32(): number {
    const b = this.take(4);
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }

  bytes(n: number): Uint8Array {
    return this.take(n);
  }

  vector8(): Uint8Array {
    return this.take(this.u8());
  }

  vector16(): Uint8Array {
    return this.take(this.u16());
  }

  vector24(): Uint8Array {
    return this.take(this.u24());
  }

  rest(): Uint8Array {
    return this.take(this.remaining);
  }

  end(): void {
    if (this.remaining !== 0) tlsFail('decode_error', 'trailing bytes in a message');
  }
}

export const u8 = (v: number) => Uint8Array.of(v & 0xff);
export const u16 = (v: number) => Uint8Array.of((v >> 8) & 0xff, v & 0xff);
export const u32 = (v: number) =>
  Uint8Array.of((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
export const u24 = (v: number) => Uint8Array.of((v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
export const vec8 = (b: Uint8Array) => concatBytes(u8(b.length), b);
export const vec16 = (b: Uint8Array) => concatBytes(u16(b.length), b);
export const vec24 = (b: Uint8Array) => concatBytes(u24(b.length), b);
