// The CoAP message format (RFC 7252 §3): a 4-byte header, a token of 0-8 bytes, options in
// delta/length encoding, and a payload after the 0xFF marker. Pure functions, both directions.
import { CoapFormatError } from './errors.js';
import type { CoapOption } from './options.js';

export const MessageType = { CON: 0, NON: 1, ACK: 2, RST: 3 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];
export const MESSAGE_TYPE_NAMES = ['CON', 'NON', 'ACK', 'RST'] as const;

export interface CoapMessage {
  type: MessageType;
  /** class << 5 | detail: 0x01 GET, 0x45 2.05 Content, 0 Empty. */
  code: number;
  messageId: number;
  token: Uint8Array;
  /** In ascending option number (the decoder keeps the wire order; the encoder sorts stably). */
  options: readonly CoapOption[];
  payload: Uint8Array;
}

const VERSION = 1;
const PAYLOAD_MARKER = 0xff;
const MAX_TOKEN_LENGTH = 8; // RFC 7252 §3: lengths 9-15 are reserved
const MAX_OPTION_NUMBER = 0xffff;
const EMPTY = new Uint8Array(0);

/** An Empty message (code 0.00): ACK, RST, or a CON "ping" (RFC 7252 §4.1, §4.3). */
export function emptyMessage(type: MessageType, messageId: number): CoapMessage {
  return { type, code: 0, messageId, token: EMPTY, options: [], payload: EMPTY };
}

// RFC 7252 §3.1: 13 and 14 announce one or two extended bytes; 15 is reserved.
function nibble(value: number): number {
  return value < 13 ? value : value < 269 ? 13 : 14;
}

function extendedLength(value: number): number {
  return value < 13 ? 0 : value < 269 ? 1 : 2;
}

function writeExtended(out: Uint8Array, at: number, value: number): number {
  if (value >= 269) {
    out[at] = (value - 269) >> 8;
    out[at + 1] = (value - 269) & 0xff;
    return at + 2;
  }
  if (value >= 13) {
    out[at] = value - 13;
    return at + 1;
  }
  return at;
}

export function encodeMessage(message: CoapMessage): Uint8Array {
  const { type, code, messageId, token, payload } = message;
  if (!Number.isInteger(messageId) || messageId < 0 || messageId > 0xffff)
    throw new RangeError(`message ID out of range: ${messageId}`);
  if (!Number.isInteger(code) || code < 0 || code > 0xff) throw new RangeError(`code out of range: ${code}`);
  if (token.length > MAX_TOKEN_LENGTH) throw new RangeError(`token of ${token.length} bytes (at most 8)`);
  if (code === 0 && (token.length > 0 || message.options.length > 0 || payload.length > 0))
    throw new RangeError('an Empty message has no token, options or payload (RFC 7252 §4.1)');
  // Stable sort: repeated options keep their order (RFC 7252 §5.4.5).
  const options = [...message.options].sort((a, b) => a.number - b.number);
  let length = 4 + token.length + (payload.length > 0 ? 1 + payload.length : 0);
  let previous = 0;
  for (const option of options) {
    if (!Number.isInteger(option.number) || option.number < 0 || option.number > MAX_OPTION_NUMBER)
      throw new RangeError(`option number out of range: ${option.number}`);
    if (option.value.length > 0xffff + 269) throw new RangeError(`option ${option.number} value too long`);
    length += 1 + extendedLength(option.number - previous) + extendedLength(option.value.length);
    length += option.value.length;
    previous = option.number;
  }
  const out = new Uint8Array(length);
  out[0] = (VERSION << 6) | (type << 4) | token.length;
  out[1] = code;
  out[2] = messageId >> 8;
  out[3] = messageId & 0xff;
  out.set(token, 4);
  let at = 4 + token.length;
  previous = 0;
  for (const option of options) {
    const delta = option.number - previous;
    out[at++] = (nibble(delta) << 4) | nibble(option.value.length);
    at = writeExtended(out, at, delta);
    at = writeExtended(out, at, option.value.length);
    out.set(option.value, at);
    at += option.value.length;
    previous = option.number;
  }
  if (payload.length > 0) {
    out[at++] = PAYLOAD_MARKER;
    out.set(payload, at);
  }
  return out;
}

/**
 * Decodes one datagram. Every malformed input is a CoapFormatError (RFC 7252 §3, §4.1-4.3: reserved
 * token lengths and option nibbles, truncation, a payload marker with no payload, non-empty Empty
 * messages, an empty NON, a non-empty RST, a request in an ACK); nothing else is thrown. Token,
 * option values and payload are views into `datagram`.
 */
export function decodeMessage(datagram: Uint8Array): CoapMessage {
  if (datagram.length < 4) throw new CoapFormatError(`datagram of ${datagram.length} bytes (header is 4)`);
  const version = datagram[0]! >> 6;
  if (version !== VERSION) throw new CoapFormatError(`unknown version ${version}`); // §3: ignore silently
  const type = ((datagram[0]! >> 4) & 0x03) as MessageType;
  const messageId = (datagram[2]! << 8) | datagram[3]!;
  const header = { type, messageId };
  const fail = (reason: string): never => {
    throw new CoapFormatError(reason, header);
  };
  const tokenLength = datagram[0]! & 0x0f;
  const code = datagram[1]!;
  if (tokenLength > MAX_TOKEN_LENGTH) fail(`reserved token length ${tokenLength}`);
  if (code === 0) {
    if (datagram.length !== 4 || tokenLength !== 0) fail('an Empty message has bytes after its header');
    if (type === MessageType.NON) fail('an Empty message cannot be Non-confirmable');
    return emptyMessage(type, messageId);
  }
  if (type === MessageType.RST) fail('a Reset must be Empty');
  if (type === MessageType.ACK && code >> 5 === 0) fail('an Acknowledgement cannot carry a request');
  let at = 4 + tokenLength;
  if (at > datagram.length) fail('token runs past the datagram');
  const token = datagram.subarray(4, at);
  const options: CoapOption[] = [];
  let number = 0;
  let payload: Uint8Array = EMPTY;
  const readExtended = (n: number): number => {
    if (n === 13) {
      if (at + 1 > datagram.length) fail('option header runs past the datagram');
      return datagram[at++]! + 13;
    }
    if (n === 14) {
      if (at + 2 > datagram.length) fail('option header runs past the datagram');
      const value = ((datagram[at]! << 8) | datagram[at + 1]!) + 269;
      at += 2;
      return value;
    }
    if (n === 15) fail('reserved option nibble 15');
    return n;
  };
  while (at < datagram.length) {
    const byte = datagram[at++]!;
    if (byte === PAYLOAD_MARKER) {
      if (at === datagram.length) fail('payload marker without a payload');
      payload = datagram.subarray(at);
      break;
    }
    number += readExtended(byte >> 4);
    const length = readExtended(byte & 0x0f);
    if (number > MAX_OPTION_NUMBER) fail(`option number ${number} above 65535`);
    if (at + length > datagram.length) fail(`option ${number} value runs past the datagram`);
    options.push({ number, value: datagram.subarray(at, at + length) });
    at += length;
  }
  return { type, code, messageId, token, options, payload };
}
