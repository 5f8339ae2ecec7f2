// The vpcd framing (vsmartcard's virtual reader protocol), also used by this stack's TCP card link:
// each message is a 2-byte big-endian length and a payload. A 1-byte payload is a control code
// (00 power off, 01 power on, 02 reset, 04 get ATR); anything longer is an APDU.
import { concatBytes, FormatError, u16be } from './bytes.js';

export const VPCD_CONTROL = { POWER_OFF: 0x00, POWER_ON: 0x01, RESET: 0x02, GET_ATR: 0x04 } as const;
export const VPCD_PORT = 0x8c7b;

// The TCP card link with an access key runs the framing inside PSK-TLS 1.2: one key, so one fixed
// PSK identity (RFC 4279 §5.1); ECDHE-PSK first for forward secrecy (RFC 7905), then RFC 5487's AEADs.
export const TCP_ACCESS_IDENTITY = 'iotsafe-sim';
export const TCP_ACCESS_CIPHERS = 'ECDHE-PSK-CHACHA20-POLY1305:PSK-AES256-GCM-SHA384:PSK-AES128-GCM-SHA256';
/** Access keys are 16 to 64 bytes. */
export const TCP_ACCESS_KEY_LENGTHS = { min: 16, max: 64 } as const;

export function encodeFrame(payload: Uint8Array): Uint8Array {
  if (payload.length > 0xffff) throw new FormatError('frame too long');
  return concatBytes(u16be(payload.length), payload);
}

/** Splits a byte stream into frames; keeps what is incomplete for the next chunk. */
export class FrameReader {
  private buffer: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): Uint8Array[] {
    this.buffer = concatBytes(this.buffer, chunk);
    const frames: Uint8Array[] = [];
    while (this.buffer.length >= 2) {
      const length = (this.buffer[0]! << 8) | this.buffer[1]!;
      if (this.buffer.length < 2 + length) break;
      frames.push(this.buffer.slice(2, 2 + length));
      this.buffer = this.buffer.subarray(2 + length);
    }
    return frames;
  }
}
