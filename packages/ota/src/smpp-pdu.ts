// SMPP 3.4 as this package speaks it over smpp@0.5.1: the command_status codes (SMPP 3.4 §5.1.3), the
// interface version, TON/NPI from a number (§5.2.5, §5.2.6), and short_message read as raw octets.
// The library decodes short_message as text by data_coding (GSM 7-bit for 00, UCS-2 for 08…) and
// rebuilds the UDH from its elements, so binary OTA data would not survive: submit_sm and deliver_sm
// are redefined here, through the library's own addCommand, to keep the bytes exactly as sent.
import smpp from 'smpp';

/** An SMPP link could not be set up, or a PDU was refused (with its command_status). */
export class SmppError extends Error {
  override name = 'SmppError';
  constructor(
    message: string,
    readonly commandStatus?: number,
    /** A submit that was written but never acknowledged: the SMSC may have taken (and sent) it. */
    readonly mayHaveReached = false,
  ) {
    super(message);
  }
}

/** Bytes that are not an SMPP PDU this package can read. */
export class SmppPduError extends SmppError {
  override name = 'SmppPduError';
}

/** interface_version of bind_* (SMPP 3.4 §5.2.4): 0x34; 0x00–0x33 are 3.3 and earlier. */
export const SMPP_INTERFACE_VERSION_34 = 0x34;

/** command_status values (SMPP 3.4 §5.1.3, table 5-2) this package sends or reads. */
export const ESME = {
  ROK: 0x00,
  RINVMSGLEN: 0x01,
  RINVCMDLEN: 0x02,
  RINVCMDID: 0x03,
  RINVBNDSTS: 0x04,
  RALYBND: 0x05,
  RINVPRTFLG: 0x06,
  RINVREGDLVFLG: 0x07,
  RSYSERR: 0x08,
  RINVSRCADR: 0x0a,
  RINVDSTADR: 0x0b,
  RBINDFAIL: 0x0d,
  RINVPASWD: 0x0e,
  RINVSYSID: 0x0f,
  RMSGQFUL: 0x14,
  RINVSERTYP: 0x15,
  RINVESMCLASS: 0x43,
  RSUBMITFAIL: 0x45,
  RINVSRCTON: 0x48,
  RINVSRCNPI: 0x49,
  RINVDSTTON: 0x50,
  RINVDSTNPI: 0x51,
  RINVSYSTYP: 0x53,
  RINVREPFLAG: 0x54,
  RTHROTTLED: 0x58,
  RINVSCHED: 0x61,
  RINVEXPIRY: 0x62,
  RINVDFTMSGID: 0x63,
  RX_T_APPN: 0x64,
  RX_P_APPN: 0x65,
  ROPTPARNOTALLWD: 0xc1,
  RINVPARLEN: 0xc2,
  RUNKNOWNERR: 0xff,
} as const;

const STATUS_NAMES = new Map<number, string>(
  Object.entries(ESME).map(([name, code]) => [code, `ESME_${name}`]),
);

/** "ESME_RINVDSTADR (0x0B)" */
export function commandStatusText(status: number): string {
  const hex = `0x${status.toString(16).toUpperCase().padStart(2, '0')}`;
  const name = STATUS_NAMES.get(status);
  return name ? `${name} (${hex})` : `command_status ${hex}`;
}

/** esm_class bit 6: the short message starts with a user data header (SMPP 3.4 §5.2.12). */
export const ESM_CLASS_UDHI = 0x40;

/** TON (SMPP 3.4 §5.2.5) and NPI (§5.2.6) values a strict SMSC accepts. */
export const SMPP_TONS = [0, 1, 2, 3, 4, 5, 6] as const;
export const SMPP_NPIS = [0, 1, 3, 4, 6, 8, 9, 10, 14, 18] as const;
const TON_INTERNATIONAL = 1;
const TON_UNKNOWN = 0;
const TON_ALPHANUMERIC = 5;
const NPI_ISDN = 1;
const NPI_UNKNOWN = 0;

export interface SmppAddress {
  addr: string;
  ton: number;
  npi: number;
}

export interface AddressingOptions {
  /** The home network's country code: numbers that start with it are international (TON 1). */
  countryCode?: string;
  /** Fixed TON and NPI for every number, instead of deriving them. */
  ton?: number;
  npi?: number;
}

