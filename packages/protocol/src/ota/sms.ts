// SMS-PP for OTA (3GPP TS 31.115 §4, TS 31.111 §7.1): SMS-DELIVER and SMS-SUBMIT TPDUs (3GPP TS 23.040 §9.2.2),
// the user data header with the command/response packet identifiers (IEI 70/71) and concatenation
// (IEI 00 8-bit, IEI 08 16-bit references), splitting and reassembly, and the ENVELOPE (SMS-PP DATA
// DOWNLOAD, TS 31.111 §7.1) that carries an SMS-DELIVER to the card.
import { concatBytes, FormatError } from '../bytes.js';
import { decodeBerTlvs, encodeBerTlv, findTlv } from '../tlv.js';

export interface Address {
  /** Digits 0-9 (and * # a b c as in TS 23.040 semi-octets). */
  digits: string;
  /** Type of number and numbering plan: 81 unknown/ISDN, 91 international/ISDN. */
  toa: number;
}

const SEMI_OCTETS = '0123456789*#abc';

function encodeSemiOctets(digits: string): Uint8Array {
  const out = new Uint8Array(Math.ceil(digits.length / 2)).fill(0xff);
  for (let i = 0; i < digits.length; i++) {
    const nibble = SEMI_OCTETS.indexOf(digits[i]!.toLowerCase());
    if (nibble < 0) throw new FormatError(`"${digits[i]}" is not an address digit`);
    const at = i >> 1;
    out[at] = i % 2 === 0 ? (out[at]! & 0xf0) | nibble : (out[at]! & 0x0f) | (nibble << 4);
  }
  return out;
}

function decodeSemiOctets(bytes: Uint8Array, count: number): string {
  let digits = '';
  for (let i = 0; i < count; i++) {
    const nibble = i % 2 === 0 ? bytes[i >> 1]! & 0x0f : bytes[i >> 1]! >> 4;
    digits += SEMI_OCTETS[nibble] ?? '?';
  }
  return digits;
}

/** TP-OA / TP-DA: length in digits, TOA, swapped BCD padded with F. */
export function encodeAddress(address: Address): Uint8Array {
  if (address.digits.length > 20) throw new FormatError('an address has at most 20 digits');
  return concatBytes(Uint8Array.of(address.digits.length, address.toa), encodeSemiOctets(address.digits));
}

function decodeAddress(tpdu: Uint8Array, at: number): { address: Address; next: number } {
  const count = tpdu[at];
  const toa = tpdu[at + 1];
  if (count === undefined || toa === undefined || count > 20)
    throw new FormatError('truncated or oversized address');
  const bytes = Math.ceil(count / 2);
  if (at + 2 + bytes > tpdu.length) throw new FormatError('truncated address');
  return { address: { digits: decodeSemiOctets(tpdu.subarray(at + 2), count), toa }, next: at + 2 + bytes };
}

/** TP-PID (U)SIM data download (TS 23.040 §9.2.3.9). */
export const PID_SIM_DATA_DOWNLOAD = 0x7f;
/** TP-DCS group 1111, 8-bit data, class 2 "(U)SIM specific" (TS 23.038 §4). */
export const DCS_8BIT_CLASS2 = 0xf6;
/** TP-DCS general data coding, 8-bit data, class 2 (TS 23.038 §4, group 00x1). */
export const DCS_8BIT_CLASS2_GENERAL = 0x16;
/** TP-DCS general data coding, 8-bit data, no class: a handset stores it, the SIM never sees it. */
export const DCS_8BIT = 0x04;

/** TP-TOA (TS 23.040 §9.1.2.5): 1, type of number (3 bits), numbering plan (4 bits). */
export const TON_UNKNOWN = 0;
export const TON_INTERNATIONAL = 1;
export const NPI_UNKNOWN = 0;
export const NPI_ISDN = 1;
export const toaOf = (ton: number, npi: number): number => 0x80 | ((ton & 0x07) << 4) | (npi & 0x0f);
/** Unknown type of number, ISDN/telephony plan (E.164). */
export const TOA_UNKNOWN_ISDN = toaOf(TON_UNKNOWN, NPI_ISDN);
/** International number, ISDN/telephony plan (E.164). */
export const TOA_INTERNATIONAL_ISDN = toaOf(TON_INTERNATIONAL, NPI_ISDN);

