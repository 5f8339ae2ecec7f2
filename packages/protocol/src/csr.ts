// PKCS#10 certification requests (RFC 2986) for SIM keys: the parts a signer inside the SIM needs —
// the subject, the key's SubjectPublicKeyInfo, the CertificationRequestInfo it signs, and the request
// around its ecdsa-with-SHA256 signature. Used by the device (the SIM signs through IoT SAFE) and by the
// operator's rotation (the SIM signs in a remote personalisation step).

import type { CurveName } from './crypto/ecc.js';
import {
  derBitString,
  derContext,
  derOid,
  derSequence,
  derSet,
  derSmallInteger,
  derUtf8String,
  OID,
} from './der.js';

export interface DistinguishedName {
  commonName: string;
  organization?: string;
  country?: string;
}

export function encodeName(name: DistinguishedName): Uint8Array {
  const rdn = (oid: string, value: Uint8Array) => derSet(derSequence(derOid(oid), value));
  const parts: Uint8Array[] = [];
  if (name.country) {
    const printable = new Uint8Array([0x13, name.country.length, ...Buffer.from(name.country, 'ascii')]);
    parts.push(rdn(OID.countryName, printable));
  }
  if (name.organization) parts.push(rdn(OID.organizationName, derUtf8String(name.organization)));
  parts.push(rdn(OID.commonName, derUtf8String(name.commonName)));
  return derSequence(...parts);
}

/** SubjectPublicKeyInfo for an uncompressed point on a SIM curve (RFC 5480 §2; brainpool: RFC 5639). */
export function encodeEcPublicKeyInfo(point: Uint8Array, curve: CurveName = 'p256'): Uint8Array {
  const curveOid = curve === 'p256' ? OID.prime256v1 : OID.brainpoolP256r1;
  return derSequence(derSequence(derOid(OID.ecPublicKey), derOid(curveOid)), derBitString(point));
}

/** CertificationRequestInfo (RFC 2986 §4.1): version 0, the subject, the key, no attributes. */
export function certificationRequestInfo(
  subject: DistinguishedName | Uint8Array,
  point: Uint8Array,
  curve: CurveName = 'p256',
): Uint8Array {
  return derSequence(
    derSmallInteger(0),
    subject instanceof Uint8Array ? subject : encodeName(subject),
    encodeEcPublicKeyInfo(point, curve),
    derContext(0, new Uint8Array(0)),
  );
}

/** The request (RFC 2986 §4.2) from its info and the ecdsa-with-SHA256 signature over it (DER). */
export function certificationRequest(info: Uint8Array, derSignature: Uint8Array): Uint8Array {
  return derSequence(info, derSequence(derOid(OID.ecdsaWithSha256)), derBitString(derSignature));
}
