// What a strict SMSC checks in the PDUs an ESME sends, field by field in the order of SMPP 3.4 §4.1
// (bind) and §4.4.1 (submit_sm), with the command_status of §5.1.3 for each refusal. The local test
// network answers with these, so a field a real SMSC would refuse fails here first.
import {
  decodeDataCoding,
  decodeUserDataHeader,
  FormatError,
  PID_SIM_DATA_DOWNLOAD,
} from '@iotsafe/protocol';
import type smpp from 'smpp';
import {
  ESM_CLASS_UDHI,
  ESME,
  SMPP_INTERFACE_VERSION_34,
  SMPP_NPIS,
  SMPP_TONS,
  shortMessageOf,
  smLengthOverruns,
} from './smpp-pdu.js';

/**
 * How the SMSC reads data_coding: 'smpp34' by the SMPP 3.4 table (§5.2.19: 0x00–0x0E, MWI groups
 * C0–DF, message class control F0–FF; the rest reserved), 'gsm' as the TP-DCS itself (SMPP 3.3, and
 * the many SMSCs that pass it through), where any TS 23.038 coding group is taken.
 */
export type DataCodingPolicy = 'smpp34' | 'gsm';

// C-Octet String sizes with the NUL (SMPP 3.4 §4.1, §4.4.1).
const MAX_SYSTEM_ID = 16;
const MAX_PASSWORD = 9;
const MAX_SYSTEM_TYPE = 13;
const MAX_SERVICE_TYPE = 6;
const MAX_ADDRESS = 21;
const TON_ALPHANUMERIC = 5;

const fits = (value: unknown, size: number) => typeof value === 'string' && value.length + 1 <= size;

/** bind_transmitter / _receiver / _transceiver: ROK or why not (credentials are checked by the caller). */
export function checkBind(pdu: smpp.Pdu): number {
  if (pdu.interface_version === undefined || pdu.address_range === undefined) return ESME.RINVCMDLEN;
  if (!fits(pdu.system_id, MAX_SYSTEM_ID)) return ESME.RINVSYSID;
  if (!fits(pdu.password, MAX_PASSWORD)) return ESME.RINVPASWD;
  if (!fits(pdu.system_type, MAX_SYSTEM_TYPE)) return ESME.RINVSYSTYP;
  // 0x00–0x33: 3.3 or earlier, 0x34: 3.4, anything else reserved (§5.2.4)
  if (typeof pdu.interface_version !== 'number' || pdu.interface_version > SMPP_INTERFACE_VERSION_34)
    return ESME.RBINDFAIL;
  return ESME.ROK;
}

const SUBMIT_FIELDS = [
  'service_type',
  'source_addr_ton',
  'source_addr_npi',
  'source_addr',
  'dest_addr_ton',
  'dest_addr_npi',
  'destination_addr',
  'esm_class',
  'protocol_id',
  'priority_flag',
  'schedule_delivery_time',
  'validity_period',
  'registered_delivery',
  'replace_if_present_flag',
  'data_coding',
  'sm_default_msg_id',
  'short_message',
] as const;

function addressStatus(ton: unknown, npi: unknown, addr: unknown, source: boolean): number {
  if (!SMPP_TONS.includes(ton as never)) return source ? ESME.RINVSRCTON : ESME.RINVDSTTON;
  if (!SMPP_NPIS.includes(npi as never)) return source ? ESME.RINVSRCNPI : ESME.RINVDSTNPI;
  const bad = source ? ESME.RINVSRCADR : ESME.RINVDSTADR;
  if (!fits(addr, MAX_ADDRESS)) return bad;
  const text = addr as string;
  if (ton === TON_ALPHANUMERIC) return source && /^[\x20-\x7e]{1,11}$/.test(text) ? ESME.ROK : bad;
  if (text === '') return source ? ESME.ROK : bad; // a NULL source_addr: the SMSC's default
  return /^\d+$/.test(text) ? ESME.ROK : bad;
}

/** TP-PID values TS 23.040 §9.2.3.9 defines (and the SC-specific 11xxxxxx). */
function knownProtocolId(pid: number): boolean {
  if (pid < 0x40) return true; // SM-AL protocols, telematic interworking
  if (pid >= 0xc0) return true;
  return (pid >= 0x40 && pid <= 0x47) || pid === 0x5e || pid === 0x5f || (pid >= 0x7c && pid <= 0x7f);
}

/** data_coding values the SMPP 3.4 table defines (§5.2.19). */
function smpp34DataCoding(dc: number): boolean {
  return dc <= 0x0a || dc === 0x0d || dc === 0x0e || (dc >= 0xc0 && dc <= 0xdf) || dc >= 0xf0;
}

