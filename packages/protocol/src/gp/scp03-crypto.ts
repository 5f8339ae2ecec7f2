// SCP03 cryptography (GPC 2.2 Amendment D v1.1.1 / v1.2): the SP 800-108 counter-mode KDF with AES-CMAC
// (§4.1.5), session keys and cryptograms (§6.2), key check values and DEK encryption (§7.2.2).
import { concatBytes, u16be } from '../bytes.js';
import { aesCbcEncrypt, aesCmac, aesEcbEncrypt } from '../crypto/aes.js';

export const DERIVATION = {
  CARD_CRYPTOGRAM: 0x00,
  HOST_CRYPTOGRAM: 0x01,
  CARD_CHALLENGE: 0x02,
  S_ENC: 0x04,
  S_MAC: 0x06,
  S_RMAC: 0x07,
} as const;

/** KDF(key, constant, L bits, context): 11 zero bytes ‖ constant ‖ 00 ‖ L ‖ i ‖ context, per 16-byte block. */
export function scp03Kdf(
  key: Uint8Array,
  constant: number,
  lengthBits: number,
  context: Uint8Array,
): Uint8Array {
  const blocks = Math.ceil(lengthBits / 128);
  const out: Uint8Array[] = [];
  for (let i = 1; i <= blocks; i++) {
    const label = new Uint8Array(12);
    label[11] = constant;
    out.push(
      aesCmac(key, concatBytes(label, Uint8Array.of(0), u16be(lengthBits), Uint8Array.of(i), context)),
    );
  }
  return concatBytes(...out).subarray(0, lengthBits / 8);
}

export interface StaticKeys {
  enc: Uint8Array;
  mac: Uint8Array;
  dek: Uint8Array;
}

export interface SessionKeys {
  sEnc: Uint8Array;
  sMac: Uint8Array;
  sRmac: Uint8Array;
}

/** Session keys from the static keys and host ‖ card challenge (§6.2.1); L = the key length. */
export function deriveSessionKeys(keys: StaticKeys, context: Uint8Array): SessionKeys {
  const bits = keys.enc.length * 8;
  return {
    sEnc: scp03Kdf(keys.enc, DERIVATION.S_ENC, bits, context),
    sMac: scp03Kdf(keys.mac, DERIVATION.S_MAC, bits, context),
    sRmac: scp03Kdf(keys.mac, DERIVATION.S_RMAC, bits, context),
  };
}

/** Card or host cryptogram (§6.2.2.2/3): 8 bytes in S8 mode, 16 in S16. */
export function cryptogram(
  sMac: Uint8Array,
  constant: number,
  context: Uint8Array,
  length: 8 | 16,
): Uint8Array {
  return scp03Kdf(sMac, constant, length * 8, context);
}

/** Pseudo-random card challenge (§6.2.2.1): KDF(Key-ENC, 02, L, sequence counter ‖ SD AID). */
export function pseudoRandomChallenge(
  enc: Uint8Array,
  sequence: Uint8Array,
  sdAid: Uint8Array,
  length: 8 | 16,
): Uint8Array {
  return scp03Kdf(enc, DERIVATION.CARD_CHALLENGE, length * 8, concatBytes(sequence, sdAid));
}

/** AES key check value (§7.2.2): the first 3 bytes of AES-ECB(key, 16 × 01). */
export function aesKcv(key: Uint8Array): Uint8Array {
  return aesEcbEncrypt(key, new Uint8Array(16).fill(0x01)).subarray(0, 3);
}

/** A key encrypted under Key-DEK: AES-CBC with IV 0; 24-byte keys are padded with 8 arbitrary bytes (zeros here). */
export function encryptKeyWithDek(dek: Uint8Array, key: Uint8Array): Uint8Array {
  const padded = new Uint8Array(Math.ceil(key.length / 16) * 16);
  padded.set(key);
  return aesCbcEncrypt(dek, new Uint8Array(16), padded);
}

/** The 16-byte block whose encryption under S-ENC gives the command ICV; byte 0 = 80 for responses (§6.2.6/7). */
export function counterBlock(counter: number, forResponse: boolean): Uint8Array {
  const block = new Uint8Array(16);
  let v = counter;
  for (let i = 15; i >= 12 && v > 0; i--) {
    block[i] = v & 0xff;
    v = Math.floor(v / 256);
  }
  if (forResponse) block[0] = 0x80;
  return block;
}
