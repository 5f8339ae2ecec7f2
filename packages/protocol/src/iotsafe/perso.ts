// The IoT SAFE personalisation format carried by STORE DATA (DGI mode, GPCS 11.11) after INSTALL
// [for personalization] of the IoT SAFE applet. The GSMA publishes none; this one is documented in
// docs/perso-format.md. Each DGI's value is BER-TLV; a class wrapper C1–C4 names the container.
//   A001 create or replace a container: wrapper with the attributes GET DATA reports (+ C5 partner ID)
//   A002 put content: wrapper with the ID or label and D7 private key | D8 EC point | D9 file | DA secret
//   A003 generate a key pair in a private key container: wrapper with the ID or label
//   A004 delete a container: wrapper with the ID or label
//   A005 list the containers (empty): answered with the object list
//   A006 sign a PKCS#10 CertificationRequestInfo for a private key container: wrapper with the ID or
//        label and the CertificationRequestInfo (30 …); answered with the signature
//   A0FF lock personalisation (empty)
// The answer to a script (the last STORE DATA block's response data) is what its A003, A005 and A006
// operations give, in order: A003 C1 { ref, D8 public point }, A005 the C1–C4 descriptors, A006
// C1 { ref, DB ECDSA signature (DER) }.
import { concatBytes, FormatError, readUintBe, u16be, utf8 } from '../bytes.js';
import { decodeDgis, encodeDgi } from '../gp/dgi.js';
import { decodeBerTlvs, encodeBerTlv } from '../tlv.js';
import { ID_TAG, INFO_TAG, LABEL_TAG, type ObjectClass, TAG } from './constants.js';
import type { ObjectDescriptor, ObjectRef } from './objects.js';

export const PERSO_DGI = {
  CREATE: 0xa001,
  CONTENT: 0xa002,
  GENERATE: 0xa003,
  DELETE: 0xa004,
  LIST: 0xa005,
  SIGN_REQUEST: 0xa006,
  LOCK: 0xa0ff,
} as const;
export const PERSO_CONTENT_TAG = { PRIVATE_KEY: 0xd7, EC_POINT: 0xd8, FILE: 0xd9, SECRET: 0xda } as const;
/** Tags of the answers: the signature of an A006 request (ecdsa-with-SHA256, DER). */
export const PERSO_ANSWER_TAG = { EC_POINT: 0xd8, SIGNATURE: 0xdb } as const;
/** The CertificationRequestInfo in an A006 wrapper (RFC 2986 §4.1: a SEQUENCE). */
const REQUEST_INFO_TAG = 0x30;
const PARTNER_TAG = 0xc5;

export type PersoContent =
  | { kind: 'privateKey'; privateKey: Uint8Array }
  | { kind: 'publicKey'; point: Uint8Array }
  | { kind: 'file'; content: Uint8Array }
  | { kind: 'secret'; value: Uint8Array };

export type PersoOperation =
  | { op: 'create'; descriptor: ObjectDescriptor; publicKeyId?: Uint8Array }
  | { op: 'content'; objectClass: ObjectClass; ref: ObjectRef; content: PersoContent }
  | { op: 'generate'; ref: ObjectRef }
  | { op: 'delete'; objectClass: ObjectClass; ref: ObjectRef }
  | { op: 'list' }
  | { op: 'signRequest'; ref: ObjectRef; requestInfo: Uint8Array }
  | { op: 'lock'; scope?: PersoLockScope };

/**
 * What a personalisation lock still admits (docs/perso-format.md): 'issuer' (A0FF empty) any channel of
 * the issuer's that authenticates and integrity-checks each command, SCP03 included; 'ota' (A0FF = 01)
 * only remote administration (SCP80, SCP81), the terminal's SCP03 route closed for good.
 */
export type PersoLockScope = 'issuer' | 'ota';

/** True when an operation carries a private key or a secret (the card wants C-DECRYPTION for it). */
export function carriesSecret(op: PersoOperation): boolean {
  return op.op === 'content' && (op.content.kind === 'privateKey' || op.content.kind === 'secret');
}

/**
 * Whether a DGI of STORE DATA may hold key material, for a trace to hide: a perso content DGI with a
 * private key or secret (or one that does not parse), and DGIs 8000–8FFF, which GPCS 11.11.4 and EMV
 * CPS give to data encrypted under the DEK (key loading, 8113).
 */
export function dgiMayHoldSecret(dgi: number, value: Uint8Array): boolean {
  if (dgi >> 12 === 0x8) return true;
  if (dgi !== PERSO_DGI.CONTENT) return false;
  try {
    const { fields } = wrapperOf(value);
    return fields.has(PERSO_CONTENT_TAG.PRIVATE_KEY) || fields.has(PERSO_CONTENT_TAG.SECRET);
  } catch {
    return true;
  }
}

function refTlv(objectClass: ObjectClass, ref: ObjectRef): Uint8Array {
  return 'id' in ref
    ? encodeBerTlv(ID_TAG[objectClass], ref.id)
    : encodeBerTlv(LABEL_TAG[objectClass], utf8(ref.label));
}

