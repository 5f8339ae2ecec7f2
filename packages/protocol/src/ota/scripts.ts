// Remote command structures of ETSI TS 102 226 §5.1 and §5.2: the compact format (C-APDUs
// back to back; the response is count ‖ last SW ‖ last data) and the expanded format (command scripting
// template AA/AE of C-APDU TLVs 22; response template AB/AF of R-APDU TLVs 23), with BER lengths.
import { type CommandApdu, encodeCommandApdu } from '../apdu.js';
import { concatBytes, FormatError } from '../bytes.js';
import { buildInstallForPersonalization, storeDataBlocks } from '../gp/commands.js';
import { decodeBerTlvs, encodeBerLength, encodeBerTlv } from '../tlv.js';

/**
 * Splits a compact script into C-APDUs. P3 is Le for READ BINARY/RECORD, GET RESPONSE, GET DATA and
 * FETCH; otherwise it is Lc followed by that many bytes (TS 102 226 §5.1.1).
 */
export function decodeCompactScript(script: Uint8Array, isCase2 = isCase2Instruction): Uint8Array[] {
  const commands: Uint8Array[] = [];
  for (let at = 0; at < script.length; ) {
    if (at + 5 > script.length) throw new FormatError(`a C-APDU at offset ${at} is shorter than 5 bytes`);
    const ins = script[at + 1]!;
    const length = isCase2(ins) ? 5 : 5 + script[at + 4]!;
    if (at + length > script.length) throw new FormatError(`the C-APDU at offset ${at} runs past the script`);
    commands.push(script.slice(at, at + length));
    at += length;
  }
  return commands;
}

/** Instructions whose P3 is Le, not Lc, in a compact script (case 2: no command data). */
export function isCase2Instruction(ins: number): boolean {
  return ins === 0xb0 || ins === 0xb2 || ins === 0xc0 || ins === 0xca || ins === 0x12;
}

export interface CompactResponse {
  executed: number;
  /** Status word of the last command executed. */
  sw: number;
  data: Uint8Array;
}

export const encodeCompactResponse = (r: CompactResponse): Uint8Array =>
  concatBytes(Uint8Array.of(r.executed, r.sw >> 8, r.sw & 0xff), r.data);

export function decodeCompactResponse(bytes: Uint8Array): CompactResponse {
  if (bytes.length < 3) throw new FormatError('a compact response is at least 3 bytes');
  return { executed: bytes[0]!, sw: (bytes[1]! << 8) | bytes[2]!, data: bytes.slice(3) };
}

export const TAG_SCRIPT_DEFINITE = 0xaa;
export const TAG_SCRIPT_INDEFINITE = 0xae;
export const TAG_RESPONSE_DEFINITE = 0xab;
export const TAG_RESPONSE_INDEFINITE = 0xaf;
const TAG_C_APDU = 0x22;
const TAG_R_APDU = 0x23;
const TAG_EXECUTED = 0x80;
const TAG_BAD_FORMAT = 0x90;

/** An expanded command script: AA (definite length) or AE 80 … 00 00 (indefinite, as HTTPS uses). */
export function encodeExpandedScript(commands: readonly Uint8Array[], indefinite = false): Uint8Array {
  const body = concatBytes(...commands.map((c) => encodeBerTlv(TAG_C_APDU, c)));
  return indefinite
    ? concatBytes(Uint8Array.of(TAG_SCRIPT_INDEFINITE, 0x80), body, Uint8Array.of(0, 0))
    : concatBytes(Uint8Array.of(TAG_SCRIPT_DEFINITE), encodeBerLength(body.length), body);
}

