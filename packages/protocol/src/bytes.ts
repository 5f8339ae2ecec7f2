// Byte helpers. Hex appears only at the edges (CLI, logs, vector files); everything else is Uint8Array.

const HEX_DIGITS = '0123456789ABCDEF';

/** Thrown when external text or bytes are not what a codec expects. */
export class FormatError extends Error {
  override name = 'FormatError';
}

/** Decodes hex, tolerating spaces and either case: "80 2A" and "802a" give the same bytes. */
export function hexToBytes(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new FormatError(`not a hex string of whole bytes (${clean.length} characters)`);
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesToHex(bytes: Uint8Array, separator = ''): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    if (i > 0 && separator) out += separator;
    const b = bytes[i]!;
    out += HEX_DIGITS[b >> 4]! + HEX_DIGITS[b & 0x0f]!;
  }
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Comparison whose time does not depend on where the inputs differ (MACs, cryptograms). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export function u16be(value: number): Uint8Array {
  return Uint8Array.of((value >> 8) & 0xff, value & 0xff);
}

export function u32be(value: number): Uint8Array {
  return Uint8Array.of((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

export function readU16be(bytes: Uint8Array, offset = 0): number {
  if (offset + 2 > bytes.length) throw new FormatError('truncated 16-bit value');
  return (bytes[offset]! << 8) | bytes[offset + 1]!;
}

export function readUintBe(bytes: Uint8Array): number {
  if (bytes.length > 6) throw new FormatError(`integer of ${bytes.length} bytes is too large`);
  let value = 0;
  for (const b of bytes) value = value * 256 + b;
  return value;
}

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function fromUtf8(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** Overwrites a buffer holding a secret (keys, premaster secrets) once it is no longer needed. */
export function wipe(bytes: Uint8Array): void {
  bytes.fill(0);
}

export function bigintToBytes(value: bigint, length: number): Uint8Array {
  const hex = value.toString(16);
  if (value < 0n || hex.length > 2 * length) throw new FormatError(`integer does not fit in ${length} bytes`);
  return new Uint8Array(Buffer.from(hex.padStart(2 * length, '0'), 'hex'));
}

export function bytesToBigint(bytes: Uint8Array): bigint {
  return bytes.length === 0
    ? 0n
    : BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`);
}
