// A SIM vendor's batch file (the "output file" a vendor delivers with a batch), as CSV (RFC 4180,
// parsed by csv-parse): a header row, then one SIM a row. Columns, by header name (case and spaces
// ignored): iccid (required), imsi, msisdn, eid, type, batch, tags (separated by ';'), kvn, kic, kid,
// kik, kic_byte, kid_byte, psk_identity, psk, and optional key check values kic_kcv, kid_kcv,
// kik_kcv, psk_kcv. Keys are hex, in clear or, with a transport key, encrypted under it (AES, see
// TransportCipher). A row that fails a check is rejected with its line and a reason that never holds
// key material; the file itself is refused (CsvImportError) only when it is not CSV at all.
import { aesCbcDecrypt, aesKcv, FormatError } from '@iotsafe/protocol';
import { CsvError, parse } from 'csv-parse/sync';
import { StorageError } from '../storage/engine.js';
import { type OtaKeySet, type SimRecord, validateSim } from '../storage/sim-store.js';

/**
 * How encrypted key columns are decrypted under the transport key (AES-128/192/256 by its length):
 * 'aes-cbc-iv0' (default; GlobalPlatform's key encryption under a DEK: CBC, IV zero, no padding) or
 * 'aes-ecb' (each 16-byte block alone, as many vendor files do). A key of 24 bytes arrives padded to
 * 32 with 8 bytes that are dropped. The vendor's file format is not standardised: this is a choice.
 */
export type TransportCipher = 'aes-cbc-iv0' | 'aes-ecb';

export interface VendorCsvOptions {
  /** The key the vendor encrypted the key columns under; without it, key columns are clear hex. */
  transportKey?: Uint8Array;
  cipher?: TransportCipher;
  /** A batch name for rows that have none. */
  batch?: string;
  /** Most rows a file may hold (default 1,000,000). */
  maxRows?: number;
}

export interface VendorEntry {
  line: number;
  sim: SimRecord;
  keySets: OtaKeySet[];
  psk?: Uint8Array;
}

export interface RejectedRow {
  line: number;
  iccid?: string;
  reason: string;
}

export interface ParsedVendorFile {
  entries: VendorEntry[];
  rejected: RejectedRow[];
  rows: number;
}

/** The file is not one this importer reads (not CSV, no iccid column, an unknown column…). */
export class CsvImportError extends Error {
  override name = 'CsvImportError';
}

const COLUMNS = [
  'iccid',
  'imsi',
  'msisdn',
  'eid',
  'type',
  'batch',
  'tags',
  'kvn',
  'kic',
  'kid',
  'kik',
  'kic_byte',
  'kid_byte',
  'psk_identity',
  'psk',
  'kic_kcv',
  'kid_kcv',
  'kik_kcv',
  'psk_kcv',
] as const;
type Column = (typeof COLUMNS)[number];

class RowError extends Error {}

const MAX_FIELD = 512;

