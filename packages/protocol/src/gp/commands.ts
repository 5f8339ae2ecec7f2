// GlobalPlatform card management commands (GPCS v2.3.1 §11) as builders for the host and decoders for
// the card, plus the data objects GET DATA returns.
import { type CommandApdu, command, EMPTY } from '../apdu.js';
import { bytesToHex, concatBytes, FormatError, readUintBe } from '../bytes.js';
import { decodeBerTlvs, encodeBerTlv } from '../tlv.js';

export const GP_INS = {
  INITIALIZE_UPDATE: 0x50,
  EXTERNAL_AUTHENTICATE: 0x82,
  GET_DATA: 0xca,
  GET_STATUS: 0xf2,
  INSTALL: 0xe6,
  STORE_DATA: 0xe2,
  PUT_KEY: 0xd8,
  DELETE: 0xe4,
  SET_STATUS: 0xf0,
} as const;

/** GET DATA tags (GPCS 11.3.3.1). */
export const GP_DATA = {
  IIN: 0x0042,
  CIN: 0x0045,
  CARD_DATA: 0x0066,
  KEY_INFORMATION: 0x00e0,
  SEQUENCE_COUNTER: 0x00c1,
  KEY_DIVERSIFICATION_DATA: 0x00cf,
  SECURITY_LEVEL: 0x00d3,
  CPLC: 0x9f7f,
} as const;

/** INSTALL P1 (GPCS Table 11-41). */
export const INSTALL_FOR = {
  LOAD: 0x02,
  INSTALL: 0x04,
  MAKE_SELECTABLE: 0x08,
  INSTALL_AND_MAKE_SELECTABLE: 0x0c,
  PERSONALIZATION: 0x20,
} as const;

const lv = (value: Uint8Array) => concatBytes(Uint8Array.of(value.length), value);

export const buildGpGetData = (tag: number) =>
  command(0x80, GP_INS.GET_DATA, tag >> 8, tag & 0xff, EMPTY, 256);

/** GET STATUS, TLV format (P2 b2), with an AID prefix as search criterion (4F). */
export function buildGetStatus(
  scope: 'isd' | 'applications' | 'loadFiles',
  next = false,
  aidPrefix: Uint8Array = EMPTY,
): CommandApdu {
  const p1 = { isd: 0x80, applications: 0x40, loadFiles: 0x20 }[scope];
  return command(0x80, GP_INS.GET_STATUS, p1, next ? 0x03 : 0x02, encodeBerTlv(0x4f, aidPrefix), 256);
}

export interface StatusEntry {
  aid: Uint8Array;
  lifeCycle: number;
  privileges?: Uint8Array;
  loadFileAid?: Uint8Array;
}

export function encodeStatusEntry(e: StatusEntry): Uint8Array {
  return encodeBerTlv(
    0xe3,
    concatBytes(
      encodeBerTlv(0x4f, e.aid),
      encodeBerTlv(0x9f70, Uint8Array.of(e.lifeCycle)),
      e.privileges ? encodeBerTlv(0xc5, e.privileges) : EMPTY,
      e.loadFileAid ? encodeBerTlv(0xc4, e.loadFileAid) : EMPTY,
    ),
  );
}

export function decodeStatusEntries(data: Uint8Array): StatusEntry[] {
  return decodeBerTlvs(data).map((entry) => {
    if (entry.tag !== 0xe3) throw new FormatError('GET STATUS entry is not an E3 template');
    const fields = new Map(decodeBerTlvs(entry.value).map((t) => [t.tag, t.value]));
    const aid = fields.get(0x4f);
    const lifeCycle = fields.get(0x9f70);
    if (!aid || !lifeCycle || lifeCycle.length !== 1)
      throw new FormatError('GET STATUS entry lacks an AID or a life cycle');
    const privileges = fields.get(0xc5);
    const loadFileAid = fields.get(0xc4);
    return {
      aid,
      lifeCycle: lifeCycle[0]!,
      ...(privileges ? { privileges } : {}),
      ...(loadFileAid ? { loadFileAid } : {}),
    };
  });
}

export interface InstallForInstall {
  loadFileAid: Uint8Array;
  moduleAid: Uint8Array;
  applicationAid: Uint8Array;
  privileges: Uint8Array;
  parameters: Uint8Array;
}

