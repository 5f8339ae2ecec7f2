// The Administration Session Triggering Parameters of GlobalPlatform Card Spec Amendment B (Table 3-3,
// tags as pySim's global_platform/http.py): what an SCP80-secured SMS to a security domain carries to
// start an SCP81 admin session. `81 00` means "use the parameters the SD keeps".
//   81 { 83 { 84 connection (OPEN CHANNEL TLVs) · 85 security (PSK identity, KVN, KID) · A5 extended
//          security · 86 retry policy · 89 { 8A host · 8B agent id · 8C URI } } · B3 DNS resolution }
import { concatBytes, FormatError, fromUtf8, readU16be, u16be, utf8 } from '../bytes.js';
import { decodeBerTlvs, encodeBerTlv, type Tlv } from '../tlv.js';

export const TRIGGER_TAG = {
  TRIGGER: 0x81,
  SESSION: 0x83,
  CONNECTION: 0x84,
  SECURITY: 0x85,
  EXTENDED_SECURITY: 0xa5,
  RETRY_POLICY: 0x86,
  HTTP_POST: 0x89,
  HOST: 0x8a,
  AGENT_ID: 0x8b,
  URI: 0x8c,
  DNS: 0xb3,
} as const;

/** A TS 102 223 §8.38 timer value; how its bytes code the numbers is `TimerCoding`. */
export interface TimerValue {
  hours: number;
  minutes: number;
  seconds: number;
}

/**
 * How the timer's three bytes code hours, minutes and seconds. TS 102 223 §8.38 says as TP-SCTS of
 * TS 23.040: BCD with swapped nibbles ('swapped-bcd', the default). OTAMan read a live card's stored
 * `00 10 00` as ten minutes, i.e. plain BCD ('bcd'); 'binary' takes each byte as a number. Unconfirmed
 * against the specification text: configurable.
 */
export type TimerCoding = 'swapped-bcd' | 'bcd' | 'binary';

export interface AdminSecurityParameters {
  /** The PSK identity as opaque bytes (GP Amd B: the TLS identity sent in ClientKeyExchange). */
  pskIdentity: Uint8Array;
  /** SCP81 key set version (40..4F) and key identifier (01: TLS-PSK), in that order as njiwa and pySim. */
  keyVersion: number;
  keyId: number;
  /** Bytes after the key reference (pySim: an optional hash type), kept as they came. */
  rest?: Uint8Array;
}

export interface RetryPolicy {
  /** How many times a failed session is tried again (2 bytes). */
  counter: number;
  /** Waiting delay before each retry. */
  delay: TimerValue;
  /** Retry report failure parameters, as they came (opaque here). */
  reportFailure?: Uint8Array;
}

export interface HttpPostParameters {
  host?: string;
  agentId?: string;
  uri?: string;
}

export interface AdminSessionTrigger {
  /** The OPEN CHANNEL TLVs of the connection parameters (84): bearer, buffer size, APN, transport, address. */
  connection?: Uint8Array;
  security?: AdminSecurityParameters;
  extendedSecurity?: Uint8Array;
  retry?: RetryPolicy;
  http?: HttpPostParameters;
  /** DNS resolution parameters (B3), opaque. */
  dns?: Uint8Array;
}

function bcdByte(value: number, coding: TimerCoding): number {
  if (!Number.isInteger(value) || value < 0 || value > 99)
    throw new FormatError(`timer field ${value} is not 0..99`);
  if (coding === 'binary') return value;
  const tens = Math.floor(value / 10);
  const units = value % 10;
  return coding === 'bcd' ? (tens << 4) | units : (units << 4) | tens;
}

function fromBcd(byte: number, coding: TimerCoding): number {
  if (coding === 'binary') return byte;
  const [tens, units] = coding === 'bcd' ? [byte >> 4, byte & 0x0f] : [byte & 0x0f, byte >> 4];
  if (tens > 9 || units > 9) throw new FormatError(`timer byte ${byte.toString(16)} is not BCD`);
  return tens * 10 + units;
}

/** Timer value TLV (25 03 hh mm ss, TS 102 223 §8.38). */
export const encodeTimerValue = (t: TimerValue, coding: TimerCoding = 'swapped-bcd') =>
  Uint8Array.of(0x25, 3, bcdByte(t.hours, coding), bcdByte(t.minutes, coding), bcdByte(t.seconds, coding));

/** The hh mm ss of a timer value's three bytes (TS 102 223 §8.38), as `coding` reads them. */
export function decodeTimerBytes(bytes: Uint8Array, coding: TimerCoding = 'swapped-bcd'): TimerValue {
  if (bytes.length !== 3) throw new FormatError('a timer value is 3 bytes (hh mm ss)');
  return {
    hours: fromBcd(bytes[0]!, coding),
    minutes: fromBcd(bytes[1]!, coding),
    seconds: fromBcd(bytes[2]!, coding),
  };
}

export const timerSeconds = (t: TimerValue) => t.hours * 3600 + t.minutes * 60 + t.seconds;

