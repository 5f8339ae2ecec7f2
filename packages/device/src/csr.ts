// A PKCS#10 certification request (RFC 2986) whose signature is computed inside the SIM: the private
// key never leaves it: P-256 or brainpoolP256r1 keys, signed with ecdsa-with-SHA256.
import {
  type CurveName,
  derBitString,
  derContext,
  derOid,
  derSequence,
  derSet,
  derSmallInteger,
  derUtf8String,
  ecdsaRawToDer,
  type ObjectRef,
  OID,
} from '@iotsafe/protocol';
import type { IoTSafe } from './iotsafe.js';

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

/** SubjectPublicKeyInfo for an uncompressed P-256 point. */
export const encodeP256PublicKeyInfo = (point: Uint8Array) => encodeEcPublicKeyInfo(point, 'p256');

export interface CsrRequest {
  /** The private key container that signs. */
  key: ObjectRef;
  /** Its public key (from generateKeyPair or readPublicKey). */
  publicKey: Uint8Array;
  /** The key's curve (default P-256). */
  curve?: CurveName;
  /** The subject, or a DER Name as it is (a renewal keeps the current certificate's, RFC 7030 §4.2.2). */
  subject: DistinguishedName | Uint8Array;
}

/** Builds the request and has the SIM sign it; returns DER. */
export async function createCsr(iotsafe: IoTSafe, request: CsrRequest): Promise<Uint8Array> {
  const info = derSequence(
    derSmallInteger(0),
    request.subject instanceof Uint8Array ? request.subject : encodeName(request.subject),
    encodeEcPublicKeyInfo(request.publicKey, request.curve),
    derContext(0, new Uint8Array(0)),
  );
  const signature = await iotsafe.sign(request.key, { message: info }, { hash: 'sha256' });
  return derSequence(info, derSequence(derOid(OID.ecdsaWithSha256)), derBitString(ecdsaRawToDer(signature)));
}

export function toPem(der: Uint8Array, label: string): string {
  const base64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${base64}${base64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}
