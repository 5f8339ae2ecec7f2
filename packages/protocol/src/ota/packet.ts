// SCP80 secured packets in the SMS-PP dialect (ETSI TS 102 225 §5, 3GPP TS 31.115 §4.1
// and §4.2): the command packet after the UDH (CPL CHL SPI KIc KID TAR | CNTR PCNTR
// RC/CC/DS data padding) and the response packet (PoR) with its UDH (02 71 00 RPL RHL TAR | CNTR PCNTR
// STATUS RC/CC/DS data padding). Sans I/O: keys come in, bytes go out.
import { concatBytes, constantTimeEqual, equalBytes, FormatError, readU16be, u16be } from '../bytes.js';
import {
  type ChecksumAlgorithm,
  type CipherAlgorithm,
  checksumAlgorithm,
  cipherAlgorithm,
  cipherBlockSize,
  crc16,
  crc32,
  cryptographicChecksum,
  OtaUnsupportedError,
  otaDecrypt,
  otaEncrypt,
  redundancyAlgorithm,
} from './algorithms.js';

export type CounterMode = 'none' | 'available' | 'higher' | 'next';
export type Integrity = 'none' | 'rc' | 'cc' | 'ds';
export type PorRequest = 'none' | 'always' | 'onError';

/** The Security Parameter Indicator (TS 102 225 §5.1.1). */
export interface Spi {
  counter: CounterMode;
  ciphered: boolean;
  integrity: Integrity;
  por: PorRequest;
  porIntegrity: Integrity;
  porCiphered: boolean;
  /** TS 31.115: the PoR goes back in an SMS-SUBMIT instead of the SMS-DELIVER-REPORT. */
  porViaSubmit: boolean;
}

const INTEGRITY: Integrity[] = ['none', 'rc', 'cc', 'ds'];
const COUNTER: CounterMode[] = ['none', 'available', 'higher', 'next'];

export function decodeSpi(spi: Uint8Array): Spi {
  if (spi.length !== 2) throw new FormatError('an SPI is 2 bytes');
  const [first, second] = [spi[0]!, spi[1]!];
  const por = second & 0x03;
  if (por === 0x03) throw new OtaPacketError(0x06, 'SPI2 asks for a reserved PoR mode (11)');
  return {
    integrity: INTEGRITY[first & 0x03]!,
    ciphered: (first & 0x04) !== 0,
    counter: COUNTER[(first >> 3) & 0x03]!,
    por: (['none', 'always', 'onError'] as const)[por]!,
    porIntegrity: INTEGRITY[(second >> 2) & 0x03]!,
    porCiphered: (second & 0x10) !== 0,
    porViaSubmit: (second & 0x20) !== 0,
  };
}

export function encodeSpi(spi: Spi): Uint8Array {
  return Uint8Array.of(
    INTEGRITY.indexOf(spi.integrity) | (spi.ciphered ? 0x04 : 0) | (COUNTER.indexOf(spi.counter) << 3),
    ['none', 'always', 'onError'].indexOf(spi.por) |
      (INTEGRITY.indexOf(spi.porIntegrity) << 2) |
      (spi.porCiphered ? 0x10 : 0) |
      (spi.porViaSubmit ? 0x20 : 0),
  );
}

/** Response status codes (TS 102 225 Table 5.5, TS 31.115 additions). */
export const POR_STATUS = {
  ok: 0x00,
  integrityFailed: 0x01,
  counterLow: 0x02,
  counterHigh: 0x03,
  counterBlocked: 0x04,
  cipheringError: 0x05,
  unidentifiedSecurityError: 0x06,
  insufficientMemory: 0x07,
  moreTime: 0x08,
  tarUnknown: 0x09,
  insufficientSecurityLevel: 0x0a,
  responseViaSubmit: 0x0b,
  responseViaUssd: 0x0c,
} as const;

