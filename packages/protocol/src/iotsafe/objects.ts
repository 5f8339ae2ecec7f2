// Object references and object descriptors (GET DATA P1=01 and C1–C4; GSMA IoT.05, GET DATA and the object model).
import { concatBytes, FormatError, fromUtf8, readUintBe, u16be, utf8 } from '../bytes.js';
import {
  ID_TAG,
  INFO_TAG,
  LABEL_TAG,
  MAX_ID_LENGTH,
  MAX_LABEL_LENGTH,
  OBJECT_CLASSES,
  type ObjectClass,
  TAG,
} from './constants.js';
import { decodeIotTlvs, encodeIotTlv, type IotTlv } from './tlv.js';

/** An object is addressed by its ID (1–20 opaque bytes) or by its label (ASCII, 1–60 bytes). */
export type ObjectRef = { id: Uint8Array } | { label: string };

export function describeRef(ref: ObjectRef): string {
  return 'id' in ref ? `ID ${Buffer.from(ref.id).toString('hex').toUpperCase()}` : `label "${ref.label}"`;
}

export function encodeObjectRef(objectClass: ObjectClass, ref: ObjectRef): Uint8Array {
  if ('id' in ref) {
    if (ref.id.length < 1 || ref.id.length > MAX_ID_LENGTH)
      throw new FormatError(`object ID of ${ref.id.length} bytes`);
    return encodeIotTlv(ID_TAG[objectClass], ref.id);
  }
  const label = utf8(ref.label);
  if (label.length < 1 || label.length > MAX_LABEL_LENGTH)
    throw new FormatError(`label of ${label.length} bytes`);
  return encodeIotTlv(LABEL_TAG[objectClass], label);
}

/** The reference of class `objectClass` in a command: exactly one of ID or label, else FormatError. */
export function parseObjectRef(fields: Map<number, Uint8Array>, objectClass: ObjectClass): ObjectRef {
  const id = fields.get(ID_TAG[objectClass]);
  const label = fields.get(LABEL_TAG[objectClass]);
  if ((id === undefined) === (label === undefined)) {
    throw new FormatError(`exactly one of ID or label is required for a ${objectClass}`);
  }
  if (id !== undefined) {
    if (id.length < 1 || id.length > MAX_ID_LENGTH) throw new FormatError(`object ID of ${id.length} bytes`);
    return { id };
  }
  if (label!.length < 1 || label!.length > MAX_LABEL_LENGTH)
    throw new FormatError(`label of ${label!.length} bytes`);
  return { label: fromUtf8(label!) };
}

export interface ObjectDescriptor {
  objectClass: ObjectClass;
  id?: Uint8Array;
  label?: string;
  /** Tag 60 bitmask: 01 read, 02 update. */
  access: number;
  /** Tag 4A: 01 activated (filled), 00 deactivated (empty). */
  state: number;
  keyType?: number;
  keyUsage?: number;
  fileUsage?: number;
  fileSize?: number;
  cryptoFunctions?: number;
  signatureAlgorithms?: number;
  hashAlgorithms?: number;
  keyAgreementAlgorithms?: number;
  kdfAlgorithms?: number;
}

/** How a card writes descriptors, where real applets differ from IoT.05. */
export interface DescriptorEncoding {
  /** Length byte of tag 92: 1, or 2 with a 1-byte value as the Thales MVP applet sends it (IoT.05 GET DATA). */
  signatureAlgorithmsLength?: 1 | 2;
}

/** A descriptor's TLVs, in the order the Thales MVP applet emits them (§3.2 table). */
export function encodeObjectDescriptor(d: ObjectDescriptor, encoding: DescriptorEncoding = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const byte = (tag: number, v: number | undefined) => {
    if (v !== undefined) parts.push(Uint8Array.of(tag, 1, v));
  };
  if (d.label !== undefined) parts.push(encodeIotTlv(LABEL_TAG[d.objectClass], utf8(d.label)));
  if (d.id !== undefined) parts.push(encodeIotTlv(ID_TAG[d.objectClass], d.id));
  byte(TAG.ACCESS_CONDITIONS, d.access);
  byte(TAG.OBJECT_STATE, d.state);
  if (d.objectClass === 'file') {
    byte(TAG.FILE_USAGE, d.fileUsage);
    if (d.fileSize !== undefined) parts.push(encodeIotTlv(TAG.FILE_SIZE, u16be(d.fileSize)));
    return concatBytes(...parts);
  }
  byte(TAG.KEY_TYPE, d.keyType);
  if (d.objectClass !== 'secret') byte(TAG.KEY_USAGE, d.keyUsage);
  byte(TAG.CRYPTO_FUNCTIONS, d.cryptoFunctions);
  if (d.objectClass === 'secret') {
    byte(TAG.KDF_ALGORITHMS, d.kdfAlgorithms);
    return concatBytes(...parts);
  }
  if (d.signatureAlgorithms !== undefined)
    parts.push(
      Uint8Array.of(TAG.SIGNATURE_ALGORITHMS, encoding.signatureAlgorithmsLength ?? 1, d.signatureAlgorithms),
    );
  if (d.hashAlgorithms !== undefined) parts.push(encodeIotTlv(TAG.HASH_ALGORITHMS, u16be(d.hashAlgorithms)));
  byte(TAG.KEY_AGREEMENT, d.keyAgreementAlgorithms);
  return concatBytes(...parts);
}