export interface DataCoding {
  alphabet: 'gsm7' | '8bit' | 'ucs2' | 'reserved';
  /** Message class 0–3 where the DCS gives one (class 2: (U)SIM specific). */
  messageClass?: 0 | 1 | 2 | 3;
  compressed: boolean;
}

const ALPHABETS = ['gsm7', '8bit', 'ucs2', 'reserved'] as const;

/** Reads a TP-DCS byte by its coding groups (TS 23.038 §4). */
export function decodeDataCoding(dcs: number): DataCoding {
  const group = dcs >> 4;
  const messageClass = (dcs & 0x03) as 0 | 1 | 2 | 3;
  if (group <= 0x7) {
    // 00xx general data coding, 01xx the same marked for automatic deletion
    return {
      alphabet: ALPHABETS[(dcs >> 2) & 0x03]!,
      ...(dcs & 0x10 ? { messageClass } : {}),
      compressed: (dcs & 0x20) !== 0,
    };
  }
  if (group === 0xf) {
    if (dcs & 0x08) return { alphabet: 'reserved', compressed: false };
    return { alphabet: dcs & 0x04 ? '8bit' : 'gsm7', messageClass, compressed: false };
  }
  if (group === 0xc || group === 0xd) return { alphabet: 'gsm7', compressed: false }; // message waiting
  if (group === 0xe) return { alphabet: 'ucs2', compressed: false };
  return { alphabet: 'reserved', compressed: false }; // 1000–1011
}

/**
 * Whether a handset hands this short message to the (U)SIM as SMS-PP data download: PID 7F and a
 * class 2 DCS (TS 31.111 §7.1.1, TS 23.038 §4); anything else lands in the handset's inbox.
 */
export function reachesSim(pid: number, dcs: number): boolean {
  const coding = decodeDataCoding(dcs);
  return pid === PID_SIM_DATA_DOWNLOAD && coding.messageClass === 2;
}

/** Whether OTA user data (8-bit, uncompressed) reaches the SIM unchanged with this DCS. */
export function isOtaDataCoding(dcs: number): boolean {
  const coding = decodeDataCoding(dcs);
  return coding.alphabet === '8bit' && coding.messageClass === 2 && !coding.compressed;
}

export interface SmsDeliver {
  /** TP-MTI 00 plus flags; the UDHI bit (40) is set from the user data. Default 40 as pySim sends. */
  firstOctet?: number;
  originator: Address;
  pid: number;
  dcs: number;
  /** TP-SCTS, 7 semi-octet bytes. */
  timestamp: Uint8Array;
  userData: Uint8Array;
  userDataHeader: boolean;
}

export function encodeSmsDeliver(sms: SmsDeliver): Uint8Array {
  if (sms.timestamp.length !== 7) throw new FormatError('TP-SCTS is 7 bytes');
  if (sms.userData.length > 140) throw new FormatError('8-bit user data is at most 140 bytes');
  const firstOctet = ((sms.firstOctet ?? 0x40) & ~0x43) | (sms.userDataHeader ? 0x40 : 0);
  return concatBytes(
    Uint8Array.of(firstOctet),
    encodeAddress(sms.originator),
    Uint8Array.of(sms.pid, sms.dcs),
    sms.timestamp,
    Uint8Array.of(sms.userData.length),
    sms.userData,
  );
}

