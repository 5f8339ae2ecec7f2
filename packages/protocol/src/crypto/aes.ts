// AES building blocks on node:crypto: ECB on one block, CBC without padding, and AES-CMAC
// (NIST SP 800-38B, RFC 4493), which node:crypto does not offer.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { FormatError } from '../bytes.js';

function cipherName(key: Uint8Array, mode: 'ecb' | 'cbc'): string {
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
    throw new FormatError(`an AES key is 16, 24 or 32 bytes, not ${key.length}`);
  }
  return `aes-${key.length * 8}-${mode}`;
}

/** AES-ECB encryption of whole blocks, no padding. */
export function aesEcbEncrypt(key: Uint8Array, data: Uint8Array): Uint8Array {
  const c = createCipheriv(cipherName(key, 'ecb'), key, null).setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

/** AES-CBC encryption of whole blocks, no padding. */
export function aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  if (data.length % 16 !== 0) throw new FormatError('AES-CBC input is not a whole number of blocks');
  const c = createCipheriv(cipherName(key, 'cbc'), key, iv).setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

/** AES-CBC decryption of whole blocks, no padding removed. */
export function aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  if (data.length % 16 !== 0) throw new FormatError('AES-CBC input is not a whole number of blocks');
  const d = createDecipheriv(cipherName(key, 'cbc'), key, iv).setAutoPadding(false);
  return new Uint8Array(Buffer.concat([d.update(data), d.final()]));
}

/** Left shift of a 16-byte block by one bit, XOR Rb = 87 when the top bit fell out (SP 800-38B §6.1). */
function doubleBlock(block: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = ((block[i]! << 1) | (i < 15 ? block[i + 1]! >> 7 : 0)) & 0xff;
  if (block[0]! & 0x80) out[15]! ^= 0x87;
  return out;
}

/** AES-CMAC: the full 16-byte tag. */
export function aesCmac(key: Uint8Array, message: Uint8Array): Uint8Array {
  const k1 = doubleBlock(aesEcbEncrypt(key, new Uint8Array(16)));
  const complete = message.length > 0 && message.length % 16 === 0;
  const blocks = complete ? message.length / 16 : Math.floor(message.length / 16) + 1;
  const padded = new Uint8Array(blocks * 16);
  padded.set(message);
  if (!complete) padded[message.length] = 0x80;
  const subkey = complete ? k1 : doubleBlock(k1);
  const last = (blocks - 1) * 16;
  for (let i = 0; i < 16; i++) padded[last + i]! ^= subkey[i]!;
  return aesCbcEncrypt(key, new Uint8Array(16), padded).subarray(last);
}

/** ISO/IEC 9797-1 method 2 padding: 80 then zeros to a whole number of blocks (always adds). */
export function padIso9797M2(data: Uint8Array, block = 16): Uint8Array {
  const out = new Uint8Array((Math.floor(data.length / block) + 1) * block);
  out.set(data);
  out[data.length] = 0x80;
  return out;
}

/**
 * Removes method 2 padding; a FormatError when it is not there. By default the padding is at most one
 * block; `maxLength` allows longer (ISO/IEC 7816-4 §5.6.2.1 padding has no upper bound).
 */
export function unpadIso9797M2(data: Uint8Array, maxLength = 16): Uint8Array {
  let i = data.length - 1;
  while (i >= 0 && data[i] === 0x00) i--;
  if (i < 0 || data[i] !== 0x80 || data.length - i > maxLength) throw new FormatError('bad padding');
  return data.subarray(0, i);
}
