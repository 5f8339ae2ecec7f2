// The DER of an X.509 v3 certificate (RFC 5280 §4.1), signature left to the caller: what the demo CA
// and the test PKI issue. ECDSA with SHA-256 unless told otherwise (the test PKI's RSA and P-384 CAs).
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
  /** The issuer's signature AlgorithmIdentifier (default ecdsa-with-SHA256). */
  signatureAlgorithm?: Uint8Array;
}

/** Certificate signature AlgorithmIdentifiers (RFC 5758 §3.2; RFC 4055 §5: RSA's carry NULL parameters). */
export const CERTIFICATE_SIGNATURE = {
  ecdsaSha256: derSequence(derOid(OID.ecdsaWithSha256)),
  ecdsaSha384: derSequence(derOid(OID.ecdsaWithSha384)),
  ecdsaSha512: derSequence(derOid(OID.ecdsaWithSha512)),
  rsaSha256: derSequence(derOid('1.2.840.113549.1.1.11'), Uint8Array.of(0x05, 0x00)),
} as const;

/** TBSCertificate, version 3: the bytes the issuer signs. */
export function encodeTbsCertificate(c: TbsCertificate): Uint8Array {
  return derSequence(
    derContext(0, derSmallInteger(2)),
    derUnsignedInteger(c.serial),
    c.signatureAlgorithm ?? CERTIFICATE_SIGNATURE.ecdsaSha256,
    c.issuer,
    derSequence(derTime(c.notBefore), derTime(c.notAfter)),
    c.subject,
    c.publicKeyInfo,
    derContext(3, derSequence(...c.extensions)),
  );
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } (the TBS's algorithm). */
export function encodeCertificate(
  tbs: Uint8Array,
  signatureDer: Uint8Array,
  signatureAlgorithm: Uint8Array = CERTIFICATE_SIGNATURE.ecdsaSha256,
): Uint8Array {
  return derSequence(tbs, signatureAlgorithm, derBitString(signatureDer));
}
