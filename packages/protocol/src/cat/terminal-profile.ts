// TERMINAL PROFILE (TS 102 223 §5.2; APDU of TS 102 221 §11.2.1): one bit per facility, numbered by
// byte and bit from 1. The facilities BIP and OTA need; a terminal may advertise more.
import { concatBytes, FormatError } from '../bytes.js';

/** Facility → [byte, bit], both counted from 1 as in TS 102 223 §5.2. */
export const PROFILE_FACILITY = {
  profileDownload: [1, 1],
  smsPpDataDownload: [1, 2],
  commandResult: [2, 1],
  pollInterval: [3, 6],
  pollingOff: [3, 7],
  sendShortMessage: [4, 2],
  setUpEventList: [5, 1],
  eventLocationStatus: [5, 5],
  eventDataAvailable: [6, 3],
  eventChannelStatus: [6, 4],
  openChannel: [12, 1],
  closeChannel: [12, 2],
  receiveData: [12, 3],
  sendData: [12, 4],
  getChannelStatus: [12, 5],
  bearerCsd: [13, 1],
  bearerGprs: [13, 2],
  tcpClientRemote: [17, 1],
  udpClientRemote: [17, 2],
  bearerEutran: [17, 7],
} as const satisfies Record<string, readonly [number, number]>;

export type ProfileFacility = keyof typeof PROFILE_FACILITY;

/** What a terminal must advertise for a UICC to run a BIP client session over TCP. */
export const BIP_TCP_CLIENT: readonly ProfileFacility[] = [
  'setUpEventList',
  'eventDataAvailable',
  'eventChannelStatus',
  'openChannel',
  'closeChannel',
  'receiveData',
  'sendData',
  'getChannelStatus',
  'tcpClientRemote',
];

/** Profile bytes with the facilities set and `channels` (1..7) in byte 13 bits 6–8 (§5.2). */
export function encodeTerminalProfile(
  facilities: readonly ProfileFacility[],
  channels = 1,
  length = 20,
): Uint8Array {
  const profile = new Uint8Array(length);
  for (const f of facilities) {
    const [byte, bit] = PROFILE_FACILITY[f];
    if (byte > length) throw new FormatError(`a ${length}-byte profile has no byte ${byte}`);
    profile[byte - 1]! |= 1 << (bit - 1);
  }
  if (length >= 13) profile[12]! |= (Math.min(Math.max(channels, 0), 7) & 0x07) << 5;
  return profile;
}

export function profileSupports(profile: Uint8Array, facility: ProfileFacility): boolean {
  const [byte, bit] = PROFILE_FACILITY[facility];
  return byte <= profile.length && (profile[byte - 1]! & (1 << (bit - 1))) !== 0;
}

/** Channels the terminal supports (byte 13, bits 6–8); 0 when the profile is shorter. */
export const profileChannels = (profile: Uint8Array) => (profile.length >= 13 ? profile[12]! >> 5 : 0);

/** The TERMINAL PROFILE APDU: 80 10 00 00 Lc profile. */
export function terminalProfileApdu(profile: Uint8Array, cla = 0x80): Uint8Array {
  if (profile.length === 0 || profile.length > 255)
    throw new FormatError('a terminal profile is 1 to 255 bytes');
  return concatBytes(Uint8Array.of(cla, 0x10, 0x00, 0x00, profile.length), profile);
}
