// A PoR longer than one SMS goes back from the handset as concatenated parts, the response packet
// indication (IEI 71) in the first part only (TS 23.040 §9.2.3.24.1, ETSI TS 102 225 §5.1.2).
import {
  concatBytes,
  encodeUserDataHeader,
  IEI_CONCATENATED_8BIT,
  IEI_RESPONSE_PACKET,
} from '@iotsafe/protocol';

/** The user data of the SMS a PoR takes: one, or concatenated parts with the RPI in the first. */
export function responsePacketUserData(userData: Uint8Array, reference: number): Uint8Array[] {
  if (userData.length <= 140) return [userData];
  const packet = userData.subarray(3); // after UDHL 02, IEI 71, length 00
  const concat = (total: number, n: number) => ({
    iei: IEI_CONCATENATED_8BIT,
    data: Uint8Array.of(reference & 0xff, total, n),
  });
  const rpi = { iei: IEI_RESPONSE_PACKET, data: new Uint8Array(0) };
  const pieces: Uint8Array[] = [];
  for (let at = 0, first = true; at < packet.length; first = false) {
    const room = 140 - encodeUserDataHeader(first ? [concat(1, 1), rpi] : [concat(1, 1)]).length;
    pieces.push(packet.subarray(at, at + room));
    at += room;
  }
  return pieces.map((piece, n) =>
    concatBytes(
      encodeUserDataHeader(n === 0 ? [concat(pieces.length, 1), rpi] : [concat(pieces.length, n + 1)]),
      piece,
    ),
  );
}
