// VERIFY PIN over APDUs (ETSI TS 102 221 §11.1.9, key reference 01 = PIN1 of the UICC; the PIN is
// 4–8 ASCII digits padded with FF to 8 bytes, §9.5.1): what a PC/SC reader or a card on TCP needs
// before the SIM's applets answer. A modem enters the PIN itself (AT+CPIN, at-modem.ts).
import { StatusWordError } from '@iotsafe/protocol';
import type { Transport } from '../transport.js';

export type PinResult = 'verified' | 'not-needed' | 'no-pin';

const sw = (response: Uint8Array) => (response[response.length - 2]! << 8) | response[response.length - 1]!;

/**
 * Verifies PIN1 when the card asks for it: an empty VERIFY first tells whether it does (9000: verified
 * or disabled; 63Cx: needed, x tries left). A card without a PIN (INS not supported) is 'no-pin'.
 * A wrong PIN is a StatusWordError 63Cx; a blocked one 6983. The PIN never appears in an error.
 */
export async function verifyPin(transport: Transport, pin: string, reference = 0x01): Promise<PinResult> {
  if (!/^\d{4,8}$/.test(pin)) throw new RangeError('a SIM PIN is 4 to 8 digits');
  const status = sw(await transport.transmit(Uint8Array.of(0x00, 0x20, 0x00, reference)));
  if (status === 0x9000) return 'not-needed';
  if (status === 0x6d00 || status === 0x6e00 || status === 0x6a86 || status === 0x6a88) return 'no-pin';
  if (status === 0x6983)
    throw new StatusWordError(status, 'VERIFY PIN (the PIN is blocked: unblock it with the PUK)');
  if ((status & 0xfff0) !== 0x63c0) throw new StatusWordError(status, 'VERIFY PIN');
  const data = new Uint8Array(8).fill(0xff);
  data.set(new TextEncoder().encode(pin));
  const answer = sw(await transport.transmit(Uint8Array.of(0x00, 0x20, 0x00, reference, 0x08, ...data)));
  if (answer !== 0x9000) throw new StatusWordError(answer, 'VERIFY PIN');
  return 'verified';
}
