// ENVELOPE commands to the card (TS 102 223 §7): the template tag says what it carries; event download
// (D6, §7.5) with its event list, device identities and the event's data: data available (§7.5.10)
// and channel status (§7.5.11) for BIP. SMS-PP download (D1) is in ota/sms.ts.
import { concatBytes, FormatError } from '../bytes.js';
import { CAT_EVENT, CAT_TAG, CAT_TEMPLATE, CHANNEL_STATUS_INFO, DEVICE } from './constants.js';
import {
  type ComprehensionTlv,
  decodeCatTemplate,
  decodeComprehensionTlvs,
  encodeCatTemplate,
  encodeComprehensionTlv,
  findCatTlv,
} from './tlv.js';

/** Channel status (TS 102 223 §8.56, TCP/UDP client): channel 1..7, link established, further info. */
export interface ChannelStatus {
  channel: number;
  established: boolean;
  /** 00 no further information, 05 link dropped. */
  info: number;
}

export const encodeChannelStatus = (s: ChannelStatus): Uint8Array =>
  Uint8Array.of((s.established ? 0x80 : 0) | (s.channel & 0x07), s.info);

export function decodeChannelStatus(bytes: Uint8Array): ChannelStatus {
  if (bytes.length < 2) throw new FormatError('a channel status is 2 bytes');
  return { channel: bytes[0]! & 0x07, established: (bytes[0]! & 0x80) !== 0, info: bytes[1]! };
}

export interface EventDownload {
  event: number;
  source: number;
  destination: number;
  /** The event's TLVs after the event list and device identities. */
  tlvs: ComprehensionTlv[];
}

/** D6 { 99 event, 82 source → 81, …body } with the CR-set tags real terminals send. */
export function encodeEventDownload(
  event: number,
  body: readonly Uint8Array[] = [],
  source: number = DEVICE.TERMINAL,
): Uint8Array {
  return encodeCatTemplate(
    CAT_TEMPLATE.EVENT_DOWNLOAD,
    concatBytes(
      encodeComprehensionTlv(CAT_TAG.EVENT_LIST, Uint8Array.of(event), true),
      encodeComprehensionTlv(CAT_TAG.DEVICE_IDENTITIES, Uint8Array.of(source, DEVICE.UICC), true),
      ...body,
    ),
  );
}

/** Data available (§7.5.10): the channel's status and how many bytes wait (FF: more than 255). */
export const encodeDataAvailableEvent = (status: ChannelStatus, available: number) =>
  encodeEventDownload(CAT_EVENT.DATA_AVAILABLE, [
    encodeComprehensionTlv(CAT_TAG.CHANNEL_STATUS, encodeChannelStatus(status), true),
    encodeComprehensionTlv(CAT_TAG.CHANNEL_DATA_LENGTH, Uint8Array.of(Math.min(available, 0xff)), true),
  ]);

/** Channel status (§7.5.11): e.g. link dropped, or the link a background OPEN CHANNEL established. */
export const encodeChannelStatusEvent = (status: ChannelStatus) =>
  encodeEventDownload(CAT_EVENT.CHANNEL_STATUS, [
    encodeComprehensionTlv(CAT_TAG.CHANNEL_STATUS, encodeChannelStatus(status), true),
  ]);

/** Link dropped on a channel: the status a terminal reports when the peer closes (§8.56). */
export const linkDropped = (channel: number): ChannelStatus => ({
  channel,
  established: false,
  info: CHANNEL_STATUS_INFO.LINK_DROPPED,
});

/** An event download envelope's parts; a cut last TLV is tolerated, a missing event list is not. */
export function decodeEventDownload(data: Uint8Array): EventDownload {
  const { tag, body } = decodeCatTemplate(data);
  if (tag !== CAT_TEMPLATE.EVENT_DOWNLOAD) throw new FormatError('not an event download (tag D6)');
  const all = decodeComprehensionTlvs(body, { lenient: true });
  const events = findCatTlv(all, CAT_TAG.EVENT_LIST)?.value;
  if (events?.length !== 1) throw new FormatError('an event download names exactly one event');
  const devices = findCatTlv(all, CAT_TAG.DEVICE_IDENTITIES)?.value;
  if (devices?.length !== 2) throw new FormatError('an event download without device identities');
  return {
    event: events[0]!,
    source: devices[0]!,
    destination: devices[1]!,
    tlvs: all.filter((t) => t.tag !== CAT_TAG.EVENT_LIST && t.tag !== CAT_TAG.DEVICE_IDENTITIES),
  };
}

/** The channel status and data length a data available or channel status event carries. */
export function decodeChannelEvent(event: EventDownload): { status: ChannelStatus; available?: number } {
  const status = findCatTlv(event.tlvs, CAT_TAG.CHANNEL_STATUS)?.value;
  if (!status) throw new FormatError('a channel event without a channel status');
  const length = findCatTlv(event.tlvs, CAT_TAG.CHANNEL_DATA_LENGTH)?.value;
  return {
    status: decodeChannelStatus(status),
    ...(length?.length === 1 ? { available: length[0]! } : {}),
  };
}

/** The ENVELOPE APDU (TS 102 221 §10.1.8): 80 C2 00 00 Lc data. */
export function envelopeApdu(data: Uint8Array, cla = 0x80): Uint8Array {
  if (data.length > 255) throw new FormatError('an ENVELOPE carries at most 255 bytes');
  return concatBytes(Uint8Array.of(cla, 0xc2, 0x00, 0x00, data.length), data);
}
