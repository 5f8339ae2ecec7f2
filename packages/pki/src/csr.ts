// Reading a PKCS#10 certification request (RFC 2986) for the CA: parsed by @peculiar/x509, its
// signature checked by node:crypto (OpenSSL), which knows brainpoolP256r1 as well as P-256 and RSA —
// WebCrypto does not know brainpool, and SIM keys may be brainpool (RFC 5639).
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { decodeBerTlvs, encodeBerTlv, equalBytes } from '@iotsafe/protocol';
import { CsrError } from './errors.js';
import { x509 } from './x509.js';

export interface VerifiedCsr {
  /** The subject Name, DER. */
  subject: Uint8Array;
  /** Its text form (RFC 4514). */
  subjectText: string;
  /** SubjectPublicKeyInfo, DER. */
  publicKeyInfo: Uint8Array;
  publicKey: KeyObject;
}

// RFC 5758 §3.2 (ECDSA) and RFC 4055 §5 (RSA PKCS#1 v1.5): the signature algorithms a CSR may use.
const SIGNATURE_HASH: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};

/** Largest request the CA reads (a P-256 CSR is ~250 bytes, an RSA-4096 one ~1.2 KiB). */
export const MAX_CSR_BYTES = 8192;

/** Parses `der` and checks its self-signature; a CsrError says what is wrong. */
export function verifyCsr(der: Uint8Array): VerifiedCsr {
  if (der.length === 0 || der.length > MAX_CSR_BYTES)
    throw new CsrError('malformed', `a certification request is 1 to ${MAX_CSR_BYTES} bytes`);
  let info: Uint8Array;
  let algorithmOid: string;
  let signature: Uint8Array;
  let publicKeyInfo: Uint8Array;
  let subject: Uint8Array;
  let subjectText: string;
  try {
    // @peculiar/x509 parses lazily: every field read inside the try
    const request = new x509.Pkcs10CertificateRequest(der);
    publicKeyInfo = new Uint8Array(request.publicKey.rawData);
    subject = new Uint8Array(request.subjectName.toArrayBuffer());
    subjectText = request.subject;
    const [outer, ...rest] = decodeBerTlvs(der);
    if (outer?.tag !== 0x30 || rest.length > 0) throw new Error('trailing bytes');
    const [infoTlv, algorithm, signatureTlv, ...extra] = decodeBerTlvs(outer.value);
    if (!infoTlv || !algorithm || signatureTlv?.tag !== 0x03 || extra.length > 0) throw new Error('shape');
    info = encodeBerTlv(infoTlv.tag, infoTlv.value);
    const [oid] = decodeBerTlvs(algorithm.value);
    algorithmOid = oidText(oid!.value);
    signature = signatureTlv.value.subarray(1);
    if (!equalBytes(encodeBerTlv(outer.tag, outer.value), der)) throw new Error('not DER');
  } catch {
    throw new CsrError('malformed', 'not a PKCS#10 certification request (RFC 2986)');
  }
  const hash = SIGNATURE_HASH[algorithmOid];
  if (!hash)
    throw new CsrError('algorithm', `the request is signed with an unsupported algorithm (${algorithmOid})`);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(publicKeyInfo), format: 'der', type: 'spki' });
  } catch {
    throw new CsrError('malformed', "the request's public key cannot be read");
  }
  let good = false;
  try {
    good = verify(hash, info, publicKey, signature);
  } catch {
    good = false;
  }
  if (!good) throw new CsrError('signature', 'the request signature does not verify with its public key');
  return {
    subject,
    subjectText,
    publicKeyInfo,
    publicKey,
  };
}

/** Whether an SPKI (DER) or an uncompressed EC point is the request's public key. */
export function sameKey(csr: VerifiedCsr, expected: Uint8Array): boolean {
  if (expected[0] === 0x04 && (expected.length === 65 || expected.length === 97 || expected.length === 133)) {
    const point = csr.publicKeyInfo.subarray(csr.publicKeyInfo.length - expected.length);
    return (
      equalBytes(point, expected) &&
      csr.publicKeyInfo[csr.publicKeyInfo.length - expected.length - 1] === 0x00
    );
  }
  return equalBytes(csr.publicKeyInfo, expected);
}

function oidText(body: Uint8Array): string {
  if (body.length === 0) throw new Error('empty OID');
  const parts: number[] = [];
  let value = 0;
  for (const byte of body) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      parts.push(value);
      value = 0;
    }
  }
  const first = parts.shift()!;
  return [
    Math.min(2, Math.floor(first / 40)),
    first - Math.min(2, Math.floor(first / 40)) * 40,
    ...parts,
  ].join('.');
}
