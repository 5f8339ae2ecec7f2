// The X.509 library behind the PKI: @peculiar/x509 over Node's WebCrypto. It needs a Reflect metadata
// polyfill (its dependency injection), loaded here before it, once, for every module of this package.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

/** The CA's key and signature algorithm: ECDSA P-256 with SHA-256 (RFC 5758 §3.2). */
export const CA_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export const toDer = (buffer: ArrayBuffer) => new Uint8Array(buffer);

/** PEM with OpenSSL's labels (RFC 7468 §5 "X509 CRL" for CRLs, which @peculiar writes as "CRL"). */
export function pem(der: Uint8Array, label: 'CERTIFICATE' | 'X509 CRL' | 'CERTIFICATE REQUEST'): string {
  const base64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${base64}${base64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

/** DER of the first PEM block labelled `label`, or the bytes themselves when they are not PEM. */
export function derFromPem(bytes: Uint8Array, label: string): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1');
  const m = new RegExp(`-----BEGIN ${label}-----([^-]*)-----END ${label}-----`).exec(text);
  return m ? new Uint8Array(Buffer.from(m[1]!.replace(/\s/g, ''), 'base64')) : bytes;
}
