// The Bearer Independent Protocol commands (TS 102 223 §6.4.27–6.4.31, class "e"): OPEN CHANNEL,
// CLOSE CHANNEL, RECEIVE DATA, SEND DATA, GET CHANNEL STATUS, plus SET UP EVENT LIST (§6.4.16), and the
// TERMINAL RESPONSE data each takes. Parsers are lenient where live cards are (spec §5.3): tags with or
// without the CR flag, a cut `3E` other address.
import { concatBytes, FormatError, fromUtf8, readU16be, u16be, utf8 } from '../bytes.js';
import {
  CAT_COMMAND,
  CAT_TAG,
  channelDevice,
  channelOfDevice,
  DEVICE,
  OPEN_CHANNEL_QUALIFIER,
} from './constants.js';
import { type ChannelStatus, decodeChannelStatus, encodeChannelStatus } from './envelope.js';
import { encodeProactiveCommand, type ProactiveCommand, type TerminalResponse } from './proactive.js';
import { type ComprehensionTlv, encodeComprehensionTlv, findCatTlv } from './tlv.js';

/** Most channel data one RECEIVE DATA's TERMINAL RESPONSE can carry within 255 bytes (18 bytes of TLVs). */
export const MAX_RECEIVE_CHUNK = 237;
/** Most channel data one SEND DATA fits within a 255-byte proactive command (15 bytes around it). */
export const MAX_SEND_CHUNK = 240;

export interface OpenChannelRequest {
  /** OPEN_CHANNEL_QUALIFIER bits: immediate link, automatic reconnection, background mode. */
  qualifier: number;
  /** Bearer description (§8.52): type (03 default bearer) and parameters. */
  bearer: { type: number; parameters: Uint8Array };
  bufferSize: number;
  /** Network access name (§8.70) in its coded form (DNS labels). */
  networkAccessName?: Uint8Array;
  /** Text strings (§8.15): user login, then password. */
  login?: Uint8Array;
  password?: Uint8Array;
  transport?: { protocol: number; port: number };
  /** Other address (§8.58): 21 IPv4 / 57 IPv6; `truncated` when the card sent the tag without a value. */
  address?: { type: number; address: Uint8Array; truncated?: boolean };
}

const tlv = encodeComprehensionTlv;

/** The TLVs of an OPEN CHANNEL (§6.6.27), in the order of the real cards' commands. */
export function openChannelTlvs(r: Omit<OpenChannelRequest, 'qualifier'>): Uint8Array[] {
  const text = (value: Uint8Array) => tlv(CAT_TAG.TEXT_STRING, concatBytes(Uint8Array.of(0x04), value), true);
  return [
    tlv(CAT_TAG.BEARER_DESCRIPTION, concatBytes(Uint8Array.of(r.bearer.type), r.bearer.parameters), true),
    tlv(CAT_TAG.BUFFER_SIZE, u16be(r.bufferSize), true),
    ...(r.networkAccessName ? [tlv(CAT_TAG.NETWORK_ACCESS_NAME, r.networkAccessName, true)] : []),
    ...(r.login ? [text(r.login)] : []),
    ...(r.password ? [text(r.password)] : []),
    ...(r.transport
      ? [
          tlv(
            CAT_TAG.TRANSPORT_LEVEL,
            concatBytes(Uint8Array.of(r.transport.protocol), u16be(r.transport.port)),
            true,
          ),
        ]
      : []),
    ...(r.address
      ? [tlv(CAT_TAG.OTHER_ADDRESS, concatBytes(Uint8Array.of(r.address.type), r.address.address), true)]
      : []),
  ];
}

export const encodeOpenChannel = (number: number, r: OpenChannelRequest) =>
  encodeProactiveCommand(
    { number, type: CAT_COMMAND.OPEN_CHANNEL, qualifier: r.qualifier },
    DEVICE.TERMINAL,
    openChannelTlvs(r),
  );

