// Server authentication on the host (RFC 8446 §4.4.2–§4.4.3, RFC 5280 §6 in the subset IoT needs):
// the chain links and signatures, validity dates, CA flags, a trust anchor, the host name, and the
// CertificateVerify signature with the leaf's key.
import { constants, verify, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { SIGNATURE_SCHEME } from './constants.js';
import { tlsFail } from './errors.js';

export function parseCertificate(der: Uint8Array): X509Certificate {
  try {
    return new X509Certificate(Buffer.from(der));
  } catch {
    return tlsFail('bad_certificate', 'a server certificate does not parse');
  }
}

const parsedAnchors = new Map<string | readonly (string | Uint8Array)[], X509Certificate[]>();

/** PEM text (one or more certificates) or DER blocks to X509Certificate objects (parsed once per input). */
export function trustAnchors(input: string | readonly (string | Uint8Array)[]): X509Certificate[] {
  const cached = parsedAnchors.get(input);
  if (cached) return cached;
  const parsed = parseAnchors(input);
  if (parsedAnchors.size > 64) parsedAnchors.clear();
  parsedAnchors.set(input, parsed);
  return parsed;
}

function parseAnchors(input: string | readonly (string | Uint8Array)[]): X509Certificate[] {
  const items = typeof input === 'string' ? [input] : input;
  const out: X509Certificate[] = [];
  for (const item of items) {
    if (typeof item !== 'string') {
      out.push(new X509Certificate(Buffer.from(item)));
      continue;
    }
    for (const block of item.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [])
      out.push(new X509Certificate(block));
  }
  return out;
}

function checkValidity(cert: X509Certificate, now: Date): void {
  if (new Date(cert.validFrom) > now)
    tlsFail('bad_certificate', `certificate "${cert.subject.replace(/\n/g, ', ')}" is not valid yet`);
  if (new Date(cert.validTo) < now)
    tlsFail(
      'certificate_expired',
      `certificate "${cert.subject.replace(/\n/g, ', ')}" expired on ${cert.validTo}`,
    );
}

/** Verifies the server chain up to one of the anchors, and the host name against the leaf. */
export function verifyServerChain(
  chain: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
  hostname: string | undefined,
  now = new Date(),
): void {
  const leaf = chain[0] ?? tlsFail('certificate_required', 'the server sent no certificate');
  for (const cert of chain) checkValidity(cert, now);
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i]!;
    const anchor = anchors.find(
      (a) => a.raw.equals(cert.raw) || (cert.checkIssued(a) && cert.verify(a.publicKey)),
    );
    if (anchor) {
      checkValidity(anchor, now);
      if (hostname !== undefined) checkHostname(leaf, hostname);
      return;
    }
    const issuer = chain[i + 1];
    if (!issuer) break;
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey))
      tlsFail('bad_certificate', 'the server chain does not link');
    if (!issuer.ca) tlsFail('bad_certificate', 'an intermediate certificate is not a CA');
  }
  tlsFail('unknown_ca', 'the server certificate does not chain to a trusted CA');
}

function checkHostname(leaf: X509Certificate, hostname: string): void {
  const matched = isIP(hostname) ? leaf.checkIP(hostname) : leaf.checkHost(hostname);
  if (!matched) tlsFail('bad_certificate', `the server certificate is not valid for "${hostname}"`);
}

/** Each scheme's hash, and for ECDSA the curve TLS 1.3 binds it to (RFC 8446 §4.2.3, RFC 8734). */
const VERIFY: Record<number, { hash: string; pss?: boolean; curve?: string }> = {
  [SIGNATURE_SCHEME.ecdsa_secp256r1_sha256]: { hash: 'sha256', curve: 'prime256v1' },
  [SIGNATURE_SCHEME.ecdsa_secp384r1_sha384]: { hash: 'sha384', curve: 'secp384r1' },
  [SIGNATURE_SCHEME.ecdsa_secp521r1_sha512]: { hash: 'sha512', curve: 'secp521r1' },
  [SIGNATURE_SCHEME.ecdsa_brainpoolP256r1tls13_sha256]: { hash: 'sha256', curve: 'brainpoolP256r1' },
  [SIGNATURE_SCHEME.rsa_pss_rsae_sha256]: { hash: 'sha256', pss: true },
  [SIGNATURE_SCHEME.rsa_pss_rsae_sha384]: { hash: 'sha384', pss: true },
  [SIGNATURE_SCHEME.rsa_pss_rsae_sha512]: { hash: 'sha512', pss: true },
  [SIGNATURE_SCHEME.ed25519]: { hash: '' },
};

/** Signature schemes the client accepts from the server in CertificateVerify. */
export const SERVER_SIGNATURE_SCHEMES = Object.keys(VERIFY).map(Number);

/**
 * Checks the server's signature with its certificate key. In TLS 1.3 an ECDSA scheme names the curve
 * too; in TLS 1.2 (`version` '1.2') 0x0403 is SHA-256 with ECDSA on any curve (RFC 5246 §7.4.1.4.1).
 */
export function verifyCertificateVerify(
  leaf: X509Certificate,
  scheme: number,
  content: Uint8Array,
  signature: Uint8Array,
  version: '1.2' | '1.3' = '1.3',
): void {
  const v =
    VERIFY[scheme] ??
    tlsFail(
      'illegal_parameter',
      `the server signed with scheme ${scheme.toString(16).padStart(4, '0')}, which was not offered`,
    );
  const key = leaf.publicKey;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (v.curve && (version === '1.3' || scheme === SIGNATURE_SCHEME.ecdsa_brainpoolP256r1tls13_sha256)) {
    if (curve !== v.curve)
      tlsFail(
        'illegal_parameter',
        `signature scheme ${scheme.toString(16).padStart(4, '0')} needs a ${v.curve} key, not ${curve}`,
      );
  }
  const ok = v.pss
    ? verify(
        v.hash,
        content,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
        signature,
      )
    : verify(v.hash || null, content, key, signature);
  if (!ok) tlsFail('decrypt_error', 'the server CertificateVerify signature is wrong');
}