export function encodeAdminTrigger(
  trigger: AdminSessionTrigger = {},
  coding: TimerCoding = 'swapped-bcd',
): Uint8Array {
  const session: Uint8Array[] = [];
  if (trigger.connection) session.push(encodeBerTlv(TRIGGER_TAG.CONNECTION, trigger.connection));
  if (trigger.security) {
    const s = trigger.security;
    if (s.pskIdentity.length > 255) throw new FormatError('a PSK identity is at most 255 bytes');
    session.push(
      encodeBerTlv(
        TRIGGER_TAG.SECURITY,
        concatBytes(
          Uint8Array.of(s.pskIdentity.length),
          s.pskIdentity,
          Uint8Array.of(0x02, s.keyVersion, s.keyId),
          s.rest ?? new Uint8Array(0),
        ),
      ),
    );
  }
  if (trigger.extendedSecurity)
    session.push(encodeBerTlv(TRIGGER_TAG.EXTENDED_SECURITY, trigger.extendedSecurity));
  if (trigger.retry) {
    const r = trigger.retry;
    if (!Number.isInteger(r.counter) || r.counter < 0 || r.counter > 0xffff)
      throw new FormatError('a retry counter is 0..65535');
    session.push(
      encodeBerTlv(
        TRIGGER_TAG.RETRY_POLICY,
        concatBytes(
          u16be(r.counter),
          encodeTimerValue(r.delay, coding),
          r.reportFailure ?? new Uint8Array(0),
        ),
      ),
    );
  }
  if (trigger.http) {
    const text = (tag: number, value: string | undefined) =>
      value === undefined ? new Uint8Array(0) : encodeBerTlv(tag, utf8(value));
    session.push(
      encodeBerTlv(
        TRIGGER_TAG.HTTP_POST,
        concatBytes(
          text(TRIGGER_TAG.HOST, trigger.http.host),
          text(TRIGGER_TAG.AGENT_ID, trigger.http.agentId),
          text(TRIGGER_TAG.URI, trigger.http.uri),
        ),
      ),
    );
  }
  const parts = session.length ? [encodeBerTlv(TRIGGER_TAG.SESSION, concatBytes(...session))] : [];
  if (trigger.dns) parts.push(encodeBerTlv(TRIGGER_TAG.DNS, trigger.dns));
  return encodeBerTlv(TRIGGER_TAG.TRIGGER, concatBytes(...parts));
}

const byTag = (tlvs: readonly Tlv[]) => new Map(tlvs.map((t) => [t.tag, t.value]));

function decodeSecurity(value: Uint8Array): AdminSecurityParameters {
  const idLength = value[0];
  if (idLength === undefined || value.length < 1 + idLength + 3)
    throw new FormatError('security parameters (85) too short for their PSK identity and key reference');
  const at = 1 + idLength;
  if (value[at] !== 0x02)
    throw new FormatError('security parameters (85): the key reference is not 02 KVN KID');
  const rest = value.subarray(at + 3);
  return {
    pskIdentity: value.slice(1, at),
    keyVersion: value[at + 1]!,
    keyId: value[at + 2]!,
    ...(rest.length ? { rest: rest.slice() } : {}),
  };
}

function decodeRetry(value: Uint8Array, coding: TimerCoding): RetryPolicy {
  if (value.length < 7 || (value[2]! & 0x7f) !== 0x25 || value[3] !== 3)
    throw new FormatError('retry policy (86) is a 2-byte counter and a timer value 25 03 hh mm ss');
  const delay = decodeTimerBytes(value.subarray(4, 7), coding);
  const rest = value.subarray(7);
  return { counter: readU16be(value), delay, ...(rest.length ? { reportFailure: rest.slice() } : {}) };
}

function decodeHttp(value: Uint8Array): HttpPostParameters {
  const fields = byTag(decodeBerTlvs(value));
  const text = (tag: number) => {
    const bytes = fields.get(tag);
    if (!bytes || bytes.length === 0) return undefined; // an empty field: the SD's own value
    if (bytes.some((b) => b < 0x20 || b > 0x7e))
      throw new FormatError(`HTTP parameter ${tag.toString(16)} is not printable ASCII`);
    return fromUtf8(bytes);
  };
  const host = text(TRIGGER_TAG.HOST);
  const agentId = text(TRIGGER_TAG.AGENT_ID);
  const uri = text(TRIGGER_TAG.URI);
  return {
    ...(host !== undefined ? { host } : {}),
    ...(agentId !== undefined ? { agentId } : {}),
    ...(uri !== undefined ? { uri } : {}),
  };
}

/** Decodes the triggering parameters; unknown TLVs are skipped, malformed known ones are FormatErrors. */
export function decodeAdminTrigger(
  bytes: Uint8Array,
  coding: TimerCoding = 'swapped-bcd',
): AdminSessionTrigger {
  const [top, ...extra] = decodeBerTlvs(bytes);
  if (top?.tag !== TRIGGER_TAG.TRIGGER || extra.length > 0)
    throw new FormatError('not the admin session triggering parameters (81)');
  const outer = byTag(decodeBerTlvs(top.value));
  const session = outer.get(TRIGGER_TAG.SESSION);
  const fields = session ? byTag(decodeBerTlvs(session)) : new Map<number, Uint8Array>();
  const security = fields.get(TRIGGER_TAG.SECURITY);
  const retry = fields.get(TRIGGER_TAG.RETRY_POLICY);
  const http = fields.get(TRIGGER_TAG.HTTP_POST);
  const connection = fields.get(TRIGGER_TAG.CONNECTION);
  const extended = fields.get(TRIGGER_TAG.EXTENDED_SECURITY);
  const dns = outer.get(TRIGGER_TAG.DNS);
  return {
    ...(connection?.length ? { connection: connection.slice() } : {}),
    ...(security ? { security: decodeSecurity(security) } : {}),
    ...(extended ? { extendedSecurity: extended.slice() } : {}),
    ...(retry ? { retry: decodeRetry(retry, coding) } : {}),
    ...(http ? { http: decodeHttp(http) } : {}),
    ...(dns ? { dns: dns.slice() } : {}),
  };
}