const STATUS_TEXT: Record<number, string> = {
  0: 'PoR OK',
  1: 'RC/CC/DS failed',
  2: 'CNTR low',
  3: 'CNTR high',
  4: 'CNTR blocked',
  5: 'ciphering error',
  6: 'unidentified security error',
  7: 'insufficient memory to process incoming message',
  8: 'more time needed',
  9: 'TAR unknown',
  10: 'insufficient security level',
  11: 'actual response data sent using SMS-SUBMIT',
  12: 'actual response data sent using USSD',
};

export const porStatusText = (status: number): string =>
  STATUS_TEXT[status] ?? `reserved or proprietary status ${status.toString(16).padStart(2, '0')}`;

/** A packet the receiving entity refuses, with the PoR status it answers. */
export class OtaPacketError extends Error {
  override name = 'OtaPacketError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`${porStatusText(status)}: ${message}`);
  }
}

/** The keys of one SCP80 key set: KIc ciphers, KID computes the CC (unused for RC). */
export interface OtaKeys {
  kic?: Uint8Array;
  kid?: Uint8Array;
  /**
   * The algorithms the key set is for. When given, a packet whose KIc or KID names another is refused
   * (status 06) before its keys are used: the key set decides, not the packet, so an AES key set is not
   * run as 3DES or as single DES on its first 8 bytes.
   */
  cipher?: CipherAlgorithm;
  checksum?: ChecksumAlgorithm;
}

export interface CommandHeader {
  spi: Spi;
  spiBytes: Uint8Array;
  kic: number;
  kid: number;
  tar: Uint8Array;
}

export interface CommandPacketInput extends Omit<CommandHeader, 'spiBytes' | 'spi'> {
  spi: Spi | Uint8Array;
  /** CNTR, 0 … 2^40 − 1. */
  counter: bigint;
  data: Uint8Array;
}

const MAX_COUNTER = (1n << 40n) - 1n;

export function encodeCounter(counter: bigint): Uint8Array {
  if (counter < 0n || counter > MAX_COUNTER) throw new FormatError('CNTR is 5 bytes');
  const out = new Uint8Array(5);
  for (let i = 4, c = counter; i >= 0; i--, c >>= 8n) out[i] = Number(c & 0xffn);
  return out;
}

export const decodeCounter = (bytes: Uint8Array): bigint => bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);

/** Length of the RC/CC/DS field for a header (RC: 2 or 4, CC: 8). */
function integrityLength(integrity: Integrity, kid: number): number {
  if (integrity === 'none') return 0;
  if (integrity === 'cc') return 8;
  if (integrity === 'rc') return redundancyAlgorithm(kid) === 'crc16' ? 2 : 4;
  throw new OtaUnsupportedError('digital signatures (SPI b2b1 = 11) are not supported');
}

/** PCNTR: zero bytes that bring `length` to a whole number of cipher blocks (TS 102 225 §5.1.2). */
export const paddingCount = (length: number, blockSize: number): number =>
  (blockSize - (length % blockSize)) % blockSize;

function integrityValue(integrity: Integrity, kid: number, key: Uint8Array | undefined, input: Uint8Array) {
  if (integrity === 'rc') return redundancyAlgorithm(kid) === 'crc16' ? crc16(input) : crc32(input);
  if (!key) throw new FormatError('a CC needs the KID key');
  return cryptographicChecksum(checksumAlgorithm(kid), key, input);
}

function cipherFor(kic: number, key: Uint8Array | undefined): [CipherAlgorithm, Uint8Array] {
  if (!key) throw new FormatError('ciphering needs the KIc key');
  return [cipherAlgorithm(kic), key];
}

