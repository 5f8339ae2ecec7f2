// The media of EST (RFC 7030 §4): PKCS#7 certs-only (RFC 5751 §3.2.2, RFC 5652 SignedData without
// signers) for cacerts and enrolment answers, CsrAttrs (§4.5.2) for csrattrs, and base64 bodies
// (Content-Transfer-Encoding: base64, §3.2.2) both ways.
import { derOid, derSequence, derSet, OID } from '@iotsafe/protocol';
import { toDer, x509 } from '../x509.js';

export const MEDIA = {
  /** §4.1.3: the CA certificates. */
  caCerts: 'application/pkcs7-mime',
  /** §4.2.3: an enrolment's certificate. */
  certsOnly: 'application/pkcs7-mime; smime-type=certs-only',
  pkcs10: 'application/pkcs10',
  csrattrs: 'application/csrattrs',
} as const;

/** A certs-only PKCS#7 of `certificates` (DER each), DER. */
export function certsOnly(certificates: readonly Uint8Array[]): Uint8Array {
  return toDer(new x509.X509Certificates(certificates.map((c) => new x509.X509Certificate(c))).export('raw'));
}

/** The certificates of a certs-only PKCS#7 (DER), leaf or CA order as given. */
export function certificatesOf(pkcs7: Uint8Array): Uint8Array[] {
  const set = new x509.X509Certificates(pkcs7);
  return [...set].map((c) => new Uint8Array(c.rawData));
}

/** What this CA asks of a request (§4.5.2): ecdsa-with-SHA256 signatures, P-256 keys. */
export function csrAttributes(): Uint8Array {
  return derSequence(
    derOid(OID.ecdsaWithSha256),
    derSequence(derOid(OID.ecPublicKey), derSet(derOid(OID.prime256v1))),
  );
}

/**
 * Base64 in 64-character lines (RFC 2045 §6.8 wants at most 76) ended by LF, which `base64 -d` and
 * `openssl base64 -d` read as well as EST clients do (CR is refused by some shell tools).
 */
export function base64Body(der: Uint8Array): string {
  return `${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n`;
}

/** Decodes a base64 body, whitespace allowed; anything else is not base64 (null). */
export function decodeBase64Body(text: string): Uint8Array | null {
  const compact = text.replace(/[\r\n\t ]/g, '');
  if (compact.length === 0 || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact))
    return null;
  return new Uint8Array(Buffer.from(compact, 'base64'));
}
