// The credential selector: which of the SIM's credentials the device uses (this project's format, see
// docs/perso-format.md; IoT.05 defines none). A file container holding one BER-TLV object per
// credential kind: E0 { A0 active, A1 pending? } for a certificate credential (84 private key ID,
// 83 certificate file ID), E1 { A0 active, A1 pending? } for a PSK (86 secret ID, 8A identity). There
// is always exactly one active entry per kind; a pending one is tried first and falls back to the
// active one when the server refuses it. The operator rewrites the whole file in one atomic script.
import { concatBytes, FormatError } from '../bytes.js';
import { decodeBerTlvs, encodeBerTlv } from '../tlv.js';

/** The selector's file container: ID and label (configurable per profile; these are the defaults). */
export const SELECTOR_FILE_ID = Uint8Array.of(0x0f);
export const SELECTOR_LABEL = 'credential-selector';

export interface CertificateCredential {
  /** The private key container's ID. */
  key: Uint8Array;
  /** The certificate file container's ID. */
  certificate: Uint8Array;
}

export interface PskCredential {
  /** The secret container's ID. */
  secret: Uint8Array;
  /** The PSK identity (RFC 8446 §4.2.11), bytes. */
  identity: Uint8Array;
}

export interface CredentialChoice<T> {
  active: T;
  pending?: T;
}

export interface CredentialSelector {
  certificate?: CredentialChoice<CertificateCredential>;
  psk?: CredentialChoice<PskCredential>;
}

const TAG = { CERTIFICATE: 0xe0, PSK: 0xe1, ACTIVE: 0xa0, PENDING: 0xa1 } as const;
const FIELD = { KEY: 0x84, FILE: 0x83, SECRET: 0x86, IDENTITY: 0x8a } as const;

function encodeChoice<T>(tag: number, choice: CredentialChoice<T>, fields: (c: T) => Uint8Array): Uint8Array {
  return encodeBerTlv(
    tag,
    concatBytes(
      encodeBerTlv(TAG.ACTIVE, fields(choice.active)),
      ...(choice.pending ? [encodeBerTlv(TAG.PENDING, fields(choice.pending))] : []),
    ),
  );
}

export function encodeCredentialSelector(selector: CredentialSelector): Uint8Array {
  return concatBytes(
    ...(selector.certificate
      ? [
          encodeChoice(TAG.CERTIFICATE, selector.certificate, (c) =>
            concatBytes(encodeBerTlv(FIELD.KEY, c.key), encodeBerTlv(FIELD.FILE, c.certificate)),
          ),
        ]
      : []),
    ...(selector.psk
      ? [
          encodeChoice(TAG.PSK, selector.psk, (c) =>
            concatBytes(encodeBerTlv(FIELD.SECRET, c.secret), encodeBerTlv(FIELD.IDENTITY, c.identity)),
          ),
        ]
      : []),
  );
}

function fieldsOf(value: Uint8Array, wanted: readonly number[]): Map<number, Uint8Array> {
  const fields = new Map(decodeBerTlvs(value).map((t) => [t.tag, t.value]));
  for (const tag of wanted)
    if (!fields.get(tag)?.length)
      throw new FormatError(`credential selector: an entry lacks tag ${tag.toString(16)}`);
  return fields;
}

function decodeChoice<T>(value: Uint8Array, read: (fields: Uint8Array) => T): CredentialChoice<T> {
  const entries = decodeBerTlvs(value);
  const active = entries.filter((e) => e.tag === TAG.ACTIVE);
  const pending = entries.filter((e) => e.tag === TAG.PENDING);
  if (active.length !== 1 || pending.length > 1 || entries.length !== active.length + pending.length)
    throw new FormatError('credential selector: one active entry and at most one pending one per kind');
  return { active: read(active[0]!.value), ...(pending[0] ? { pending: read(pending[0].value) } : {}) };
}

/** Reads a selector file; a FormatError when it is not one (the device then keeps its default). */
export function decodeCredentialSelector(bytes: Uint8Array): CredentialSelector {
  const selector: CredentialSelector = {};
  for (const object of decodeBerTlvs(bytes)) {
    if (object.tag === TAG.CERTIFICATE && !selector.certificate)
      selector.certificate = decodeChoice(object.value, (v) => {
        const f = fieldsOf(v, [FIELD.KEY, FIELD.FILE]);
        return { key: f.get(FIELD.KEY)!, certificate: f.get(FIELD.FILE)! };
      });
    else if (object.tag === TAG.PSK && !selector.psk)
      selector.psk = decodeChoice(object.value, (v) => {
        const f = fieldsOf(v, [FIELD.SECRET, FIELD.IDENTITY]);
        return { secret: f.get(FIELD.SECRET)!, identity: f.get(FIELD.IDENTITY)! };
      });
    else
      throw new FormatError(`credential selector: unexpected or repeated object ${object.tag.toString(16)}`);
  }
  return selector;
}
