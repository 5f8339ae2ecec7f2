// The data objects the ISD answers GET DATA with (GPCS 11.3, Amd D; ETSI TS 102 226 §8.2.1.7.2):
// identification, card data, key information, counters, and the card's resources.
import {
  concatBytes,
  encodeBerTlv,
  encodeCardData,
  encodeKeyInformation,
  GP_DATA,
  u32be,
} from '@iotsafe/protocol';
import type { IsdState } from './isd-state.js';

/** Extended Card Resources Information (TS 102 226 §8.2.1.7.2). */
const EXTENDED_CARD_RESOURCES_TAG = 0xff21;

/** The data object `tag` (its TLV), or undefined when the ISD has none; `level` is the session's (SCP03). */
export function isdData(state: IsdState, tag: number, level: number): Uint8Array | undefined {
  const first = state.keySets[0];
  switch (tag) {
    case GP_DATA.CPLC:
      return encodeBerTlv(0x9f7f, state.cplc);
    case GP_DATA.CARD_DATA:
      return encodeCardData(first?.i ?? 0x70);
    case GP_DATA.KEY_INFORMATION:
      return encodeKeyInformation(
        state.keySets.flatMap((set) =>
          set.keys.map((k) => ({
            keyId: k.id,
            keyVersion: set.keyVersion,
            type: k.type,
            length: k.value.length,
          })),
        ),
      );
    case GP_DATA.IIN:
      return encodeBerTlv(0x42, state.cplc.subarray(0, 4));
    case GP_DATA.CIN:
      return encodeBerTlv(0x45, state.keyDiversificationData);
    case GP_DATA.KEY_DIVERSIFICATION_DATA:
      return encodeBerTlv(0xcf, state.keyDiversificationData);
    case GP_DATA.SEQUENCE_COUNTER:
      return encodeBerTlv(0xc1, u32be(first?.sequenceCounter ?? 0).subarray(1));
    case GP_DATA.SECURITY_LEVEL:
      return encodeBerTlv(0xd3, Uint8Array.of(level));
    case EXTENDED_CARD_RESOURCES_TAG:
      // FF21 { 81 installed applications, 82 free non-volatile memory, 83 free volatile memory }
      return encodeBerTlv(
        0xff21,
        concatBytes(
          encodeBerTlv(0x81, Uint8Array.of(state.application ? 1 : 0)),
          encodeBerTlv(0x82, u32be(256 * 1024)),
          encodeBerTlv(0x83, Uint8Array.of(0x10, 0x00)),
        ),
      );
    default:
      return undefined;
  }
}