/**
 * The TP-DCS the SMSC puts in the SMS-DELIVER for a data_coding: under 'smpp34' the binary codings
 * 02/04 become 8-bit data (with the class dest_addr_subunit asks for, §5.3.2.1: 3 is the SIM), text
 * codings are converted to GSM 7-bit (IA5, Latin-1) or UCS-2 (the others); GSM groups pass as they are.
 */
export function deliveredDcs(dataCoding: number, policy: DataCodingPolicy, destAddrSubunit?: number): number {
  if (policy === 'gsm' || dataCoding >= 0xc0) return dataCoding;
  if (dataCoding === 0x02 || dataCoding === 0x04) {
    const subunit = destAddrSubunit ?? 0;
    return subunit >= 1 && subunit <= 4 ? 0x10 | 0x04 | (subunit - 1) : 0x04;
  }
  if (dataCoding <= 0x01 || dataCoding === 0x03) return 0x00;
  return 0x08;
}

const maxOctets = (dcs: number) => (decodeDataCoding(dcs).alphabet === 'gsm7' ? 160 : 140);

/** submit_sm: ROK, or the command_status a strict SMSC answers. */
export function checkSubmitSm(pdu: smpp.Pdu, policy: DataCodingPolicy = 'smpp34'): number {
  if (SUBMIT_FIELDS.some((field) => pdu[field] === undefined)) return ESME.RINVCMDLEN;
  if (!fits(pdu.service_type, MAX_SERVICE_TYPE)) return ESME.RINVSERTYP;
  const source = addressStatus(pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr, true);
  if (source !== ESME.ROK) return source;
  const destination = addressStatus(pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr, false);
  if (destination !== ESME.ROK) return destination;
  const esmClass = pdu.esm_class as number;
  const messageType = esmClass & 0x3c; // bits 5–2: default, ESME delivery ack (08), user ack (10)
  if (messageType !== 0x00 && messageType !== 0x08 && messageType !== 0x10) return ESME.RINVESMCLASS;
  const pid = pdu.protocol_id as number;
  if (!knownProtocolId(pid)) return ESME.RSUBMITFAIL;
  if ((pdu.priority_flag as number) > 3) return ESME.RINVPRTFLG;
  if (!validTime(pdu.schedule_delivery_time)) return ESME.RINVSCHED;
  if (!validTime(pdu.validity_period)) return ESME.RINVEXPIRY;
  const registered = pdu.registered_delivery as number;
  if (registered & 0xe0 || (registered & 0x03) === 0x03) return ESME.RINVREGDLVFLG;
  if ((pdu.replace_if_present_flag as number) > 1) return ESME.RINVREPFLAG;
  const dataCoding = pdu.data_coding as number;
  // SMPP 3.4 has no code for a bad data_coding (5.0's ESME_RINVDCS is not 3.4's): submit failed
  if (
    policy === 'smpp34' ? !smpp34DataCoding(dataCoding) : decodeDataCoding(dataCoding).alphabet === 'reserved'
  )
    return ESME.RSUBMITFAIL;
  if (pdu.sm_default_msg_id !== 0) return ESME.RINVDFTMSGID; // this SMSC keeps no canned messages
  if (pdu.message_payload !== undefined) return ESME.ROPTPARNOTALLWD;
  const message = shortMessageOf(pdu);
  const dcs = deliveredDcs(dataCoding, policy, pdu.dest_addr_subunit as number | undefined);
  if (smLengthOverruns(message) || message.length > maxOctets(dcs)) return ESME.RINVMSGLEN;
  if (esmClass & ESM_CLASS_UDHI && !hasUserDataHeader(message)) return ESME.RINVESMCLASS;
  // (U)SIM data download carries 8-bit data: a coding the SMSC would convert as text garbles it
  if (pid === PID_SIM_DATA_DOWNLOAD && decodeDataCoding(dcs).alphabet !== '8bit') return ESME.RSUBMITFAIL;
  return ESME.ROK;
}

// The library hands a time as '' or a Date (invalid when the text was not SMPP's format, §7.1.1).
function validTime(value: unknown): boolean {
  if (value === '') return true;
  return value instanceof Date && !Number.isNaN(value.getTime());
}

function hasUserDataHeader(message: Uint8Array): boolean {
  if (message.length === 0) return false;
  try {
    decodeUserDataHeader(message);
    return true;
  } catch (error) {
    if (error instanceof FormatError) return false;
    throw error;
  }
}