/** Reads an SMS-DELIVER with 8-bit user data (the only coding OTA uses). */
export function decodeSmsDeliver(tpdu: Uint8Array): Required<SmsDeliver> {
  const firstOctet = tpdu[0];
  if (firstOctet === undefined || (firstOctet & 0x03) !== 0x00) throw new FormatError('not an SMS-DELIVER');
  const { address, next } = decodeAddress(tpdu, 1);
  if (next + 10 > tpdu.length) throw new FormatError('truncated SMS-DELIVER');
  const length = tpdu[next + 9]!;
  const userData = tpdu.slice(next + 10);
  if (length !== userData.length)
    throw new FormatError(`TP-UDL ${length} but ${userData.length} bytes of user data`);
  return {
    firstOctet,
    originator: address,
    pid: tpdu[next]!,
    dcs: tpdu[next + 1]!,
    timestamp: tpdu.slice(next + 2, next + 9),
    userData,
    userDataHeader: (firstOctet & 0x40) !== 0,
  };
}

export interface SmsSubmit {
  messageReference: number;
  destination: Address;
  pid: number;
  dcs: number;
  userData: Uint8Array;
  userDataHeader: boolean;
}

/** SMS-SUBMIT without validity period: 41 MR DA PID DCS UDL UD (3GPP TS 23.040 §9.2.2.2). */
export function encodeSmsSubmit(sms: SmsSubmit): Uint8Array {
  if (sms.userData.length > 140) throw new FormatError('8-bit user data is at most 140 bytes');
  return concatBytes(
    Uint8Array.of(0x01 | (sms.userDataHeader ? 0x40 : 0), sms.messageReference & 0xff),
    encodeAddress(sms.destination),
    Uint8Array.of(sms.pid, sms.dcs, sms.userData.length),
    sms.userData,
  );
}

export function decodeSmsSubmit(tpdu: Uint8Array): SmsSubmit {
  const firstOctet = tpdu[0];
  if (firstOctet === undefined || (firstOctet & 0x03) !== 0x01) throw new FormatError('not an SMS-SUBMIT');
  if (tpdu.length < 2) throw new FormatError('truncated SMS-SUBMIT');
  const { address, next } = decodeAddress(tpdu, 2);
  const vpLength = [0, 7, 1, 7][(firstOctet >> 3) & 0x03]!; // TP-VPF: none, enhanced, relative, absolute
  const at = next + 2 + vpLength;
  if (at + 1 > tpdu.length) throw new FormatError('truncated SMS-SUBMIT');
  const userData = tpdu.slice(at + 1);
  if (tpdu[at] !== userData.length)
    throw new FormatError(`TP-UDL ${tpdu[at]} but ${userData.length} bytes of user data`);
  return {
    messageReference: tpdu[1]!,
    destination: address,
    pid: tpdu[next]!,
    dcs: tpdu[next + 1]!,
    userData,
    userDataHeader: (firstOctet & 0x40) !== 0,
  };
}

export interface InformationElement {
  iei: number;
  data: Uint8Array;
}

export function encodeUserDataHeader(elements: readonly InformationElement[]): Uint8Array {
  const body = concatBytes(...elements.map((e) => concatBytes(Uint8Array.of(e.iei, e.data.length), e.data)));
  if (body.length > 0xff) throw new FormatError('user data header too long');
  return concatBytes(Uint8Array.of(body.length), body);
}

/** Splits user data (with TP-UDHI set) into its header elements and the rest. */
export function decodeUserDataHeader(userData: Uint8Array): {
  elements: InformationElement[];
  body: Uint8Array;
} {
  const length = userData[0];
  if (length === undefined || 1 + length > userData.length)
    throw new FormatError('user data header longer than the user data');
  const elements: InformationElement[] = [];
  for (let at = 1; at < 1 + length; ) {
    const iei = userData[at]!;
    const size = userData[at + 1];
    if (size === undefined || at + 2 + size > 1 + length)
      throw new FormatError(`information element ${iei} overruns the header`);
    elements.push({ iei, data: userData.slice(at + 2, at + 2 + size) });
    at += 2 + size;
  }
  return { elements, body: userData.slice(1 + length) };
}

