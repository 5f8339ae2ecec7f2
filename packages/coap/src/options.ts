// Option numbers, their formats and properties (RFC 7252 §5.4, §5.10, §12.2, and the options
// registered since), and the value codecs: uint, string, opaque.
import { CoapFormatError } from './errors.js';

export interface CoapOption {
  number: number;
  value: Uint8Array;
}

export const OptionNumber = {
  IfMatch: 1,
  UriHost: 3,
  ETag: 4,
  IfNoneMatch: 5,
  Observe: 6, // RFC 7641
  UriPort: 7,
  LocationPath: 8,
  Oscore: 9, // RFC 8613
  UriPath: 11,
  ContentFormat: 12,
  MaxAge: 14,
  UriQuery: 15,
  HopLimit: 16, // RFC 8768
  Accept: 17,
  QBlock1: 19, // RFC 9177
  LocationQuery: 20,
  EdhocOption: 21, // RFC 9668
  Block2: 23, // RFC 7959
  Block1: 27, // RFC 7959
  Size2: 28, // RFC 7959
  QBlock2: 31, // RFC 9177
  ProxyUri: 35,
  ProxyScheme: 39,
  Size1: 60,
  Echo: 252, // RFC 9175
  NoResponse: 258, // RFC 7967
  RequestTag: 292, // RFC 9175
} as const;

type Format = 'empty' | 'opaque' | 'uint' | 'string';
interface Definition {
  name: string;
  format: Format;
  /** Value length bounds in bytes (RFC 7252 §5.10 table). */
  min: number;
  max: number;
  repeatable: boolean;
}

const definitions: [number, Definition][] = [
  [1, { name: 'If-Match', format: 'opaque', min: 0, max: 8, repeatable: true }],
  [3, { name: 'Uri-Host', format: 'string', min: 1, max: 255, repeatable: false }],
  [4, { name: 'ETag', format: 'opaque', min: 1, max: 8, repeatable: true }],
  [5, { name: 'If-None-Match', format: 'empty', min: 0, max: 0, repeatable: false }],
  [6, { name: 'Observe', format: 'uint', min: 0, max: 3, repeatable: false }],
  [7, { name: 'Uri-Port', format: 'uint', min: 0, max: 2, repeatable: false }],
  [8, { name: 'Location-Path', format: 'string', min: 0, max: 255, repeatable: true }],
  [9, { name: 'OSCORE', format: 'opaque', min: 0, max: 255, repeatable: false }],
  [11, { name: 'Uri-Path', format: 'string', min: 0, max: 255, repeatable: true }],
  [12, { name: 'Content-Format', format: 'uint', min: 0, max: 2, repeatable: false }],
  [14, { name: 'Max-Age', format: 'uint', min: 0, max: 4, repeatable: false }],
  [15, { name: 'Uri-Query', format: 'string', min: 0, max: 255, repeatable: true }],
  [16, { name: 'Hop-Limit', format: 'uint', min: 1, max: 1, repeatable: false }],
  [17, { name: 'Accept', format: 'uint', min: 0, max: 2, repeatable: false }],
  [19, { name: 'Q-Block1', format: 'uint', min: 0, max: 3, repeatable: false }],
  [20, { name: 'Location-Query', format: 'string', min: 0, max: 255, repeatable: true }],
  [21, { name: 'EDHOC', format: 'empty', min: 0, max: 0, repeatable: false }],
  [23, { name: 'Block2', format: 'uint', min: 0, max: 3, repeatable: false }],
  [27, { name: 'Block1', format: 'uint', min: 0, max: 3, repeatable: false }],
  [28, { name: 'Size2', format: 'uint', min: 0, max: 4, repeatable: false }],
  [31, { name: 'Q-Block2', format: 'uint', min: 0, max: 3, repeatable: true }],
  [35, { name: 'Proxy-Uri', format: 'string', min: 1, max: 1034, repeatable: false }],
  [39, { name: 'Proxy-Scheme', format: 'string', min: 1, max: 255, repeatable: false }],
  [60, { name: 'Size1', format: 'uint', min: 0, max: 4, repeatable: false }],
  [252, { name: 'Echo', format: 'opaque', min: 1, max: 40, repeatable: false }],
  [258, { name: 'No-Response', format: 'uint', min: 0, max: 1, repeatable: false }],
  [292, { name: 'Request-Tag', format: 'opaque', min: 0, max: 8, repeatable: true }],
];
const BY_NUMBER = new Map(definitions);

export function optionName(number: number): string {
  return BY_NUMBER.get(number)?.name ?? `Option ${number}`;
}

export function optionDefinition(number: number): Readonly<Definition> | undefined {
  return BY_NUMBER.get(number);
}

/** RFC 7252 §5.4.6: odd numbers are critical, bit 1 marks unsafe-to-forward, 0x1c NoCacheKey. */
export const isCritical = (number: number): boolean => (number & 1) === 1;
export const isUnsafe = (number: number): boolean => (number & 2) === 2;
export const isNoCacheKey = (number: number): boolean => (number & 0x1e) === 0x1c;

/**
 * The first critical option in a message that this implementation does not know, or one whose
 * length is out of its bounds or that is repeated without being repeatable (RFC 7252 §5.4.1,
 * §5.4.3, §5.4.5 treat all three alike).
 */
export function firstUnrecognizedCritical(options: readonly CoapOption[]): number | undefined {
  let previous = -1;
  for (const option of options) {
    if (!isCritical(option.number)) {
      previous = option.number;
      continue;
    }
    const definition = BY_NUMBER.get(option.number);
    if (
      !definition ||
      option.value.length < definition.min ||
      option.value.length > definition.max ||
      (!definition.repeatable && option.number === previous)
    )
      return option.number;
    previous = option.number;
  }
  return undefined;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** RFC 7252 §3.2: a uint is big-endian in as few bytes as possible; 0 is the empty value. */
export function encodeUint(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
    throw new RangeError(`option uint out of range: ${value}`);
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Uint8Array.from(bytes);
}

export function decodeUint(value: Uint8Array): number {
  if (value.length > 4) throw new CoapFormatError(`uint option of ${value.length} bytes`);
  let out = 0;
  for (const b of value) out = out * 256 + b;
  return out;
}

export const uintOption = (number: number, value: number): CoapOption => ({
  number,
  value: encodeUint(value),
});

export const stringOption = (number: number, value: string): CoapOption => ({
  number,
  value: textEncoder.encode(value),
});

/** Decodes a string option (UTF-8, RFC 7252 §3.2); malformed UTF-8 is a CoapFormatError. */
export function decodeString(value: Uint8Array): string {
  try {
    return textDecoder.decode(value);
  } catch (error) {
    throw new CoapFormatError('string option is not UTF-8', undefined, error);
  }
}

export function findOption(options: readonly CoapOption[], number: number): Uint8Array | undefined {
  for (const option of options) if (option.number === number) return option.value;
  return undefined;
}

export function findOptions(options: readonly CoapOption[], number: number): Uint8Array[] {
  return options.filter((o) => o.number === number).map((o) => o.value);
}

export function findUintOption(options: readonly CoapOption[], number: number): number | undefined {
  const value = findOption(options, number);
  return value === undefined ? undefined : decodeUint(value);
}

/** The options without those numbered `numbers` (e.g. a request's options minus Block1). */
export function withoutOptions(options: readonly CoapOption[], ...numbers: number[]): CoapOption[] {
  return options.filter((o) => !numbers.includes(o.number));
}