function byteTlv(tag: number, value: number | undefined): Uint8Array {
  return value === undefined ? new Uint8Array(0) : Uint8Array.of(tag, 1, value);
}

function encodeAttributes(d: ObjectDescriptor, publicKeyId?: Uint8Array): Uint8Array {
  return concatBytes(
    d.id ? encodeBerTlv(ID_TAG[d.objectClass], d.id) : new Uint8Array(0),
    d.label !== undefined ? encodeBerTlv(LABEL_TAG[d.objectClass], utf8(d.label)) : new Uint8Array(0),
    byteTlv(TAG.ACCESS_CONDITIONS, d.access),
    byteTlv(TAG.KEY_TYPE, d.keyType),
    byteTlv(TAG.KEY_USAGE, d.keyUsage),
    byteTlv(TAG.FILE_USAGE, d.fileUsage),
    byteTlv(TAG.CRYPTO_FUNCTIONS, d.cryptoFunctions),
    byteTlv(TAG.SIGNATURE_ALGORITHMS, d.signatureAlgorithms),
    d.hashAlgorithms !== undefined
      ? encodeBerTlv(TAG.HASH_ALGORITHMS, u16be(d.hashAlgorithms))
      : new Uint8Array(0),
    byteTlv(TAG.KEY_AGREEMENT, d.keyAgreementAlgorithms),
    byteTlv(TAG.KDF_ALGORITHMS, d.kdfAlgorithms),
    publicKeyId ? encodeBerTlv(PARTNER_TAG, publicKeyId) : new Uint8Array(0),
  );
}

const CONTENT_TAG: Record<PersoContent['kind'], number> = {
  privateKey: PERSO_CONTENT_TAG.PRIVATE_KEY,
  publicKey: PERSO_CONTENT_TAG.EC_POINT,
  file: PERSO_CONTENT_TAG.FILE,
  secret: PERSO_CONTENT_TAG.SECRET,
};

function contentBytes(c: PersoContent): Uint8Array {
  switch (c.kind) {
    case 'privateKey':
      return c.privateKey;
    case 'publicKey':
      return c.point;
    case 'file':
      return c.content;
    case 'secret':
      return c.value;
  }
}

export function encodePersoOperation(op: PersoOperation): Uint8Array {
  switch (op.op) {
    case 'create':
      return encodeDgi(
        PERSO_DGI.CREATE,
        encodeBerTlv(INFO_TAG[op.descriptor.objectClass], encodeAttributes(op.descriptor, op.publicKeyId)),
      );
    case 'content':
      return encodeDgi(
        PERSO_DGI.CONTENT,
        encodeBerTlv(
          INFO_TAG[op.objectClass],
          concatBytes(
            refTlv(op.objectClass, op.ref),
            encodeBerTlv(CONTENT_TAG[op.content.kind], contentBytes(op.content)),
          ),
        ),
      );
    case 'generate':
      return encodeDgi(PERSO_DGI.GENERATE, encodeBerTlv(INFO_TAG.privateKey, refTlv('privateKey', op.ref)));
    case 'delete':
      return encodeDgi(
        PERSO_DGI.DELETE,
        encodeBerTlv(INFO_TAG[op.objectClass], refTlv(op.objectClass, op.ref)),
      );
    case 'list':
      return encodeDgi(PERSO_DGI.LIST, new Uint8Array(0));
    case 'signRequest':
      return encodeDgi(
        PERSO_DGI.SIGN_REQUEST,
        encodeBerTlv(INFO_TAG.privateKey, concatBytes(refTlv('privateKey', op.ref), op.requestInfo)),
      );
    case 'lock':
      return encodeDgi(PERSO_DGI.LOCK, op.scope === 'ota' ? Uint8Array.of(0x01) : new Uint8Array(0));
  }
}

/** An answer of a script: a reference and one value in a class wrapper (A003 point, A006 signature). */
export function encodePersoAnswer(
  objectClass: ObjectClass,
  ref: ObjectRef,
  tag: number,
  value: Uint8Array,
): Uint8Array {
  return encodeBerTlv(INFO_TAG[objectClass], concatBytes(refTlv(objectClass, ref), encodeBerTlv(tag, value)));
}

export function encodePersoScript(ops: readonly PersoOperation[]): Uint8Array {
  return concatBytes(...ops.map(encodePersoOperation));
}

const CLASS_BY_INFO = new Map<number, ObjectClass>(
  Object.entries(INFO_TAG).map(([c, tag]) => [tag, c as ObjectClass]),
);