/** INSTALL [for install and make selectable] (GPCS Table 11-44). */
export function buildInstall(p: InstallForInstall, makeSelectable = true): CommandApdu {
  const data = concatBytes(
    lv(p.loadFileAid),
    lv(p.moduleAid),
    lv(p.applicationAid),
    lv(p.privileges),
    lv(p.parameters),
    Uint8Array.of(0),
  );
  return command(
    0x80,
    GP_INS.INSTALL,
    makeSelectable ? INSTALL_FOR.INSTALL_AND_MAKE_SELECTABLE : INSTALL_FOR.INSTALL,
    0x00,
    data,
    256,
  );
}

function readLv(data: Uint8Array, offset: number, what: string): { value: Uint8Array; next: number } {
  const length = data[offset];
  if (length === undefined || offset + 1 + length > data.length) throw new FormatError(`truncated ${what}`);
  return { value: data.subarray(offset + 1, offset + 1 + length), next: offset + 1 + length };
}

export function decodeInstall(data: Uint8Array): InstallForInstall {
  const loadFile = readLv(data, 0, 'load file AID');
  const module = readLv(data, loadFile.next, 'module AID');
  const application = readLv(data, module.next, 'application AID');
  const privileges = readLv(data, application.next, 'privileges');
  const parameters = readLv(data, privileges.next, 'install parameters');
  readLv(data, parameters.next, 'install token');
  if (privileges.value.length !== 1 && privileges.value.length !== 3)
    throw new FormatError('privileges are 1 or 3 bytes');
  return {
    loadFileAid: loadFile.value,
    moduleAid: module.value,
    applicationAid: application.value,
    privileges: privileges.value,
    parameters: parameters.value,
  };
}

/** INSTALL [for personalization]: `00 00 len AID 00 00 00` (GPCS Table 11-47). */
export function buildInstallForPersonalization(aid: Uint8Array): CommandApdu {
  return command(
    0x80,
    GP_INS.INSTALL,
    INSTALL_FOR.PERSONALIZATION,
    0x00,
    concatBytes(Uint8Array.of(0, 0), lv(aid), Uint8Array.of(0, 0, 0)),
    256,
  );
}

export function decodeInstallForPersonalization(data: Uint8Array): Uint8Array {
  const aid = readLv(data, 2, 'application AID');
  if (data[0] !== 0 || data[1] !== 0 || aid.value.length < 5)
    throw new FormatError('bad INSTALL [for personalization] data');
  return aid.value;
}

/** STORE DATA in DGI format (P1 b5b4 = 01), P1 b8 on the last block, P2 = block number. */
export function buildStoreData(block: number, last: boolean, data: Uint8Array): CommandApdu {
  return command(0x80, GP_INS.STORE_DATA, (last ? 0x80 : 0x00) | 0x08, block & 0xff, data);
}

/**
 * STORE DATA blocks that start and end on the boundaries of `parts` (whole DGIs) where a part fits in
 * a block, so each block can be read, and traced with its secrets hidden, on its own. A part longer
 * than a block starts a new block and spans as many as it needs.
 */
export function storeDataBlocksOf(parts: readonly Uint8Array[], blockSize = 200): CommandApdu[] {
  const chunks: Uint8Array[] = [];
  let current: Uint8Array[] = [];
  let length = 0;
  const flush = () => {
    if (current.length > 0) chunks.push(concatBytes(...current));
    current = [];
    length = 0;
  };
  for (const part of parts) {
    if (length + part.length > blockSize) flush();
    if (part.length > blockSize) {
      for (let at = 0; at < part.length; at += blockSize) chunks.push(part.subarray(at, at + blockSize));
      continue;
    }
    current.push(part);
    length += part.length;
  }
  flush();
  if (chunks.length === 0) chunks.push(EMPTY);
  return chunks.map((chunk, b) => buildStoreData(b, b === chunks.length - 1, chunk));
}

/** Splits a STORE DATA payload into blocks that fit a protected command. */
export function storeDataBlocks(data: Uint8Array, blockSize = 200): CommandApdu[] {
  const out: CommandApdu[] = [];
  const count = Math.max(1, Math.ceil(data.length / blockSize));
  for (let b = 0; b < count; b++)
    out.push(buildStoreData(b, b === count - 1, data.subarray(b * blockSize, (b + 1) * blockSize)));
  return out;
}

/** PUT KEY for a whole key set: P1 = the KVN replaced (00 adds), P2 = 81 (KID 1, several keys). */
export const buildPutKey = (replacedKeyVersion: number, data: Uint8Array) =>
  command(0x80, GP_INS.PUT_KEY, replacedKeyVersion, 0x81, data, 256);