export function wrapDescriptor(d: ObjectDescriptor, encoding: DescriptorEncoding = {}): Uint8Array {
  return encodeIotTlv(INFO_TAG[d.objectClass], encodeObjectDescriptor(d, encoding));
}

const CLASS_BY_TAG = new Map<number, ObjectClass>();
for (const c of OBJECT_CLASSES) {
  CLASS_BY_TAG.set(ID_TAG[c], c);
  CLASS_BY_TAG.set(LABEL_TAG[c], c);
  CLASS_BY_TAG.set(INFO_TAG[c], c);
}

function descriptorFromTlvs(objectClass: ObjectClass, tlvs: readonly IotTlv[]): ObjectDescriptor {
  const d: ObjectDescriptor = { objectClass, access: 0, state: 0 };
  for (const { tag, value } of tlvs) {
    const one = () => readUintBe(value);
    if (tag === ID_TAG[objectClass]) d.id = value;
    else if (tag === LABEL_TAG[objectClass]) d.label = fromUtf8(value);
    else if (tag === TAG.ACCESS_CONDITIONS) d.access = one();
    else if (tag === TAG.OBJECT_STATE) d.state = one();
    else if (tag === TAG.KEY_TYPE) d.keyType = one();
    else if (tag === TAG.KEY_USAGE) d.keyUsage = one();
    else if (tag === TAG.FILE_USAGE) d.fileUsage = one();
    else if (tag === TAG.FILE_SIZE)
      d.fileSize = one(); // big-endian, GSMA IoT.05, GET DATA (Orange reads LE: a bug)
    else if (tag === TAG.CRYPTO_FUNCTIONS) d.cryptoFunctions = one();
    else if (tag === TAG.SIGNATURE_ALGORITHMS) d.signatureAlgorithms = one();
    else if (tag === TAG.HASH_ALGORITHMS)
      d.hashAlgorithms = one(); // 2 bytes; 1 byte on one buggy applet
    else if (tag === TAG.KEY_AGREEMENT) d.keyAgreementAlgorithms = one();
    else if (tag === TAG.KDF_ALGORITHMS) d.kdfAlgorithms = one();
    // Unknown tags are skipped: later applet versions add attributes.
  }
  if (d.id === undefined && d.label === undefined)
    throw new FormatError(`${objectClass} descriptor without ID or label`);
  return d;
}

/**
 * A reading of malformed card data that the decoder recovered from instead of refusing it. Real cards
 * send such data (the Thales MVP applet's tag 92, IoT.05 GET DATA): a client reports each one (in its trace)
 * rather than hide it.
 */
export interface DecodeRecovery {
  kind: 'declaredLengthOverrun';
  /** Offset of the TLV's tag in the data decoded (in a wrapper's value for wrapped descriptors). */
  offset: number;
  tag: number;
  declaredLength: number;
  /** The length the value was read with: the attribute's defined length. */
  usedLength: number;
  /** The known tag that follows the value at that length; undefined where the data ends there. */
  nextTag: number | undefined;
  message: string;
}

/** Attributes of one defined length (IoT.05 GET DATA): what a mis-declared length is mended to. */
const ATTRIBUTE_LENGTH = new Map<number, number>([
  [TAG.ACCESS_CONDITIONS, 1],
  [TAG.OBJECT_STATE, 1],
  [TAG.KEY_TYPE, 1],
  [TAG.KEY_USAGE, 1],
  [TAG.FILE_USAGE, 1],
  [TAG.FILE_SIZE, 2],
  [TAG.CRYPTO_FUNCTIONS, 1],
  [TAG.SIGNATURE_ALGORITHMS, 1],
  [TAG.HASH_ALGORITHMS, 2],
  [TAG.KEY_AGREEMENT, 1],
  [TAG.KDF_ALGORITHMS, 1],
]);
const DESCRIPTOR_TAGS = new Set<number>([...CLASS_BY_TAG.keys(), ...ATTRIBUTE_LENGTH.keys()]);