/** Parses and checks a vendor file; nothing is stored. */
export function parseVendorCsv(text: string | Uint8Array, options: VendorCsvOptions = {}): ParsedVendorFile {
  if (options.transportKey && ![16, 24, 32].includes(options.transportKey.length))
    throw new CsvImportError('the transport key is an AES key: 16, 24 or 32 bytes');
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(typeof text === 'string' ? text : Buffer.from(text), {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
      max_record_size: 64 * 1024,
      to: (options.maxRows ?? 1_000_000) + 2, // the header and one row too many
    }) as unknown as typeof records; // with info: true each record comes as {record, info}
  } catch (error) {
    // csv-parse's own message quotes the field, which may be a key: only its code and line go out
    if (error instanceof CsvError)
      throw new CsvImportError(
        `not a CSV file: ${error.code}${typeof error.lines === 'number' ? ` at line ${error.lines}` : ''}`,
      );
    throw error;
  }
  const [head, ...rows] = records;
  if (!head) throw new CsvImportError('the file is empty: a header row is required');
  const columns = head.record.map((name) => name.toLowerCase().replace(/[\s-]+/g, '_'));
  for (const name of columns)
    if (!(COLUMNS as readonly string[]).includes(name))
      throw new CsvImportError(`unknown column "${name.slice(0, 40)}" (known: ${COLUMNS.join(', ')})`);
  if (new Set(columns).size !== columns.length) throw new CsvImportError('a column is named twice');
  if (!columns.includes('iccid')) throw new CsvImportError('the header has no iccid column');

  const entries: VendorEntry[] = [];
  const rejected: RejectedRow[] = [];
  const seenIccid = new Set<string>();
  const seenMsisdn = new Set<string>();
  const indexOf = new Map(columns.map((name, at) => [name, at]));
  for (const { record, info } of rows) {
    const line = info.lines;
    const field = (name: Column): string | undefined => {
      const at = indexOf.get(name);
      const value = at === undefined ? undefined : record[at];
      return value === undefined || value === '' ? undefined : value;
    };
    const iccid = field('iccid');
    const shownIccid = iccid && /^\d{1,20}$/.test(iccid) ? iccid : undefined;
    try {
      if (record.length !== columns.length)
        throw new RowError(`${record.length} fields where the header has ${columns.length}`);
      if (record.some((value) => value.length > MAX_FIELD))
        throw new RowError(`a field is longer than ${MAX_FIELD} characters`);
      const entry = rowEntry(field, line, options);
      if (seenIccid.has(entry.sim.iccid)) throw new RowError('the ICCID is in the file twice');
      if (entry.sim.msisdn !== undefined && seenMsisdn.has(entry.sim.msisdn))
        throw new RowError('the MSISDN is in the file twice');
      seenIccid.add(entry.sim.iccid);
      if (entry.sim.msisdn !== undefined) seenMsisdn.add(entry.sim.msisdn);
      entries.push(entry);
    } catch (error) {
      if (!(error instanceof RowError || error instanceof StorageError)) throw error;
      rejected.push({ line, ...(shownIccid ? { iccid: shownIccid } : {}), reason: error.message });
    }
  }
  if (rows.length > (options.maxRows ?? 1_000_000))
    throw new CsvImportError(`the file has more than ${options.maxRows ?? 1_000_000} rows`);
  return { entries, rejected, rows: rows.length };
}

function rowEntry(
  field: (name: Column) => string | undefined,
  line: number,
  options: VendorCsvOptions,
): VendorEntry {
  const iccid = field('iccid');
  if (iccid === undefined) throw new RowError('no ICCID');
  const tags = field('tags')
    ?.split(';')
    .map((t) => t.trim())
    .filter(Boolean);
  const batch = field('batch') ?? options.batch;
  const sim: SimRecord = { iccid };
  const set = <K extends keyof SimRecord>(key: K, value: SimRecord[K] | undefined) => {
    if (value !== undefined) sim[key] = value;
  };
  set('imsi', field('imsi'));
  set('msisdn', field('msisdn')?.replace(/^\+/, ''));
  set('eid', field('eid'));
  set('type', field('type'));
  set('batch', batch);
  set('tags', tags);
  set('pskIdentity', field('psk_identity'));
  if (sim.type !== undefined && !/^[\w.:-]{1,32}$/.test(sim.type))
    throw new RowError('the type is 1 to 32 of [A-Za-z0-9_.:-]');
  if (sim.pskIdentity !== undefined && !/^[\x21-\x7e]{1,128}$/.test(sim.pskIdentity))
    throw new RowError('the PSK identity is 1 to 128 printable ASCII characters');
  validateSim(sim);

  const keySets: OtaKeySet[] = [];
  const kic = keyColumn(field, 'kic', options);
  const kid = keyColumn(field, 'kid', options);
  const kik = keyColumn(field, 'kik', options);
  if (kic || kid || kik) {
    if (!kic || !kid) throw new RowError('a key set needs both KIc and KID');
    const kvnText = field('kvn');
    if (kvnText === undefined || !/^\d{1,2}$/.test(kvnText) || Number(kvnText) < 1 || Number(kvnText) > 15)
      throw new RowError('a key set needs a KVN of 1 to 15');
    const kvn = Number(kvnText);
    // ETSI TS 102 225 §5.1.2/§5.1.3: KVN in b8–b5; b4–b1 '2' is AES (CBC for KIc, CMAC for KID)
    const kicByte = byteColumn(field('kic_byte'), kvn, 'KIc') ?? (kvn << 4) | 0x02;
    const kidByte = byteColumn(field('kid_byte'), kvn, 'KID') ?? (kvn << 4) | 0x02;
    keySets.push({ kvn, kicByte, kidByte, kic, kid, ...(kik ? { kik } : {}) });
  }
  const psk = keyColumn(field, 'psk', options);
  return { line, sim, keySets, ...(psk ? { psk } : {}) };
}