export const buildDeleteApplication = (aid: Uint8Array) =>
  command(0x80, GP_INS.DELETE, 0x00, 0x00, encodeBerTlv(0x4f, aid), 256);
export const buildDeleteKeySet = (keyVersion: number) =>
  command(0x80, GP_INS.DELETE, 0x00, 0x00, Uint8Array.of(0xd2, 0x01, keyVersion), 256);

/** SET STATUS: the card life cycle (P1 80) or an application's (P1 40, with its AID). */
export function buildSetStatus(
  scope: 'card' | 'application',
  state: number,
  aid: Uint8Array = EMPTY,
): CommandApdu {
  return command(0x80, GP_INS.SET_STATUS, scope === 'card' ? 0x80 : 0x40, state, aid);
}

// --- GET DATA objects ---

export interface KeyInformation {
  keyId: number;
  keyVersion: number;
  type: number;
  length: number;
}

/** Key Information Template E0 with basic C0 entries (GPCS 11.1.8). */
export function encodeKeyInformation(keys: readonly KeyInformation[]): Uint8Array {
  return encodeBerTlv(
    0xe0,
    concatBytes(
      ...keys.map((k) => encodeBerTlv(0xc0, Uint8Array.of(k.keyId, k.keyVersion, k.type, k.length))),
    ),
  );
}

export function decodeKeyInformation(data: Uint8Array): KeyInformation[] {
  const [template] = decodeBerTlvs(data);
  if (template?.tag !== 0xe0) throw new FormatError('not a key information template');
  const out: KeyInformation[] = [];
  for (const entry of decodeBerTlvs(template.value)) {
    if (entry.tag !== 0xc0 || entry.value.length < 4) throw new FormatError('bad key information entry');
    const v = entry.value;
    // Extended entries (type FF xx) carry 2-byte lengths; report the type byte that follows FF.
    out.push(
      v[2] === 0xff
        ? {
            keyId: v[0]!,
            keyVersion: v[1]!,
            type: v[3]!,
            length: v.length >= 6 ? readUintBe(v.subarray(4, 6)) : 0,
          }
        : { keyId: v[0]!, keyVersion: v[1]!, type: v[2]!, length: v[3]! },
    );
  }
  return out;
}

export const CPLC_FIELDS: readonly [string, number][] = [
  ['ICFabricator', 2],
  ['ICType', 2],
  ['OperatingSystemID', 2],
  ['OperatingSystemReleaseDate', 2],
  ['OperatingSystemReleaseLevel', 2],
  ['ICFabricationDate', 2],
  ['ICSerialNumber', 4],
  ['ICBatchIdentifier', 2],
  ['ICModuleFabricator', 2],
  ['ICModulePackagingDate', 2],
  ['ICCManufacturer', 2],
  ['ICEmbeddingDate', 2],
  ['ICPrePersonalizer', 2],
  ['ICPrePersonalizationEquipmentDate', 2],
  ['ICPrePersonalizationEquipmentID', 4],
  ['ICPersonalizer', 2],
  ['ICPersonalizationDate', 2],
  ['ICPersonalizationEquipmentID', 4],
];

/** The 42 bytes of CPLC (under 9F7F) as named hex fields. */
export function decodeCplc(data: Uint8Array): Record<string, string> {
  let body = data;
  if (data[0] === 0x9f && data[1] === 0x7f) body = data.subarray(3);
  if (body.length < 42) throw new FormatError('CPLC is 42 bytes');
  const out: Record<string, string> = {};
  let i = 0;
  for (const [name, length] of CPLC_FIELDS) {
    out[name] = bytesToHex(body.subarray(i, i + length));
    i += length;
  }
  return out;
}

/** Card Recognition Data (tag 66, GPCS Table H-1): GP 2.3, SCP03 with the given i. */
export function encodeCardData(i: number): Uint8Array {
  const oid = (...bytes: number[]) => encodeBerTlv(0x06, Uint8Array.from(bytes));
  const gp = [0x2a, 0x86, 0x48, 0x86, 0xfc, 0x6b];
  return encodeBerTlv(
    0x66,
    encodeBerTlv(
      0x73,
      concatBytes(
        oid(...gp, 0x01),
        encodeBerTlv(0x60, oid(...gp, 0x02, 0x02, 0x03)),
        encodeBerTlv(0x63, oid(...gp, 0x03)),
        encodeBerTlv(0x64, oid(...gp, 0x04, 0x03, i)),
      ),
    ),
  );
}