/** Builds a secured command packet, as it follows the 02 70 00 UDH in the SMS user data. */
export function encodeCommandPacket(input: CommandPacketInput, keys: OtaKeys): Uint8Array {
  const spiBytes = input.spi instanceof Uint8Array ? input.spi : encodeSpi(input.spi);
  const spi = decodeSpi(spiBytes);
  if (input.tar.length !== 3) throw new FormatError('a TAR is 3 bytes');
  const signLength = integrityLength(spi.integrity, input.kid);
  const cipher = spi.ciphered ? cipherFor(input.kic, keys.kic) : undefined;
  const pcntr = cipher ? paddingCount(6 + signLength + input.data.length, cipherBlockSize(cipher[0])) : 0;
  const chl = 13 + signLength;
  const cpl = 1 + chl + input.data.length + pcntr;
  if (cpl > 0xffff) throw new FormatError('the secured data is too long for a command packet');
  const counter = encodeCounter(input.counter);
  const header = concatBytes(
    u16be(cpl),
    Uint8Array.of(chl),
    spiBytes,
    Uint8Array.of(input.kic, input.kid),
    input.tar,
  );
  const padded = concatBytes(input.data, new Uint8Array(pcntr));
  const signed = concatBytes(header, counter, Uint8Array.of(pcntr), padded); // §1.6: no UDH in the input
  const check = signLength ? integrityValue(spi.integrity, input.kid, keys.kid, signed) : new Uint8Array(0);
  const plain = concatBytes(counter, Uint8Array.of(pcntr), check, padded);
  return concatBytes(header, cipher ? otaEncrypt(cipher[0], cipher[1], plain) : plain);
}

/** The clear part of a command packet: enough to find the keys and the minimum security level. */
export function decodeCommandHeader(packet: Uint8Array): CommandHeader & { chl: number } {
  if (packet.length < 16)
    throw new OtaPacketError(0x06, `a command packet is at least 16 bytes, not ${packet.length}`);
  const cpl = readU16be(packet, 0);
  if (cpl !== packet.length - 2)
    throw new OtaPacketError(0x06, `CPL ${cpl} but ${packet.length - 2} bytes follow it`);
  const spiBytes = packet.slice(3, 5);
  return {
    chl: packet[2]!,
    spiBytes,
    spi: decodeSpi(spiBytes),
    kic: packet[5]!,
    kid: packet[6]!,
    tar: packet.slice(7, 10),
  };
}

export interface OpenedCommand extends CommandHeader {
  counter: bigint;
  data: Uint8Array;
}

/**
 * The receiving entity's side: deciphers and checks a command packet (TS 102 225 §5.1, checks in the order of
 * docs/guide-ota.md). The counter check is the caller's: it knows the stored value.
 */
export function openCommandPacket(packet: Uint8Array, keys: OtaKeys): OpenedCommand {
  const header = decodeCommandHeader(packet);
  const { spi, kid, kic } = header;
  let signLength: number;
  try {
    signLength = integrityLength(spi.integrity, kid);
  } catch (error) {
    throw new OtaPacketError(0x06, (error as Error).message);
  }
  if (header.chl !== 13 + signLength)
    throw new OtaPacketError(0x06, `CHL ${header.chl} does not match the SPI (expected ${13 + signLength})`);
  requireKeySetAlgorithms(spi, kic, kid, keys);
  let body = packet.subarray(10);
  if (spi.ciphered) {
    let algorithm: CipherAlgorithm;
    try {
      algorithm = cipherAlgorithm(kic);
    } catch (error) {
      throw new OtaPacketError(0x05, (error as Error).message);
    }
    if (!keys.kic) throw new OtaPacketError(0x05, 'no KIc key for this key set');
    if (body.length % cipherBlockSize(algorithm) !== 0)
      throw new OtaPacketError(
        0x05,
        `the ciphered part is not a whole number of ${cipherBlockSize(algorithm)}-byte blocks`,
      );
    try {
      body = otaDecrypt(algorithm, keys.kic, body);
    } catch (error) {
      throw new OtaPacketError(0x05, (error as Error).message);
    }
  }
  const pcntr = body[5] ?? 0;
  if (body.length < 6 + signLength + pcntr)
    throw new OtaPacketError(spi.ciphered ? 0x05 : 0x06, `PCNTR ${pcntr} is longer than the data`);
  const check = body.subarray(6, 6 + signLength);
  const padded = body.subarray(6 + signLength);
  if (signLength) {
    const signed = concatBytes(packet.subarray(0, 10), body.subarray(0, 6), padded);
    let expected: Uint8Array;
    try {
      expected = integrityValue(spi.integrity, kid, keys.kid, signed);
    } catch (error) {
      throw new OtaPacketError(0x01, (error as Error).message);
    }
    if (!constantTimeEqual(expected, check)) throw new OtaPacketError(0x01, 'the RC/CC does not match');
  }
  return {
    spi,
    spiBytes: header.spiBytes,
    kic,
    kid,
    tar: header.tar,
    counter: decodeCounter(body.subarray(0, 5)),
    data: padded.slice(0, padded.length - pcntr),
  };
}

