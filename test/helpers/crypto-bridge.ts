// Re-exports what applet tests need from protocol, plus SubjectPublicKeyInfo for node:crypto.
import { derBitString, derOid, derSequence, OID } from '@iotsafe/protocol';

export * from '@iotsafe/protocol';

/** SubjectPublicKeyInfo DER for an uncompressed P-256 point (RFC 5480 §2). */
export function encodeP256Spki(point: Uint8Array): Uint8Array {
  return derSequence(derSequence(derOid(OID.ecPublicKey), derOid(OID.prime256v1)), derBitString(point));
}