function byteColumn(text: string | undefined, kvn: number, what: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9a-fA-F]{2}$/.test(text)) throw new RowError(`the ${what} byte is 2 hex digits`);
  const value = Number.parseInt(text, 16);
  if (value >> 4 !== kvn) throw new RowError(`the ${what} byte names KVN ${value >> 4}, not ${kvn}`);
  return value;
}

type KeyColumn = 'kic' | 'kid' | 'kik' | 'psk';

/** A key column, decrypted where a transport key is given, checked against its KCV column. */
function keyColumn(
  field: (name: Column) => string | undefined,
  name: KeyColumn,
  options: VendorCsvOptions,
): Uint8Array | undefined {
  const text = field(name);
  const label = name === 'psk' ? 'PSK' : name === 'kic' ? 'KIc' : name.toUpperCase();
  if (text === undefined) return undefined;
  if (!/^([0-9a-fA-F]{2})+$/.test(text)) throw new RowError(`the ${label} column is not hex`);
  let key: Uint8Array = new Uint8Array(Buffer.from(text, 'hex')); // checked above: whole hex bytes
  if (options.transportKey) key = decrypt(options.transportKey, key, options.cipher ?? 'aes-cbc-iv0', label);
  if (name !== 'psk' && ![16, 24, 32].includes(key.length))
    throw new RowError(`the ${label} is ${key.length} bytes: an AES key is 16, 24 or 32`);
  if (name === 'psk' && (key.length < 16 || key.length > 64))
    throw new RowError(`the PSK is ${key.length} bytes: 16 to 64 are accepted`);
  const kcv = field(`${name}_kcv` as Column);
  if (kcv !== undefined) {
    if (!/^[0-9a-fA-F]{6}$/.test(kcv)) throw new RowError(`the ${label} KCV is 6 hex digits`);
    if (![16, 24, 32].includes(key.length))
      throw new RowError(`the ${label} has a KCV column but is not an AES key`);
    // GlobalPlatform Card Specification Amendment D §7.2.2: the AES KCV
    if (Buffer.from(aesKcv(key)).toString('hex') !== kcv.toLowerCase())
      throw new RowError(
        `the ${label} does not match its KCV${options.transportKey ? ' (another transport key?)' : ''}`,
      );
  }
  return key;
}

function decrypt(transportKey: Uint8Array, data: Uint8Array, cipher: TransportCipher, label: string) {
  if (data.length === 0 || data.length % 16 !== 0)
    throw new RowError(`the encrypted ${label} is not a whole number of AES blocks`);
  let clear: Uint8Array;
  try {
    if (cipher === 'aes-cbc-iv0') clear = aesCbcDecrypt(transportKey, new Uint8Array(16), data);
    else {
      clear = new Uint8Array(data.length);
      for (let at = 0; at < data.length; at += 16)
        clear.set(aesCbcDecrypt(transportKey, new Uint8Array(16), data.subarray(at, at + 16)), at);
    }
  } catch (error) {
    if (error instanceof FormatError) throw new RowError(`the encrypted ${label} cannot be decrypted`);
    throw error;
  }
  return clear;
}