/** The TLVs inside an AA/AE or AB/AF template, whichever length form it uses. */
function templateBody(bytes: Uint8Array, definite: number, indefinite: number): Uint8Array {
  const tag = bytes[0];
  if (tag === indefinite && bytes[1] === 0x80) {
    if (bytes.length < 4 || bytes[bytes.length - 1] !== 0 || bytes[bytes.length - 2] !== 0)
      throw new FormatError('an indefinite-length template must end 00 00');
    return bytes.subarray(2, bytes.length - 2);
  }
  const [tlv, ...rest] = decodeBerTlvs(bytes);
  if (!tlv || tlv.tag !== definite || rest.length) throw new FormatError('not an expanded remote template');
  return tlv.value;
}

/** The C-APDUs of an expanded script; the CR bit is tolerated (A2 as 22). Other TLVs are skipped. */
export function decodeExpandedScript(bytes: Uint8Array): Uint8Array[] {
  const body = templateBody(bytes, TAG_SCRIPT_DEFINITE, TAG_SCRIPT_INDEFINITE);
  return decodeBerTlvs(body)
    .filter((t) => (t.tag & 0x7f) === TAG_C_APDU)
    .map((t) => t.value);
}

export interface ExpandedResponse {
  executed: number;
  /** R-APDUs (data ‖ SW) of the commands, in order. */
  responses: Uint8Array[];
  /** Bad format error type (TLV 90), when the script could not be read. */
  badFormat?: number;
}

export function encodeExpandedResponse(r: ExpandedResponse, indefinite = false): Uint8Array {
  const body = concatBytes(
    encodeBerTlv(TAG_EXECUTED, Uint8Array.of(r.executed)),
    ...r.responses.map((rapdu) => encodeBerTlv(TAG_R_APDU, rapdu)),
    ...(r.badFormat === undefined ? [] : [encodeBerTlv(TAG_BAD_FORMAT, Uint8Array.of(r.badFormat))]),
  );
  return indefinite
    ? concatBytes(Uint8Array.of(TAG_RESPONSE_INDEFINITE, 0x80), body, Uint8Array.of(0, 0))
    : concatBytes(Uint8Array.of(TAG_RESPONSE_DEFINITE), encodeBerLength(body.length), body);
}

export function decodeExpandedResponse(bytes: Uint8Array): ExpandedResponse {
  const tlvs = decodeBerTlvs(templateBody(bytes, TAG_RESPONSE_DEFINITE, TAG_RESPONSE_INDEFINITE));
  const executed = tlvs.find((t) => t.tag === TAG_EXECUTED)?.value[0];
  if (executed === undefined) throw new FormatError('an expanded response without the executed count (80)');
  const badFormat = tlvs.find((t) => t.tag === TAG_BAD_FORMAT)?.value[0];
  return {
    executed,
    responses: tlvs.filter((t) => (t.tag & 0x7f) === TAG_R_APDU).map((t) => t.value),
    ...(badFormat === undefined ? {} : { badFormat }),
  };
}

/** Which format the (deciphered) secured data uses, from its first byte (ETSI TS 102 226 §5). */
export function scriptFormat(data: Uint8Array): 'expanded' | 'admin-trigger' | 'compact' {
  const first = data[0];
  if (first === TAG_SCRIPT_DEFINITE || first === TAG_SCRIPT_INDEFINITE) return 'expanded';
  if (first === 0x81) return 'admin-trigger';
  return 'compact';
}

/** A C-APDU as a compact script carries it: no Le (P3 is Lc; data comes back with GET RESPONSE). */
export function encodeCompactCommand(apdu: CommandApdu): Uint8Array {
  return encodeCommandApdu({ ...apdu, le: undefined });
}

/**
 * The RAM script that personalises an applet over the air: INSTALL [for personalization] of `aid`,
 * then the STORE DATA blocks of `data` (for the IoT SAFE applet, an encodePersoScript result).
 */
export function compactPersonalizationScript(aid: Uint8Array, data: Uint8Array, blockSize = 200): Uint8Array {
  return concatBytes(
    encodeCompactCommand(buildInstallForPersonalization(aid)),
    ...storeDataBlocks(data, blockSize).map(encodeCompactCommand),
  );
}