/**
 * The TLVs of descriptor data (1-byte tags and lengths). The declared lengths are used when the data
 * reads to its end with them, through known tags only. Where it does not, an attribute whose declared
 * length runs past its defined one, and is followed at the defined length by a known tag (or the end
 * of the data), is read at that length if the rest then reads to the end; each such reading is
 * reported to `onRecovery`.
 * Anything else is a FormatError, as from decodeIotTlvs.
 */
function decodeDescriptorTlvs(data: Uint8Array, onRecovery?: (note: DecodeRecovery) => void): IotTlv[] {
  const mendedLength = (at: number): number | undefined => {
    const defined = ATTRIBUTE_LENGTH.get(data[at]!);
    const declared = data[at + 1]!;
    if (defined === undefined || declared <= defined) return undefined;
    const end = at + 2 + defined;
    return end === data.length || DESCRIPTOR_TAGS.has(data[end]!) ? defined : undefined;
  };
  // readsFrom[at]: the data from `at` reads to its end, through known tags; filled from the end back.
  const readsFrom = new Uint8Array(data.length + 1);
  readsFrom[data.length] = 1;
  for (let at = data.length - 2; at >= 0; at--) {
    if (!DESCRIPTOR_TAGS.has(data[at]!)) continue;
    const next = at + 2 + data[at + 1]!;
    const mended = mendedLength(at);
    if ((next <= data.length && readsFrom[next]) || (mended !== undefined && readsFrom[at + 2 + mended]))
      readsFrom[at] = 1;
  }
  if (!readsFrom[0]) return decodeIotTlvs(data); // the plain reading, or its error
  const out: IotTlv[] = [];
  let i = 0;
  while (i < data.length) {
    const tag = data[i]!;
    const declared = data[i + 1]!;
    let length = declared;
    if (!readsFrom[i + 2 + declared]) {
      length = mendedLength(i)!;
      const nextTag = data[i + 2 + length];
      onRecovery?.({
        kind: 'declaredLengthOverrun',
        offset: i,
        tag,
        declaredLength: declared,
        usedLength: length,
        nextTag,
        message: `tag ${hex(tag)} declares ${declared} bytes but carries ${length} byte${length === 1 ? '' : 's'}: ${nextTag === undefined ? 'the data ends' : `tag ${hex(nextTag)} follows`} (read at offset ${i} as ${length})`,
      });
    }
    out.push({ tag, value: data.subarray(i + 2, i + 2 + length) });
    i += 2 + length;
  }
  return out;
}

const hex = (b: number) => b.toString(16).toUpperCase().padStart(2, '0');

/**
 * Decodes an object list or a single-object answer in either encoding seen on real cards: wrapped in
 * C1–C4, or flat, where each descriptor starts at its label or ID tag (IoT.05 GET DATA). Lengths a real card
 * mis-declares are mended as decodeDescriptorTlvs says, and reported to `onRecovery`.
 */
export function decodeObjectList(
  data: Uint8Array,
  onRecovery?: (note: DecodeRecovery) => void,
): ObjectDescriptor[] {
  const tlvs = decodeDescriptorTlvs(data, onRecovery);
  const out: ObjectDescriptor[] = [];
  let current: { objectClass: ObjectClass; tlvs: IotTlv[]; hasId: boolean } | undefined;
  const flush = () => {
    if (current) out.push(descriptorFromTlvs(current.objectClass, current.tlvs));
    current = undefined;
  };
  for (const t of tlvs) {
    const objectClass = CLASS_BY_TAG.get(t.tag);
    if (objectClass && t.tag === INFO_TAG[objectClass]) {
      flush();
      out.push(descriptorFromTlvs(objectClass, decodeDescriptorTlvs(t.value, onRecovery)));
      continue;
    }
    if (objectClass) {
      const isId = t.tag === ID_TAG[objectClass];
      const continuesLabel = current && isId && !current.hasId && current.objectClass === objectClass;
      if (!continuesLabel) {
        flush();
        current = { objectClass, tlvs: [], hasId: false };
      }
      current!.tlvs.push(t);
      if (isId) current!.hasId = true;
      continue;
    }
    if (!current) throw new FormatError(`attribute tag ${t.tag.toString(16)} before any object`);
    current.tlvs.push(t);
  }
  flush();
  return out;
}