/** The OPEN CHANNEL parameters from TLVs (a command's, or a trigger's connection parameters). */
export function openChannelFromTlvs(
  qualifier: number,
  tlvs: readonly ComprehensionTlv[],
): OpenChannelRequest {
  const bearer = findCatTlv(tlvs, CAT_TAG.BEARER_DESCRIPTION)?.value;
  const buffer = findCatTlv(tlvs, CAT_TAG.BUFFER_SIZE)?.value;
  if (buffer && buffer.length !== 2) throw new FormatError('a buffer size is 2 bytes');
  const transport = findCatTlv(tlvs, CAT_TAG.TRANSPORT_LEVEL)?.value;
  if (transport && transport.length !== 3) throw new FormatError('a transport level is 3 bytes');
  const texts = tlvs
    .filter((t) => t.tag === CAT_TAG.TEXT_STRING && !t.truncated)
    .map((t) => t.value.slice(1));
  const nan = findCatTlv(tlvs, CAT_TAG.NETWORK_ACCESS_NAME)?.value;
  const address = tlvs.find((t) => t.tag === CAT_TAG.OTHER_ADDRESS);
  return {
    qualifier,
    bearer: bearer?.length
      ? { type: bearer[0]!, parameters: bearer.slice(1) }
      : { type: 0x03, parameters: new Uint8Array(0) },
    bufferSize: buffer ? readU16be(buffer) : 0,
    ...(nan ? { networkAccessName: nan } : {}),
    ...(texts[0] ? { login: texts[0] } : {}),
    ...(texts[1] ? { password: texts[1] } : {}),
    ...(transport ? { transport: { protocol: transport[0]!, port: readU16be(transport, 1) } } : {}),
    ...(address
      ? {
          address: {
            type: address.value[0] ?? 0,
            address: address.value.slice(1),
            ...(address.truncated || address.value.length < 2 ? { truncated: true } : {}),
          },
        }
      : {}),
  };
}

export const parseOpenChannel = (command: ProactiveCommand): OpenChannelRequest =>
  openChannelFromTlvs(command.details.qualifier, command.tlvs);

/** Whether the OPEN CHANNEL asks the terminal to establish the link in the background. */
export const backgroundMode = (qualifier: number) =>
  (qualifier & OPEN_CHANNEL_QUALIFIER.BACKGROUND_MODE) !== 0;

/**
 * Channel data (§8.53): BER length, so `36 81 xx` above 127 bytes — a raw byte there lost otaman's
 * records. `cr`: the comprehension-required flag (set in the card's commands, clear in the terminal's
 * responses, as the public traces show).
 */
export const channelDataTlv = (data: Uint8Array, cr = true) => tlv(CAT_TAG.CHANNEL_DATA, data, cr);
/** Channel data length (§8.54): FF means more than 255. */
export const channelDataLengthTlv = (length: number, cr = true) =>
  tlv(CAT_TAG.CHANNEL_DATA_LENGTH, Uint8Array.of(Math.min(length, 0xff)), cr);

export const encodeSendData = (number: number, channel: number, data: Uint8Array, immediately = true) =>
  encodeProactiveCommand(
    { number, type: CAT_COMMAND.SEND_DATA, qualifier: immediately ? 0x01 : 0x00 },
    channelDevice(channel),
    [channelDataTlv(data)],
  );

export const encodeReceiveData = (number: number, channel: number, length: number) =>
  encodeProactiveCommand({ number, type: CAT_COMMAND.RECEIVE_DATA, qualifier: 0 }, channelDevice(channel), [
    channelDataLengthTlv(length),
  ]);

export const encodeCloseChannel = (number: number, channel: number) =>
  encodeProactiveCommand({ number, type: CAT_COMMAND.CLOSE_CHANNEL, qualifier: 0 }, channelDevice(channel));

export const encodeGetChannelStatus = (number: number) =>
  encodeProactiveCommand({ number, type: CAT_COMMAND.GET_CHANNEL_STATUS, qualifier: 0 }, DEVICE.TERMINAL);

export const encodeSetUpEventList = (number: number, events: readonly number[]) =>
  encodeProactiveCommand({ number, type: CAT_COMMAND.SET_UP_EVENT_LIST, qualifier: 0 }, DEVICE.TERMINAL, [
    tlv(CAT_TAG.EVENT_LIST, Uint8Array.from(events), true),
  ]);

export function parseSetUpEventList(command: ProactiveCommand): number[] {
  const list = findCatTlv(command.tlvs, CAT_TAG.EVENT_LIST);
  if (!list) throw new FormatError('SET UP EVENT LIST without an event list');
  return [...list.value];
}