/**
 * Refuses (06), before its script runs, a packet whose PoR cannot be built as its SPI2 asks: a digital
 * signature, an RC the KID does not code, a CC or ciphering without a key or with another algorithm than
 * the key set's.
 */
export function requireResponseSecurity(security: ResponseSecurity, keys: OtaKeys): void {
  const { spi, kic, kid } = security;
  if (spi.por === 'none') return;
  try {
    integrityLength(spi.porIntegrity, kid);
    if (spi.porIntegrity === 'cc' && !keys.kid) throw new FormatError('no KID key');
    if (spi.porCiphered) cipherFor(kic, keys.kic);
  } catch (error) {
    throw new OtaPacketError(0x06, `the PoR the SPI asks for cannot be sent: ${(error as Error).message}`);
  }
  const por: Spi = { ...spi, ciphered: spi.porCiphered, integrity: spi.porIntegrity };
  requireKeySetAlgorithms(por, kic, kid, keys);
}

/** Refuses (06) a packet whose KIc or KID names an algorithm other than the key set's. */
function requireKeySetAlgorithms(spi: Spi, kic: number, kid: number, keys: OtaKeys): void {
  const named = (read: () => string) => {
    try {
      return read();
    } catch {
      return undefined; // an unsupported coding: refused where the key is used
    }
  };
  if (spi.ciphered && keys.cipher) {
    const asked = named(() => cipherAlgorithm(kic));
    if (asked !== undefined && asked !== keys.cipher)
      throw new OtaPacketError(0x06, `KIc ${hex2(kic)} names ${asked}; the key set is ${keys.cipher}`);
  }
  if (spi.integrity === 'cc' && keys.checksum) {
    const asked = named(() => checksumAlgorithm(kid));
    if (asked !== undefined && asked !== keys.checksum)
      throw new OtaPacketError(0x06, `KID ${hex2(kid)} names ${asked}; the key set is ${keys.checksum}`);
  }
}

const hex2 = (b: number) => b.toString(16).padStart(2, '0').toUpperCase();

/** The UDH of a response packet: UDHL 02, IEI 71 (RPI), length 00. */
export const RESPONSE_UDH = Uint8Array.of(0x02, 0x71, 0x00);
/** The UDH of a command packet: UDHL 02, IEI 70 (CPI), length 00. */
export const COMMAND_UDH = Uint8Array.of(0x02, 0x70, 0x00);

export interface ResponsePacketInput {
  tar: Uint8Array;
  counter: bigint;
  status: number;
  data: Uint8Array;
}

/** The security a PoR is sent with, from the command's SPI and key identifiers. */
export interface ResponseSecurity {
  spi: Spi;
  kic: number;
  kid: number;
}

