// The DER of an X.509 v3 certificate (RFC 5280 §4.1), signature left to the caller: what the demo CA
// and the test PKI issue. ECDSA with SHA-256 only, the algorithm of every key this stack certifies.
import {
  derBitString,
  derBoolean,
  derContext,
  derOctetString,
  derOid,
  derSequence,
  derSmallInteger,
  derTime,
  derUnsignedInteger,
  OID,
} from './der.js';

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } (§4.1). */
export function x509Extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return derSequence(derOid(oid), ...(critical ? [derBoolean(true)] : []), derOctetString(value));
}

/** subjectAltName with dNSName and iPv4 iPAddress entries (§4.2.1.6). */
export function subjectAltNameExtension(dns: readonly string[], ipv4: readonly string[]): Uint8Array {
  const names = [
    ...dns.map((name) => derContext(2, new TextEncoder().encode(name), true)),
    ...ipv4.map((ip) => derContext(7, Uint8Array.from(ip.split('.').map(Number)), true)),
  ];
  return x509Extension('2.5.29.17', false, derSequence(...names));
}

/** The extensions of a CA certificate, or of an end entity (digitalSignature), in the usual form. */
export function basicExtensions(role: 'ca' | 'endEntity'): Uint8Array[] {
  return role === 'ca'
    ? [
        x509Extension(OID.basicConstraints, true, derSequence(derBoolean(true))),
        x509Extension(OID.keyUsage, true, Uint8Array.of(0x03, 0x02, 0x01, 0x06)), // keyCertSign, cRLSign
      ]
    : [
        x509Extension(OID.basicConstraints, true, derSequence()),
        x509Extension(OID.keyUsage, true, Uint8Array.of(0x03, 0x02, 0x07, 0x80)), // digitalSignature
      ];
}

export interface TbsCertificate {
  /** Positive, at most 20 bytes (§4.1.2.2). */
  serial: Uint8Array;
  /** Names as DER (encodeName, or any Name SEQUENCE). */
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** SubjectPublicKeyInfo DER. */
  publicKeyInfo: Uint8Array;
  extensions: readonly Uint8Array[];
}

const ECDSA_WITH_SHA256 = derSequence(derOid(OID.ecdsaWithSha256));

/** TBSCertificate, version 3, signed with ecdsa-with-SHA256: the bytes the issuer signs. */
export function encodeTbsCertificate(c: TbsCertificate): Uint8Array {
  return derSequence(
    derContext(0, derSmallInteger(2)),
    derUnsignedInteger(c.serial),
    ECDSA_WITH_SHA256,
    c.issuer,
    derSequence(derTime(c.notBefore), derTime(c.notAfter)),
    c.subject,
    c.publicKeyInfo,
    derContext(3, derSequence(...c.extensions)),
  );
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } with a DER ECDSA signature. */
export function encodeCertificate(tbs: Uint8Array, signatureDer: Uint8Array): Uint8Array {
  return derSequence(tbs, ECDSA_WITH_SHA256, derBitString(signatureDer));
}
