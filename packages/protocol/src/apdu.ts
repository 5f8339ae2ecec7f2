// Command and response APDUs, short form only (ISO/IEC 7816-3 §12.1, 7816-4 §5.1): Lc ≤ 255, Ne ≤ 256.
import { concatBytes, FormatError } from './bytes.js';

export interface CommandApdu {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  /** Command data (Lc bytes); empty for cases 1 and 2. */
  data: Uint8Array;
  /** Ne, the number of bytes expected: 1..256 (Le byte 00 means 256); undefined for cases 1 and 3. */
  le?: number;
}

export interface ResponseApdu {
  data: Uint8Array;
  sw: number;
}

export const EMPTY = new Uint8Array(0);

export function command(
  cla: number,
  ins: number,
  p1: number,
  p2: number,
  data: Uint8Array = EMPTY,
  le?: number,
): CommandApdu {
  return le === undefined ? { cla, ins, p1, p2, data } : { cla, ins, p1, p2, data, le };
}

/** ISO 7816-3 §12.1.2 cases: 1 (header), 2 (Le), 3 (Lc data), 4 (Lc data Le). */
export function apduCase(apdu: CommandApdu): 1 | 2 | 3 | 4 {
  if (apdu.data.length === 0) return apdu.le === undefined ? 1 : 2;
  return apdu.le === undefined ? 3 : 4;
}

export function encodeCommandApdu(apdu: CommandApdu): Uint8Array {
  const { cla, ins, p1, p2, data, le } = apdu;
  for (const [name, v] of [
    ['CLA', cla],
    ['INS', ins],
    ['P1', p1],
    ['P2', p2],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new FormatError(`${name} ${v} is not a byte`);
  }
  if (data.length > 255) throw new FormatError(`command data of ${data.length} bytes needs extended APDUs`);
  if (le !== undefined && (!Number.isInteger(le) || le < 1 || le > 256)) {
    throw new FormatError(`Le ${le} is outside 1..256`);
  }
  const header = Uint8Array.of(cla, ins, p1, p2);
  const leByte = le === undefined ? EMPTY : Uint8Array.of(le & 0xff);
  if (data.length === 0) return concatBytes(header, leByte);
  return concatBytes(header, Uint8Array.of(data.length), data, leByte);
}

/** Why a byte string is not a short command APDU; the card answers it with 6700. */
export class ApduLengthError extends FormatError {
  override name = 'ApduLengthError';
}

/**
 * Parses a short command APDU. A 5-byte APDU is case 2 (P3 = Le); otherwise P3 = Lc and one optional
 * trailing byte is Le. Anything else is an ApduLengthError.
 */
export function parseCommandApdu(bytes: Uint8Array): CommandApdu {
  if (bytes.length < 4) throw new ApduLengthError(`APDU of ${bytes.length} bytes is shorter than a header`);
  const cla = bytes[0]!;
  const ins = bytes[1]!;
  const p1 = bytes[2]!;
  const p2 = bytes[3]!;
  if (bytes.length === 4) return { cla, ins, p1, p2, data: EMPTY };
  const p3 = bytes[4]!;
  if (bytes.length === 5) return { cla, ins, p1, p2, data: EMPTY, le: p3 === 0 ? 256 : p3 };
  if (p3 === 0) throw new ApduLengthError('Lc = 00 with data following (extended APDUs are not supported)');
  const data = bytes.subarray(5, 5 + p3);
  if (bytes.length === 5 + p3) return { cla, ins, p1, p2, data };
  if (bytes.length === 6 + p3) {
    const le = bytes[5 + p3]!;
    return { cla, ins, p1, p2, data, le: le === 0 ? 256 : le };
  }
  throw new ApduLengthError(`Lc ${p3} does not match the ${bytes.length - 5} bytes that follow the header`);
}

export function encodeResponseApdu(response: ResponseApdu): Uint8Array {
  const out = new Uint8Array(response.data.length + 2);
  out.set(response.data, 0);
  out[out.length - 2] = response.sw >> 8;
  out[out.length - 1] = response.sw & 0xff;
  return out;
}

export function parseResponseApdu(bytes: Uint8Array): ResponseApdu {
  if (bytes.length < 2) throw new FormatError(`response of ${bytes.length} bytes has no status word`);
  const n = bytes.length;
  return { data: bytes.subarray(0, n - 2), sw: (bytes[n - 2]! << 8) | bytes[n - 1]! };
}

// --- CLA byte: logical channel coding (ISO 7816-4 §5.4.1, ETSI TS 102 221 §10.1.1) ---

/** Highest logical channel a short CLA can address: 0–3 in the first, 4–19 in the further class. */
export const MAX_LOGICAL_CHANNEL = 19;

export type ClassKind = 'interindustry' | 'proprietary';

/** CLA for a channel: 0N/8N for channels 0–3, 4x/Cx (b4-b1 = channel − 4) for channels 4–19. */
export function claForChannel(channel: number, kind: ClassKind = 'interindustry'): number {
  if (!Number.isInteger(channel) || channel < 0 || channel > MAX_LOGICAL_CHANNEL) {
    throw new FormatError(`logical channel ${channel} is outside 0..${MAX_LOGICAL_CHANNEL}`);
  }
  const base = kind === 'proprietary' ? 0x80 : 0x00;
  return channel < 4 ? base | channel : base | 0x40 | (channel - 4);
}

export interface ClassInfo {
  kind: ClassKind;
  channel: number;
  /** Secure messaging indication (b4-b3 in the first class, b6 in the further class). */
  secureMessaging: boolean;
  /** Command chaining (b5). */
  chaining: boolean;
}

/** Decodes a CLA byte; undefined for FF and any class this card family does not define. */
export function decodeClass(cla: number): ClassInfo | undefined {
  if (cla === 0xff) return undefined;
  const kind: ClassKind = (cla & 0x80) !== 0 ? 'proprietary' : 'interindustry';
  // 001x xxxx is reserved for future use in ISO 7816-4; 101x xxxx is proprietary and not used here.
  if ((cla & 0x60) === 0x20) return undefined;
  const chaining = (cla & 0x10) !== 0;
  if ((cla & 0x40) !== 0) {
    return { kind, channel: 4 + (cla & 0x0f), secureMessaging: (cla & 0x20) !== 0, chaining };
  }
  return { kind, channel: cla & 0x03, secureMessaging: (cla & 0x0c) !== 0, chaining };
}

/** Same class byte, moved to another logical channel (used for GET RESPONSE and retries). */
export function withChannel(cla: number, channel: number): number {
  const info = decodeClass(cla);
  return claForChannel(channel, info?.kind ?? 'interindustry');
}
