// A PKCS#10 certification request (RFC 2986) whose signature is computed inside the SIM: the private
// key never leaves it: P-256 or brainpoolP256r1 keys, signed with ecdsa-with-SHA256.
import {
  type CurveName,
  certificationRequest,
  certificationRequestInfo,
  type DistinguishedName,
  ecdsaRawToDer,
  encodeEcPublicKeyInfo,
  type ObjectRef,
} from '@iotsafe/protocol';
import type { IoTSafe } from './iotsafe.js';

export { type DistinguishedName, encodeEcPublicKeyInfo, encodeName } from '@iotsafe/protocol';

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
  const info = certificationRequestInfo(request.subject, request.publicKey, request.curve);
  const signature = await iotsafe.sign(request.key, { message: info }, { hash: 'sha256' });
  return certificationRequest(info, ecdsaRawToDer(signature));
}

export function toPem(der: Uint8Array, label: string): string {
  const base64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${base64}${base64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}