export const IEI_CONCATENATED_8BIT = 0x00;
export const IEI_CONCATENATED_16BIT = 0x08;
export const IEI_COMMAND_PACKET = 0x70;
export const IEI_RESPONSE_PACKET = 0x71;

export interface Concatenation {
  reference: number;
  total: number;
  sequence: number;
}

/** The concatenation element of a header, if any; a FormatError for a zero or inconsistent one. */
export function concatenationOf(elements: readonly InformationElement[]): Concatenation | undefined {
  const element = elements.find((e) => e.iei === IEI_CONCATENATED_8BIT || e.iei === IEI_CONCATENATED_16BIT);
  if (!element) return undefined;
  const wide = element.iei === IEI_CONCATENATED_16BIT;
  if (element.data.length !== (wide ? 4 : 3))
    throw new FormatError('a concatenation element of the wrong size');
  const d = element.data;
  const [reference, total, sequence] = wide ? [(d[0]! << 8) | d[1]!, d[2]!, d[3]!] : [d[0]!, d[1]!, d[2]!];
  if (total === 0 || sequence === 0 || sequence > total)
    throw new FormatError(`concatenation part ${sequence} of ${total} is not valid`);
  return { reference, total, sequence };
}

/**
 * The user data of the SMS that carry a command packet: one SMS up to 137 bytes, else concatenated
 * parts with the concatenation element first and the CPI in the first part only (3GPP TS 23.040 §9.2.3.24.1).
 */
export function commandPacketUserData(
  packet: Uint8Array,
  reference = 0,
  options: { wideReference?: boolean } = {},
): Uint8Array[] {
  const cpi: InformationElement = { iei: IEI_COMMAND_PACKET, data: new Uint8Array(0) };
  if (packet.length <= 137) return [concatBytes(encodeUserDataHeader([cpi]), packet)];
  const concat = (total: number, sequence: number): InformationElement =>
    options.wideReference
      ? {
          iei: IEI_CONCATENATED_16BIT,
          data: Uint8Array.of(reference >> 8, reference & 0xff, total, sequence),
        }
      : { iei: IEI_CONCATENATED_8BIT, data: Uint8Array.of(reference & 0xff, total, sequence) };
  const headerSize = (first: boolean) => encodeUserDataHeader([concat(1, 1), ...(first ? [cpi] : [])]).length;
  const pieces: Uint8Array[] = [];
  for (let at = 0, first = true; at < packet.length; first = false) {
    const room = 140 - headerSize(first);
    pieces.push(packet.subarray(at, at + room));
    at += room;
  }
  if (pieces.length > 255) throw new FormatError('a command packet needs more than 255 SMS');
  return pieces.map((piece, n) =>
    concatBytes(encodeUserDataHeader([concat(pieces.length, n + 1), ...(n === 0 ? [cpi] : [])]), piece),
  );
}

/**
 * Puts concatenated SMS back together: parts may come twice or out of order; a part that disagrees
 * with the ones before it (a different total) is an error. Keyed by originator and reference.
 */
export class SmsReassembler {
  private readonly pending = new Map<
    string,
    { total: number; parts: Map<number, Uint8Array>; firstElements?: InformationElement[] }
  >();

  constructor(private readonly maxPending = 16) {}

  /** Returns the whole body (and the first part's header elements) once the last part is in. */
  add(
    originator: string,
    elements: readonly InformationElement[],
    body: Uint8Array,
  ): { elements: InformationElement[]; body: Uint8Array } | undefined {
    const concat = concatenationOf(elements);
    if (!concat) return { elements: [...elements], body };
    const key = `${originator}/${concat.reference}`;
    let entry = this.pending.get(key);
    if (entry && entry.total !== concat.total) {
      this.pending.delete(key);
      throw new FormatError(
        `part ${concat.sequence} says ${concat.total} parts, earlier parts said ${entry.total}`,
      );
    }
    if (!entry) {
      if (this.pending.size >= this.maxPending) this.pending.delete(this.pending.keys().next().value!);
      entry = { total: concat.total, parts: new Map() };
      this.pending.set(key, entry);
    }
    if (!entry.parts.has(concat.sequence)) entry.parts.set(concat.sequence, body); // a duplicate changes nothing
    if (concat.sequence === 1)
      entry.firstElements = elements.filter(
        (e) => e.iei !== IEI_CONCATENATED_8BIT && e.iei !== IEI_CONCATENATED_16BIT,
      );
    if (entry.parts.size < entry.total) return undefined;
    this.pending.delete(key);
    const parts = [...Array(entry.total)].map((_, n) => entry.parts.get(n + 1)!);
    return { elements: entry.firstElements ?? [], body: concatBytes(...parts) };
  }