function wrapperOf(value: Uint8Array): { objectClass: ObjectClass; fields: Map<number, Uint8Array> } {
  const tlvs = decodeBerTlvs(value);
  const wrapper = tlvs[0];
  const objectClass = wrapper ? CLASS_BY_INFO.get(wrapper.tag) : undefined;
  if (tlvs.length !== 1 || !wrapper || !objectClass)
    throw new FormatError('a perso DGI holds one C1–C4 object');
  const fields = new Map<number, Uint8Array>();
  for (const t of decodeBerTlvs(wrapper.value)) {
    if (fields.has(t.tag)) throw new FormatError(`tag ${t.tag.toString(16)} appears twice`);
    fields.set(t.tag, t.value);
  }
  return { objectClass, fields };
}

function refOf(objectClass: ObjectClass, fields: Map<number, Uint8Array>): ObjectRef {
  const id = fields.get(ID_TAG[objectClass]);
  const label = fields.get(LABEL_TAG[objectClass]);
  if (id && id.length >= 1 && id.length <= 20) return { id };
  if (label && label.length >= 1 && label.length <= 60) return { label: new TextDecoder().decode(label) };
  throw new FormatError('the container has no valid ID or label');
}

const one = (fields: Map<number, Uint8Array>, tag: number) => {
  const v = fields.get(tag);
  return v === undefined ? undefined : readUintBe(v);
};

export function decodePersoScript(data: Uint8Array): PersoOperation[] {
  return decodeDgis(data).map(({ dgi, value }): PersoOperation => {
    if (dgi === PERSO_DGI.LOCK && value.length === 1 && value[0] === 0x01)
      return { op: 'lock', scope: 'ota' };
    if (dgi === PERSO_DGI.LOCK || dgi === PERSO_DGI.LIST) {
      if (value.length !== 0)
        throw new FormatError(
          `DGI ${dgi.toString(16)} is empty${dgi === PERSO_DGI.LOCK ? ' or 01 (a lock over the air only)' : ''}`,
        );
      return { op: dgi === PERSO_DGI.LOCK ? 'lock' : 'list' };
    }
    const { objectClass, fields } = wrapperOf(value);
    if (dgi === PERSO_DGI.CREATE) {
      const id = fields.get(ID_TAG[objectClass]);
      if (!id || id.length < 1 || id.length > 20)
        throw new FormatError('a new container needs an ID of 1 to 20 bytes');
      const label = fields.get(LABEL_TAG[objectClass]);
      const descriptor: ObjectDescriptor = {
        objectClass,
        id,
        access: one(fields, TAG.ACCESS_CONDITIONS) ?? 0,
        state: 0,
        ...(label ? { label: new TextDecoder().decode(label) } : {}),
      };
      const attributes: [keyof ObjectDescriptor, number][] = [
        ['keyType', TAG.KEY_TYPE],
        ['keyUsage', TAG.KEY_USAGE],
        ['fileUsage', TAG.FILE_USAGE],
        ['cryptoFunctions', TAG.CRYPTO_FUNCTIONS],
        ['signatureAlgorithms', TAG.SIGNATURE_ALGORITHMS],
        ['hashAlgorithms', TAG.HASH_ALGORITHMS],
        ['keyAgreementAlgorithms', TAG.KEY_AGREEMENT],
        ['kdfAlgorithms', TAG.KDF_ALGORITHMS],
      ];
      for (const [name, tag] of attributes) {
        const v = one(fields, tag);
        if (v !== undefined) (descriptor as unknown as Record<string, number>)[name] = v;
      }
      const partner = fields.get(PARTNER_TAG);
      return partner ? { op: 'create', descriptor, publicKeyId: partner } : { op: 'create', descriptor };
    }
    const ref = refOf(objectClass, fields);
    if (dgi === PERSO_DGI.GENERATE) {
      if (objectClass !== 'privateKey')
        throw new FormatError('only a private key container generates a key pair');
      return { op: 'generate', ref };
    }
    if (dgi === PERSO_DGI.DELETE) return { op: 'delete', objectClass, ref };
    if (dgi === PERSO_DGI.SIGN_REQUEST) {
      const requestInfo = fields.get(REQUEST_INFO_TAG);
      if (objectClass !== 'privateKey' || !requestInfo)
        throw new FormatError('a signing request names a private key and holds a CertificationRequestInfo');
      return { op: 'signRequest', ref, requestInfo: encodeBerTlv(REQUEST_INFO_TAG, requestInfo) };
    }
    if (dgi === PERSO_DGI.CONTENT) {
      const expected = { privateKey: 'privateKey', publicKey: 'publicKey', file: 'file', secret: 'secret' }[
        objectClass
      ] as PersoContent['kind'];
      const bytes = fields.get(CONTENT_TAG[expected]);
      if (!bytes) throw new FormatError(`no content of the kind a ${objectClass} holds`);
      const content: PersoContent =
        expected === 'privateKey'
          ? { kind: 'privateKey', privateKey: bytes }
          : expected === 'publicKey'
            ? { kind: 'publicKey', point: bytes }
            : expected === 'file'
              ? { kind: 'file', content: bytes }
              : { kind: 'secret', value: bytes };
      return { op: 'content', objectClass, ref, content };
    }
    throw new FormatError(`unknown perso DGI ${dgi.toString(16)}`);
  });
}
