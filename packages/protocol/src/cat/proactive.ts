// Proactive commands (TS 102 223 §6.6): D0 { 01 command details, 02 device identities, … }, and the
// TERMINAL RESPONSE that answers each (§6.8): command details echoed, device identities, result.
import { concatBytes, FormatError } from '../bytes.js';
import { CAT_TAG, CAT_TEMPLATE, DEVICE } from './constants.js';
import {
  type ComprehensionDecodeOptions,
  type ComprehensionTlv,
  decodeCatTemplate,
  decodeComprehensionTlvs,
  encodeCatTemplate,
  encodeComprehensionTlv,
  findCatTlv,
} from './tlv.js';

/** Command details (TS 102 223 §8.6): number, type and qualifier of a proactive command. */
export interface CommandDetails {
  number: number;
  type: number;
  qualifier: number;
}

export interface ProactiveCommand {
  details: CommandDetails;
  /** Device identities (§8.7): the UICC (81) to the terminal (82), a channel (21..27), the network (83). */
  source: number;
  destination: number;
  /** The other TLVs, in order. */
  tlvs: ComprehensionTlv[];
}

/** Largest proactive command: FETCH answers at most 256 bytes and the template must fit (TS 102 221). */
export const MAX_PROACTIVE_COMMAND = 255;

const detailsTlv = (d: CommandDetails, cr: boolean) =>
  encodeComprehensionTlv(CAT_TAG.COMMAND_DETAILS, Uint8Array.of(d.number, d.type, d.qualifier), cr);

/** D0 with command details, device identities and `body` (TLVs already encoded). */
export function encodeProactiveCommand(
  details: CommandDetails,
  destination: number,
  body: readonly Uint8Array[] = [],
  source: number = DEVICE.UICC,
): Uint8Array {
  const command = encodeCatTemplate(
    CAT_TEMPLATE.PROACTIVE_COMMAND,
    concatBytes(
      detailsTlv(details, true),
      encodeComprehensionTlv(CAT_TAG.DEVICE_IDENTITIES, Uint8Array.of(source, destination), true),
      ...body,
    ),
  );
  if (command.length > MAX_PROACTIVE_COMMAND)
    throw new FormatError(`a proactive command is at most ${MAX_PROACTIVE_COMMAND} bytes`);
  return command;
}

function detailsOf(tlvs: readonly ComprehensionTlv[], what: string): CommandDetails {
  const details = findCatTlv(tlvs, CAT_TAG.COMMAND_DETAILS)?.value;
  if (details?.length !== 3) throw new FormatError(`${what} without command details`);
  return { number: details[0]!, type: details[1]!, qualifier: details[2]! };
}

function devicesOf(tlvs: readonly ComprehensionTlv[], what: string): { source: number; destination: number } {
  const devices = findCatTlv(tlvs, CAT_TAG.DEVICE_IDENTITIES)?.value;
  if (devices?.length !== 2) throw new FormatError(`${what} without device identities`);
  return { source: devices[0]!, destination: devices[1]! };
}

/** A fetched proactive command; `lenient` accepts a cut last TLV (see ComprehensionDecodeOptions). */
export function decodeProactiveCommand(
  bytes: Uint8Array,
  options: ComprehensionDecodeOptions = {},
): ProactiveCommand {
  const { tag, body } = decodeCatTemplate(bytes);
  if (tag !== CAT_TEMPLATE.PROACTIVE_COMMAND) throw new FormatError('not a proactive command (tag D0)');
  const all = decodeComprehensionTlvs(body, options);
  const details = detailsOf(all, 'a proactive command');
  const devices = devicesOf(all, 'a proactive command');
  const tlvs = all.filter((t) => t.tag !== CAT_TAG.COMMAND_DETAILS && t.tag !== CAT_TAG.DEVICE_IDENTITIES);
  return { details, ...devices, tlvs };
}

/** Result (TS 102 223 §8.12): the general result and its additional information. */
export interface CatResult {
  general: number;
  additional?: Uint8Array;
}

export interface TerminalResponse {
  details: CommandDetails;
  result: CatResult;
  /** Device identities when present (terminal 82 → UICC 81). */
  source?: number;
  destination?: number;
  /** The TLVs after the result. */
  tlvs: ComprehensionTlv[];
}

/**
 * TERMINAL RESPONSE data (§6.8): details as received, 82 → 81, result, then `body`. The tags go without
 * the CR flag, as the real terminals' responses in public traces do (`01 03 01 40 01 02 02 82 81 03 01 00`).
 */
export function encodeTerminalResponse(
  details: CommandDetails,
  result: CatResult,
  body: readonly Uint8Array[] = [],
): Uint8Array {
  return concatBytes(
    detailsTlv(details, false),
    encodeComprehensionTlv(CAT_TAG.DEVICE_IDENTITIES, Uint8Array.of(DEVICE.TERMINAL, DEVICE.UICC)),
    encodeComprehensionTlv(
      CAT_TAG.RESULT,
      concatBytes(Uint8Array.of(result.general), result.additional ?? new Uint8Array(0)),
    ),
    ...body,
  );
}

export function decodeTerminalResponse(
  data: Uint8Array,
  options: ComprehensionDecodeOptions = {},
): TerminalResponse {
  const all = decodeComprehensionTlvs(data, options);
  const details = detailsOf(all, 'a TERMINAL RESPONSE');
  const result = findCatTlv(all, CAT_TAG.RESULT)?.value;
  if (!result || result.length === 0) throw new FormatError('a TERMINAL RESPONSE without a result');
  const devices = findCatTlv(all, CAT_TAG.DEVICE_IDENTITIES)?.value;
  return {
    details,
    result: {
      general: result[0]!,
      ...(result.length > 1 ? { additional: result.slice(1) } : {}),
    },
    ...(devices?.length === 2 ? { source: devices[0]!, destination: devices[1]! } : {}),
    tlvs: all.filter(
      (t) =>
        t.tag !== CAT_TAG.COMMAND_DETAILS && t.tag !== CAT_TAG.DEVICE_IDENTITIES && t.tag !== CAT_TAG.RESULT,
    ),
  };
}

/** The TERMINAL RESPONSE APDU (TS 102 221 §10.1.8 / TS 102 223): 80 14 00 00 Lc data. */
export function terminalResponseApdu(data: Uint8Array, cla = 0x80): Uint8Array {
  if (data.length > 255) throw new FormatError('a TERMINAL RESPONSE is at most 255 bytes');
  return concatBytes(Uint8Array.of(cla, 0x14, 0x00, 0x00, data.length), data);
}

/** FETCH (80 12 00 00 Le): asks for the proactive command a 91xx announced. */
export const fetchApdu = (length: number, cla = 0x80) => Uint8Array.of(cla, 0x12, 0x00, 0x00, length & 0xff);