  /** Concatenations still waiting for parts. */
  get waiting(): number {
    return this.pending.size;
  }
}

/** ENVELOPE (SMS-PP DATA DOWNLOAD): D1 { 82 83 81, [06 SC address], 8B SMS-DELIVER } (TS 31.111 §7.1.1). */
export function encodeSmsPpDownload(
  tpdu: Uint8Array,
  options: { cla?: number; serviceCentre?: Address } = {},
): Uint8Array {
  const parts = [encodeBerTlv(0x82, Uint8Array.of(0x83, 0x81))];
  if (options.serviceCentre) parts.push(encodeBerTlv(0x06, encodeAddress(options.serviceCentre).subarray(1)));
  parts.push(encodeBerTlv(0x8b, tpdu));
  const data = encodeBerTlv(0xd1, concatBytes(...parts));
  if (data.length > 255) throw new FormatError('an SMS-PP download ENVELOPE is at most 255 bytes');
  return concatBytes(Uint8Array.of(options.cla ?? 0x80, 0xc2, 0x00, 0x00, data.length), data);
}

/** The SMS-DELIVER TPDU from the data of an SMS-PP download ENVELOPE. */
export function decodeSmsPpDownload(envelopeData: Uint8Array): Uint8Array {
  const [top] = decodeBerTlvs(envelopeData);
  if (top?.tag !== 0xd1) throw new FormatError('not an SMS-PP download (tag D1)');
  const tpdu = findTlv(decodeBerTlvs(top.value), 0x8b) ?? findTlv(decodeBerTlvs(top.value), 0x0b);
  if (!tpdu) throw new FormatError('SMS-PP download without an SMS TPDU (tag 8B)');
  return tpdu.value;
}

/**
 * The proactive command SEND SHORT MESSAGE (TS 102 223 §6.6.9) that carries a PoR as an SMS-SUBMIT
 * (a PoR by SMS-SUBMIT, 3GPP TS 31.115 §4): command details 01 13 00, UICC → network, an empty alpha identifier.
 */
export function encodeSendShortMessage(submitTpdu: Uint8Array): Uint8Array {
  return encodeBerTlv(
    0xd0,
    concatBytes(
      encodeBerTlv(0x81, Uint8Array.of(0x01, 0x13, 0x00)),
      encodeBerTlv(0x82, Uint8Array.of(0x81, 0x83)),
      encodeBerTlv(0x05, new Uint8Array(0)),
      encodeBerTlv(0x8b, submitTpdu),
    ),
  );
}

/** The SMS-SUBMIT TPDU of a SEND SHORT MESSAGE (tags with or without the comprehension-required bit). */
export function decodeSendShortMessage(command: Uint8Array): Uint8Array {
  const [top] = decodeBerTlvs(command);
  if (top?.tag !== 0xd0) throw new FormatError('not a proactive command (tag D0)');
  const inner = decodeBerTlvs(top.value);
  const details = inner.find((t) => (t.tag & 0x7f) === 0x01);
  if (details?.value[1] !== 0x13) throw new FormatError('not SEND SHORT MESSAGE');
  const tpdu = inner.find((t) => (t.tag & 0x7f) === 0x0b);
  if (!tpdu) throw new FormatError('SEND SHORT MESSAGE without an SMS TPDU');
  return tpdu.value;
}
