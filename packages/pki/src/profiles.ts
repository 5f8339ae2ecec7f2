// Certificate profiles (RFC 5280 §4.2): what goes in the certificates the CA issues — the subject
// (the CSR's, or CN = the SIM's ICCID), the validity, and the extended key usage.
import { createHash } from 'node:crypto';
import { decodeBerTlvs } from '@iotsafe/protocol';
import { CsrError } from './errors.js';
import type { CertificateRole } from './store.js';
import { x509 } from './x509.js';

export interface CertificateProfile {
  role: CertificateRole;
  /** Validity in days, from one minute before issuance (clock skew). */
  days: number;
  /** O= of the subjects built from an ICCID. */
  organization?: string;
}

/** The device profile: clientAuth, a year. */
export const DEVICE_PROFILE: CertificateProfile = { role: 'client', days: 365 };
/** Local TLS peers (an EST server, a test cloud): serverAuth, 30 days. */
export const SERVER_PROFILE: CertificateProfile = { role: 'server', days: 30 };

export const MAX_DAYS = 36500;

/** An ICCID (ITU-T E.118): 18 to 20 digits, as the SIM's EF ICCID gives it once its BCD is read. */
export function checkIccid(iccid: string): string {
  if (!/^\d{18,20}$/.test(iccid)) throw new CsrError('subject', 'an ICCID is 18 to 20 digits');
  return iccid;
}

/** The subject for a SIM's certificate: CN = ICCID (and O = the organisation when the profile has one). */
export function subjectFromIccid(iccid: string, organization?: string): x509.Name {
  const parts: x509.JsonName = [{ CN: [checkIccid(iccid)] }];
  if (organization) parts.push({ O: [organization] });
  return new x509.Name(parts);
}

/** The key identifier of RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits, hex. */
export function keyIdentifier(publicKeyInfo: Uint8Array): string {
  const [outer] = decodeBerTlvs(publicKeyInfo);
  const [, bits] = decodeBerTlvs(outer!.value);
  return createHash('sha1').update(bits!.value.subarray(1)).digest('hex');
}

/** The extensions of an end-entity certificate for `role` (RFC 5280 §4.2.1.3, 4.2.1.9, 4.2.1.12). */
export function endEntityExtensions(
  role: CertificateRole,
  subjectKeyId: string,
  caKeyId: string,
  hostname?: string,
): x509.Extension[] {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([
      role === 'client' ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth,
    ]),
    new x509.SubjectKeyIdentifierExtension(subjectKeyId),
    new x509.AuthorityKeyIdentifierExtension(caKeyId),
  ];
  if (hostname)
    extensions.push(
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: hostname },
        { type: 'ip', value: '127.0.0.1' },
      ]),
    );
  return extensions;
}
