// The ISD's stored HTTP administration parameters as one TLV, both ways: what GET DATA 00 85 answers
// (as OTAMan read a live ISD) and what STORE DATA to the ISD personalises (GPCS §11.11, data for the
// security domain itself). 85 { 8A host · 8B agent id · 8C URI · 85 PSK identity · 86 retry policy ·
// 02 KVN KID · B9 buffer size · C7 APN · BC transport · BE address }. The wrapper, the order and the
// STORE DATA route are this project's reading (GP Amd B's text was not available).
import {
  ADDRESS_TYPE,
  concatBytes,
  decodeBerTlvs,
  decodeNetworkAccessName,
  decodeTimerBytes,
  encodeBerTlv,
  encodeNetworkAccessName,
  encodeTimerValue,
  FormatError,
  fromUtf8,
  readU16be,
  type TimerCoding,
  TRANSPORT_PROTOCOL,
  timerSeconds,
  u16be,
  utf8,
} from '@iotsafe/protocol';
import {
  type AdminParameters,
  addressText,
  checkAdminParameters,
  DEFAULT_ADMIN_PARAMETERS,
  openChannelRequest,
} from './parameters.js';

export const STORED_PARAMETERS_TAG = 0x85;

const FIELD = {
  HOST: 0x8a,
  AGENT_ID: 0x8b,
  URI: 0x8c,
  PSK_IDENTITY: 0x85,
  RETRY: 0x86,
  KEY: 0x02,
  BUFFER_SIZE: 0xb9,
  APN: 0xc7,
  TRANSPORT: 0xbc,
  ADDRESS: 0xbe,
} as const;

export function encodeStoredParameters(p: AdminParameters, coding: TimerCoding): Uint8Array {
  const text = (tag: number, value: string | undefined) =>
    value ? encodeBerTlv(tag, utf8(value)) : new Uint8Array(0);
  const seconds = p.retry.delaySeconds;
  const delay = {
    hours: Math.floor(seconds / 3600) % 100,
    minutes: Math.floor(seconds / 60) % 60,
    seconds: seconds % 60,
  };
  const channel = p.address ? openChannelRequest(p) : undefined;
  return encodeBerTlv(
    STORED_PARAMETERS_TAG,
    concatBytes(
      text(FIELD.HOST, p.host ?? p.address),
      text(FIELD.AGENT_ID, p.agentId),
      text(FIELD.URI, p.uri),
      encodeBerTlv(FIELD.PSK_IDENTITY, p.pskIdentity),
      encodeBerTlv(FIELD.RETRY, concatBytes(u16be(p.retry.counter), encodeTimerValue(delay, coding))),
      Uint8Array.of(FIELD.KEY, 0x02, p.keyVersion, p.keyId),
      ...(p.bufferSize !== DEFAULT_ADMIN_PARAMETERS.bufferSize
        ? [encodeBerTlv(FIELD.BUFFER_SIZE, u16be(p.bufferSize))]
        : []),
      ...(p.apn ? [encodeBerTlv(FIELD.APN, encodeNetworkAccessName(p.apn))] : []),
      encodeBerTlv(
        FIELD.TRANSPORT,
        concatBytes(Uint8Array.of(TRANSPORT_PROTOCOL.TCP_CLIENT_REMOTE), u16be(p.port)),
      ),
      ...(channel?.address
        ? [
            encodeBerTlv(
              FIELD.ADDRESS,
              concatBytes(Uint8Array.of(channel.address.type), channel.address.address),
            ),
          ]
        : []),
    ),
  );
}

const printable = (tag: number, bytes: Uint8Array) => {
  if (bytes.length === 0 || bytes.some((b) => b < 0x20 || b > 0x7e))
    throw new FormatError(`stored parameter ${tag.toString(16)} is not printable ASCII`);
  return fromUtf8(bytes);
};

/**
 * Reads stored parameters (the STORE DATA the issuer sends): FormatError for anything malformed, an
 * unknown field, or parameters that cannot work (checkAdminParameters). The channel tags are taken with
 * or without the comprehension-required bit (47/C7, 39/B9, 3C/BC, 3E/BE), as live cards write either.
 */
export function decodeStoredParameters(tlv: Uint8Array, coding: TimerCoding): AdminParameters {
  const [wrapper, ...extra] = decodeBerTlvs(tlv);
  if (!wrapper || wrapper.tag !== STORED_PARAMETERS_TAG || extra.length > 0)
    throw new FormatError('stored admin parameters are one 85 template');
  const fields = new Map<number, Uint8Array>();
  for (const field of decodeBerTlvs(wrapper.value)) {
    const tag = [0x47, 0x39, 0x3c, 0x3e].includes(field.tag) ? field.tag | 0x80 : field.tag;
    if (!(Object.values(FIELD) as number[]).includes(tag))
      throw new FormatError(`unknown stored parameter ${field.tag.toString(16)}`);
    if (fields.has(tag)) throw new FormatError(`stored parameter ${tag.toString(16)} given twice`);
    fields.set(tag, field.value);
  }
  const p: AdminParameters = {
    ...DEFAULT_ADMIN_PARAMETERS,
    retry: { ...DEFAULT_ADMIN_PARAMETERS.retry },
    pskIdentity:
      fields.get(FIELD.PSK_IDENTITY)?.slice() ?? fail('stored admin parameters need a PSK identity (85)'),
  };
  const host = fields.get(FIELD.HOST);
  if (host) p.host = printable(FIELD.HOST, host);
  const agentId = fields.get(FIELD.AGENT_ID);
  if (agentId) p.agentId = printable(FIELD.AGENT_ID, agentId);
  const uri = fields.get(FIELD.URI);
  if (uri) p.uri = printable(FIELD.URI, uri);
  const retry = fields.get(FIELD.RETRY);
  if (retry) {
    if (retry.length !== 7 || (retry[2]! & 0x7f) !== 0x25 || retry[3] !== 3)
      throw new FormatError('retry policy (86) is a 2-byte counter and a timer value 25 03 hh mm ss');
    p.retry = {
      counter: readU16be(retry),
      delaySeconds: timerSeconds(decodeTimerBytes(retry.subarray(4), coding)),
    };
  }
  const key = fields.get(FIELD.KEY);
  if (key) {
    if (key.length !== 2) throw new FormatError('the key reference (02) is KVN KID');
    p.keyVersion = key[0]!;
    p.keyId = key[1]!;
  }
  const buffer = fields.get(FIELD.BUFFER_SIZE);
  if (buffer) {
    if (buffer.length !== 2) throw new FormatError('a buffer size (39) is 2 bytes');
    p.bufferSize = readU16be(buffer);
  }
  const apn = fields.get(FIELD.APN);
  if (apn) p.apn = decodeNetworkAccessName(apn);
  const transport = fields.get(FIELD.TRANSPORT);
  if (transport) {
    if (transport.length !== 3 || transport[0] !== TRANSPORT_PROTOCOL.TCP_CLIENT_REMOTE)
      throw new FormatError('the transport (3C) is TCP in UICC client mode and a port');
    p.port = readU16be(transport.subarray(1));
  }
  const address = fields.get(FIELD.ADDRESS);
  if (address) {
    const type = address[0];
    if (type !== ADDRESS_TYPE.IPV4 && type !== ADDRESS_TYPE.IPV6)
      throw new FormatError('the address (3E) is IPv4 or IPv6');
    try {
      p.address = addressText(type, address.subarray(1));
    } catch (error) {
      throw new FormatError((error as Error).message);
    }
  }
  checkAdminParameters(p);
  return p;
}

function fail(message: string): never {
  throw new FormatError(message);
}