/** Builds a PoR as SMS user data (UDH included, as the RC/CC covers it: ETSI TS 102 225 §5.2). */
export function encodeResponsePacket(
  input: ResponsePacketInput,
  security: ResponseSecurity,
  keys: OtaKeys,
): Uint8Array {
  const { spi, kic, kid } = security;
  const signLength = integrityLength(spi.porIntegrity, kid);
  const cipher = spi.porCiphered ? cipherFor(kic, keys.kic) : undefined;
  const pcntr = cipher ? paddingCount(7 + signLength + input.data.length, cipherBlockSize(cipher[0])) : 0;
  const rhl = 10 + signLength;
  const rpl = 1 + rhl + input.data.length + pcntr;
  const counter = encodeCounter(input.counter);
  const head = concatBytes(RESPONSE_UDH, u16be(rpl), Uint8Array.of(rhl), input.tar);
  const padded = concatBytes(input.data, new Uint8Array(pcntr));
  const statusPart = concatBytes(counter, Uint8Array.of(pcntr, input.status));
  const check = signLength
    ? integrityValue(spi.porIntegrity, kid, keys.kid, concatBytes(head, statusPart, padded))
    : new Uint8Array(0);
  const plain = concatBytes(statusPart, check, padded);
  return concatBytes(head, cipher ? otaEncrypt(cipher[0], cipher[1], plain) : plain);
}

export interface DecodedResponse {
  tar: Uint8Array;
  counter: bigint;
  status: number;
  statusText: string;
  data: Uint8Array;
  /** Whether the PoR came with the security the SPI asked for (false: an unsecured error PoR). */
  secured: boolean;
}

/**
 * Decodes a PoR (SMS user data from 02 71 00). Cards answer some errors unsecured whatever the SPI
 * said (status 06, RHL 0A: docs/guide-ota.md), so an RHL of 0A is read as an unsecured PoR.
 */
export function decodeResponsePacket(
  userData: Uint8Array,
  security: ResponseSecurity,
  keys: OtaKeys,
): DecodedResponse {
  if (userData.length < 16) throw new FormatError(`a PoR is at least 16 bytes, not ${userData.length}`);
  if (!equalBytes(userData.subarray(0, 3), RESPONSE_UDH)) throw new FormatError('a PoR starts 02 71 00');
  const rpl = readU16be(userData, 3);
  if (rpl !== userData.length - 5)
    throw new FormatError(`RPL ${rpl} but ${userData.length - 5} bytes follow it`);
  const rhl = userData[5]!;
  const tar = userData.slice(6, 9);
  const { spi, kic, kid } = security;
  // An error PoR sent without security has RHL 0A; with a ciphered-only SPI, it is not whole blocks.
  const blockOf = () => cipherBlockSize(cipherFor(kic, keys.kic)[0]);
  const unsecured =
    rhl === 0x0a &&
    (spi.porIntegrity !== 'none' || (spi.porCiphered && (userData.length - 9) % blockOf() !== 0));
  const signLength = unsecured ? 0 : integrityLength(spi.porIntegrity, kid);
  if (rhl !== 10 + signLength)
    throw new FormatError(`RHL ${rhl} does not match the SPI (expected ${10 + signLength})`);
  let body = userData.subarray(9);
  if (spi.porCiphered && !unsecured) {
    const [algorithm, key] = cipherFor(kic, keys.kic);
    if (body.length % cipherBlockSize(algorithm) !== 0)
      throw new FormatError('the ciphered PoR is not whole blocks');
    body = otaDecrypt(algorithm, key, body);
  }
  const pcntr = body[5]!;
  if (body.length < 7 + signLength + pcntr) throw new FormatError(`PCNTR ${pcntr} is longer than the PoR`);
  const padded = body.subarray(7 + signLength);
  if (signLength) {
    const signed = concatBytes(userData.subarray(0, 9), body.subarray(0, 7), padded);
    const expected = integrityValue(spi.porIntegrity, kid, keys.kid, signed);
    if (!constantTimeEqual(expected, body.subarray(7, 7 + signLength)))
      throw new OtaPacketError(0x01, 'the PoR RC/CC does not match');
  }
  const status = body[6]!;
  return {
    tar,
    counter: decodeCounter(body.subarray(0, 5)),
    status,
    statusText: porStatusText(status),
    data: padded.slice(0, padded.length - pcntr),
    secured: !unsecured,
  };
}