/**
 * The address fields of a number: "+CC…" and numbers that start with the configured country code are
 * international/ISDN (1/1), other digits unknown/ISDN (0/1), a name alphanumeric (5/0); a fixed TON
 * or NPI in the options wins. The "+" is never sent (SMPP 3.4 §5.2.8 carries the digits).
 */
export function smppAddress(number: string, options: AddressingOptions = {}): SmppAddress {
  const plus = number.startsWith('+');
  const addr = plus ? number.slice(1) : number;
  if (addr.length === 0 || addr.length > 20)
    throw new SmppError(`"${number}" is not a 1 to 20 character address`);
  let derived: Omit<SmppAddress, 'addr'>;
  if (!/^\d+$/.test(addr)) {
    if (plus || addr.length > 11 || !/^[\x20-\x7e]+$/.test(addr))
      throw new SmppError(`"${number}" is neither digits nor an alphanumeric sender of up to 11 characters`);
    derived = { ton: TON_ALPHANUMERIC, npi: NPI_UNKNOWN };
  } else if (plus || (options.countryCode !== undefined && addr.startsWith(options.countryCode)))
    derived = { ton: TON_INTERNATIONAL, npi: NPI_ISDN };
  else derived = { ton: TON_UNKNOWN, npi: NPI_ISDN };
  return { addr, ton: options.ton ?? derived.ton, npi: options.npi ?? derived.npi };
}

const rawOverruns = new WeakSet<Uint8Array>();

/** Whether a decoded short_message was cut short: its sm_length ran past the end of the PDU. */
export const smLengthOverruns = (value: Uint8Array): boolean => rawOverruns.has(value);

// sm_length then that many octets (SMPP 3.4 §5.2.21, §5.2.22), never decoded as text.
const rawOctets: smpp.FieldType = {
  read(buffer, offset) {
    const declared = buffer[offset] ?? 0;
    const value = buffer.subarray(offset + 1, offset + 1 + declared);
    if (value.length !== declared || offset >= buffer.length) rawOverruns.add(value);
    return value;
  },
  write(value, buffer, offset) {
    const bytes = value as Uint8Array;
    buffer[offset] = bytes.length;
    buffer.set(bytes, offset + 1);
  },
  size: (value) => (value as Uint8Array).length + 1,
  default: Buffer.alloc(0),
};

for (const command of ['submit_sm', 'deliver_sm']) {
  const definition = smpp.commands[command]!;
  smpp.addCommand(command, {
    ...definition,
    params: { ...definition.params, short_message: { type: rawOctets } },
  });
}

/** short_message as the bytes that travelled. */
export function shortMessageOf(pdu: smpp.Pdu): Uint8Array {
  const value = pdu.short_message;
  return value instanceof Uint8Array ? value : new Uint8Array(0);
}

/**
 * The answer to a request this side does not take: its *_resp with ESME_RINVCMDID, or a generic_nack
 * where the command has no response of its own (outbind, alert_notification) or is unknown (§4.3).
 */
export function refusalOf(pdu: smpp.Pdu): smpp.Pdu {
  const fields = { command_status: ESME.RINVCMDID, sequence_number: pdu.sequence_number };
  return pdu.command !== 'unknown' && smpp.commands[`${pdu.command}_resp`]
    ? new smpp.PDU(`${pdu.command}_resp`, fields)
    : new smpp.PDU('generic_nack', fields);
}

const HEADER_LENGTH = 16;

/** One whole PDU from its bytes (what the library's stream reader does for each), or an SmppPduError. */
export function decodePdu(bytes: Uint8Array): smpp.Pdu {
  if (bytes.length < HEADER_LENGTH) throw new SmppPduError('an SMPP PDU has a 16-byte header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(0);
  if (length !== bytes.length)
    throw new SmppPduError(`command_length ${length} but ${bytes.length} bytes`, ESME.RINVCMDLEN);
  if (length > smpp.PDU.maxLength)
    throw new SmppPduError(`command_length ${length} is over ${smpp.PDU.maxLength}`, ESME.RINVCMDLEN);
  try {
    return new smpp.PDU(Buffer.from(bytes));
  } catch (error) {
    throw new SmppPduError(`malformed PDU: ${(error as Error).message}`, ESME.RINVCMDLEN);
  }
}