/** The channel a SEND DATA, RECEIVE DATA or CLOSE CHANNEL names (its destination device 21..27). */
export function channelOf(command: ProactiveCommand): number {
  const channel = channelOfDevice(command.destination);
  if (channel === undefined)
    throw new FormatError(`device ${command.destination.toString(16)} is not a channel`);
  return channel;
}

export function parseSendData(command: ProactiveCommand): {
  channel: number;
  data: Uint8Array;
  immediately: boolean;
} {
  const data = findCatTlv(command.tlvs, CAT_TAG.CHANNEL_DATA)?.value;
  if (!data) throw new FormatError('SEND DATA without channel data');
  return { channel: channelOf(command), data, immediately: (command.details.qualifier & 0x01) !== 0 };
}

export function parseReceiveData(command: ProactiveCommand): { channel: number; length: number } {
  const length = findCatTlv(command.tlvs, CAT_TAG.CHANNEL_DATA_LENGTH)?.value;
  if (length?.length !== 1) throw new FormatError('RECEIVE DATA without a channel data length');
  return { channel: channelOf(command), length: length[0]! };
}

// --- TERMINAL RESPONSE data of the BIP commands ---

export const channelStatusTlv = (status: ChannelStatus) =>
  tlv(CAT_TAG.CHANNEL_STATUS, encodeChannelStatus(status));

/** OPEN CHANNEL's answer (§6.8): channel status, bearer description, buffer size, as real terminals send it. */
export const openChannelResponseTlvs = (
  status: ChannelStatus,
  bearer: OpenChannelRequest['bearer'],
  bufferSize: number,
) => [
  channelStatusTlv(status),
  tlv(CAT_TAG.BEARER_DESCRIPTION, concatBytes(Uint8Array.of(bearer.type), bearer.parameters)),
  tlv(CAT_TAG.BUFFER_SIZE, u16be(bufferSize)),
];

export function parseOpenChannelResponse(response: TerminalResponse): {
  status?: ChannelStatus;
  bufferSize?: number;
} {
  const status = findCatTlv(response.tlvs, CAT_TAG.CHANNEL_STATUS)?.value;
  const buffer = findCatTlv(response.tlvs, CAT_TAG.BUFFER_SIZE)?.value;
  return {
    ...(status && status.length >= 2 ? { status: decodeChannelStatus(status) } : {}),
    ...(buffer?.length === 2 ? { bufferSize: readU16be(buffer) } : {}),
  };
}

/** RECEIVE DATA's answer: the data and how many bytes remain in the terminal's buffer (FF: > 255). */
export function parseReceiveDataResponse(response: TerminalResponse): {
  data: Uint8Array;
  remaining: number;
} {
  const data = findCatTlv(response.tlvs, CAT_TAG.CHANNEL_DATA)?.value ?? new Uint8Array(0);
  const remaining = findCatTlv(response.tlvs, CAT_TAG.CHANNEL_DATA_LENGTH)?.value;
  return { data, remaining: remaining?.length === 1 ? remaining[0]! : 0 };
}

/** SEND DATA's answer: the free room in the terminal's Tx buffer (FF: > 255). */
export function parseSendDataResponse(response: TerminalResponse): { free?: number } {
  const free = findCatTlv(response.tlvs, CAT_TAG.CHANNEL_DATA_LENGTH)?.value;
  return free?.length === 1 ? { free: free[0]! } : {};
}

/** An APN as a network access name (§8.70: DNS labels, each a length and its characters). */
export function encodeNetworkAccessName(apn: string): Uint8Array {
  const labels = apn.split('.').filter((l) => l.length > 0);
  if (labels.some((l) => l.length > 63)) throw new FormatError('an APN label is at most 63 characters');
  return concatBytes(...labels.map((l) => concatBytes(Uint8Array.of(l.length), utf8(l))));
}

export function decodeNetworkAccessName(bytes: Uint8Array): string {
  const labels: string[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = bytes[i]!;
    if (i + 1 + n > bytes.length) throw new FormatError('a network access name label runs past its end');
    labels.push(fromUtf8(bytes.subarray(i + 1, i + 1 + n)));
    i += 1 + n;
  }
  return labels.join('.');
}
