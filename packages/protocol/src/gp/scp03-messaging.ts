// SCP03 secure messaging shared by host and card (GPC Amd D §6.2.3–§6.2.7): C-MAC with the MAC
// chaining value, command encryption with the counter ICV, R-MAC and response encryption.
import { concatBytes } from '../bytes.js';
import {
  aesCbcDecrypt,
  aesCbcEncrypt,
  aesCmac,
  aesEcbEncrypt,
  padIso9797M2,
  unpadIso9797M2,
} from '../crypto/aes.js';
import { counterBlock } from './scp03-crypto.js';

/** Security level bits (Amd D Table 7-3), P1 of EXTERNAL AUTHENTICATE. */
export const SECURITY_LEVEL = { C_MAC: 0x01, C_DECRYPTION: 0x02, R_MAC: 0x10, R_ENCRYPTION: 0x20 } as const;
export const VALID_SECURITY_LEVELS = new Set([0x00, 0x01, 0x03, 0x11, 0x13, 0x33]);

export const hasLevel = (level: number, bit: number) => (level & bit) === bit;

/** CLA as it enters the MAC: channel bits cleared, SM bit (b3) set — 80/81/C5 → 84, 00/01 → 04. */
export function macClass(cla: number): number {
  return (cla & 0x80) | 0x04;
}

/** CLA on the wire with the secure messaging indication: b3 in the first class, b6 in the further class. */
export function wireClass(cla: number): number {
  return (cla & 0x40) !== 0 ? cla | 0x20 : cla | 0x04;
}

/** CLA with the secure messaging indication removed. */
export function plainClass(cla: number): number {
  return (cla & 0x40) !== 0 ? cla & ~0x20 : cla & ~0x0c;
}

export function hasSecureMessagingBit(cla: number): boolean {
  return (cla & 0x40) !== 0 ? (cla & 0x20) !== 0 : (cla & 0x0c) !== 0;
}

/** Full 16-byte C-MAC over MCV ‖ CLA' INS P1 P2 Lc' ‖ data' (Le excluded). */
export function commandMac(
  sMac: Uint8Array,
  mcv: Uint8Array,
  cla: number,
  ins: number,
  p1: number,
  p2: number,
  lcWithMac: number,
  body: Uint8Array,
): Uint8Array {
  return aesCmac(sMac, concatBytes(mcv, Uint8Array.of(macClass(cla), ins, p1, p2, lcWithMac), body));
}

export function encryptCommandData(sEnc: Uint8Array, counter: number, data: Uint8Array): Uint8Array {
  const icv = aesEcbEncrypt(sEnc, counterBlock(counter, false));
  return aesCbcEncrypt(sEnc, icv, padIso9797M2(data));
}

/**
 * Padding of any length is taken on reception (GP Amd D does not require it minimal; Samsung's OpenSCP card
 * pads 11 bytes to 32): it is removed only after the MAC verified, so it tells an attacker nothing.
 */
const ANY_PADDING = Number.POSITIVE_INFINITY;

/** Throws FormatError on a length that is not a block multiple or on bad padding. */
export function decryptCommandData(sEnc: Uint8Array, counter: number, data: Uint8Array): Uint8Array {
  const icv = aesEcbEncrypt(sEnc, counterBlock(counter, false));
  return unpadIso9797M2(aesCbcDecrypt(sEnc, icv, data), ANY_PADDING);
}

export function encryptResponseData(sEnc: Uint8Array, counter: number, data: Uint8Array): Uint8Array {
  const icv = aesEcbEncrypt(sEnc, counterBlock(counter, true));
  return aesCbcEncrypt(sEnc, icv, padIso9797M2(data));
}

export function decryptResponseData(sEnc: Uint8Array, counter: number, data: Uint8Array): Uint8Array {
  const icv = aesEcbEncrypt(sEnc, counterBlock(counter, true));
  return unpadIso9797M2(aesCbcDecrypt(sEnc, icv, data), ANY_PADDING);
}

/** R-MAC over MCV ‖ response data ‖ SW (§6.2.5); the caller truncates. */
export function responseMac(sRmac: Uint8Array, mcv: Uint8Array, body: Uint8Array, sw: number): Uint8Array {
  return aesCmac(sRmac, concatBytes(mcv, body, Uint8Array.of(sw >> 8, sw & 0xff)));
}

/** Responses that carry R-MAC protection: 9000, 62xx, 63xx. Any other SW travels bare. */
export function isProtectedStatus(sw: number): boolean {
  return sw === 0x9000 || sw >> 8 === 0x62 || sw >> 8 === 0x63;
}
