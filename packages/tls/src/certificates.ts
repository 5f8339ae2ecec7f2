// Server authentication on the host (RFC 8446 §4.4.2–§4.4.3, RFC 5246 §7.4.2–§7.4.3, RFC 5280 §6 in
// the subset IoT needs): a path from the leaf to a trust anchor built from the certificates the server
// sent in any order, signatures, validity dates, CA flags, the host name, and the handshake signature
// with the leaf's key (ECDSA on P-256/P-384/P-521 and brainpool, RSA PKCS#1 v1.5 and PSS, Ed25519).
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

/**
 * PEM text (one or more certificates: a CA file, or a whole bundle such as the system's
 * ca-certificates.crt) or DER blocks to X509Certificate objects, parsed once per input.
 */
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

const subjectOf = (cert: X509Certificate) => `"${cert.subject.replace(/\n/g, ', ')}"`;

function checkValidity(cert: X509Certificate, now: Date): void {
  if (new Date(cert.validFrom) > now)
    tlsFail('bad_certificate', `certificate ${subjectOf(cert)} is not valid yet`);
  if (new Date(cert.validTo) < now)
    tlsFail('certificate_expired', `certificate ${subjectOf(cert)} expired on ${cert.validTo}`);
}

const issues = (issuer: X509Certificate, cert: X509Certificate) =>
  cert.checkIssued(issuer) && cert.verify(issuer.publicKey);

/** Longest path accepted from the leaf to an anchor (OpenSSL's default verify depth is 100; IoT chains are 2–4). */
const MAX_PATH = 10;

/**
 * Verifies the server chain up to one of the anchors, and the host name against the leaf. The
 * certificates after the leaf may come in any order (RFC 8446 §4.4.2 allows it; RFC 5246 servers
 * misorder them too): each step takes the issuer among the anchors first, then among those sent.
 */
export function verifyServerChain(
  chain: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
  hostname: string | undefined,
  now = new Date(),
): void {
  const leaf = chain[0] ?? tlsFail('certificate_required', 'the server sent no certificate');
  checkValidity(leaf, now);
  let cert = leaf;
  const unused = chain.slice(1);
  for (let depth = 0; depth < MAX_PATH; depth++) {
    const anchor = anchors.find((a) => a.raw.equals(cert.raw) || issues(a, cert));
    if (anchor) {
      checkValidity(anchor, now);
      if (hostname !== undefined) checkHostname(leaf, hostname);
      return;
    }
    const index = unused.findIndex((c) => issues(c, cert));
    if (index < 0) {
      if (unused.some((c) => cert.checkIssued(c)))
        tlsFail(
          'bad_certificate',
          `the signature on ${subjectOf(cert)} does not verify with its issuer's key`,
        );
      break;
    }
    const issuer = unused.splice(index, 1)[0]!;
    if (!issuer.ca) tlsFail('bad_certificate', `${subjectOf(issuer)} issued a certificate but is not a CA`);
    checkValidity(issuer, now);
    cert = issuer;
  }
  tlsFail(
    'unknown_ca',
    `the server certificate does not chain to a trusted CA (its issuer: "${cert.issuer.replace(/\n/g, ', ')}")`,
  );
}

function checkHostname(leaf: X509Certificate, hostname: string): void {
  const matched = isIP(hostname) ? leaf.checkIP(hostname) : leaf.checkHost(hostname);
  if (!matched) tlsFail('bad_certificate', `the server certificate is not valid for "${hostname}"`);
}

interface SchemeRule {
  hash: string;
  key: 'ec' | 'rsa' | 'ed25519';
  pss?: boolean;
  /** TLS 1.3 binds an ECDSA scheme to one curve (RFC 8446 §4.2.3). */
  curve?: string;
  /** rsa_pkcs1_* sign only certificates and TLS 1.2 messages, never a TLS 1.3 CertificateVerify (§4.2.3). */
  tls12Only?: boolean;
}

/** The schemes the client accepts from the server, and what each needs. */
const SCHEMES: Record<number, SchemeRule> = {
  [SIGNATURE_SCHEME.ecdsa_secp256r1_sha256]: { hash: 'sha256', key: 'ec', curve: 'prime256v1' },
  [SIGNATURE_SCHEME.ecdsa_secp384r1_sha384]: { hash: 'sha384', key: 'ec', curve: 'secp384r1' },
  [SIGNATURE_SCHEME.ecdsa_secp521r1_sha512]: { hash: 'sha512', key: 'ec', curve: 'secp521r1' },
  [SIGNATURE_SCHEME.ecdsa_brainpoolP256r1tls13_sha256]: {
    hash: 'sha256',
    key: 'ec',
    curve: 'brainpoolP256r1',
  },
  [SIGNATURE_SCHEME.ed25519]: { hash: '', key: 'ed25519' },
  [SIGNATURE_SCHEME.rsa_pss_rsae_sha256]: { hash: 'sha256', key: 'rsa', pss: true },
  [SIGNATURE_SCHEME.rsa_pss_rsae_sha384]: { hash: 'sha384', key: 'rsa', pss: true },
  [SIGNATURE_SCHEME.rsa_pss_rsae_sha512]: { hash: 'sha512', key: 'rsa', pss: true },
  [SIGNATURE_SCHEME.rsa_pkcs1_sha256]: { hash: 'sha256', key: 'rsa', tls12Only: true },
  [SIGNATURE_SCHEME.rsa_pkcs1_sha384]: { hash: 'sha384', key: 'rsa', tls12Only: true },
  [SIGNATURE_SCHEME.rsa_pkcs1_sha512]: { hash: 'sha512', key: 'rsa', tls12Only: true },
};

/** signature_algorithms of the ClientHello: what the client verifies, in preference order. */
export const SERVER_SIGNATURE_SCHEMES: readonly number[] = [
  SIGNATURE_SCHEME.ecdsa_secp256r1_sha256,
  SIGNATURE_SCHEME.ecdsa_secp384r1_sha384,
  SIGNATURE_SCHEME.ecdsa_secp521r1_sha512,
  SIGNATURE_SCHEME.ed25519,
  SIGNATURE_SCHEME.rsa_pss_rsae_sha256,
  SIGNATURE_SCHEME.rsa_pss_rsae_sha384,
  SIGNATURE_SCHEME.rsa_pss_rsae_sha512,
  SIGNATURE_SCHEME.rsa_pkcs1_sha256,
  SIGNATURE_SCHEME.rsa_pkcs1_sha384,
  SIGNATURE_SCHEME.rsa_pkcs1_sha512,
  SIGNATURE_SCHEME.ecdsa_brainpoolP256r1tls13_sha256,
];

/** The key type a scheme signs with ('ec', 'rsa', 'ed25519'), if this library knows the scheme. */
export const schemeKeyType = (scheme: number) => SCHEMES[scheme]?.key;

const hex4 = (n: number) => n.toString(16).padStart(4, '0');

/**
 * Checks the server's handshake signature with its certificate key: the TLS 1.3 CertificateVerify, or
 * the TLS 1.2 ServerKeyExchange (`message` names it in errors). In TLS 1.3 an ECDSA scheme names the
 * curve too and PKCS#1 v1.5 is not allowed; in TLS 1.2 0x0403 is SHA-256 with ECDSA on any curve
 * (RFC 5246 §7.4.1.4.1).
 */
export function verifyHandshakeSignature(
  leaf: X509Certificate,
  scheme: number,
  content: Uint8Array,
  signature: Uint8Array,
  version: '1.2' | '1.3' = '1.3',
  message = 'CertificateVerify',
): void {
  const rule =
    SCHEMES[scheme] ??
    tlsFail(
      'illegal_parameter',
      `the server signed its ${message} with scheme ${hex4(scheme)}, which was not offered`,
    );
  if (rule.tls12Only && version === '1.3')
    tlsFail(
      'illegal_parameter',
      `the server signed its ${message} with ${hex4(scheme)} (RSA PKCS#1 v1.5), not allowed in TLS 1.3`,
    );
  const key = leaf.publicKey;
  const keyType = key.asymmetricKeyType === 'rsa-pss' ? 'rsa' : key.asymmetricKeyType;
  if (keyType !== rule.key)
    tlsFail(
      'illegal_parameter',
      `the server signed its ${message} with ${hex4(scheme)}, which its ${keyType} key cannot make`,
    );
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (rule.curve && (version === '1.3' || scheme === SIGNATURE_SCHEME.ecdsa_brainpoolP256r1tls13_sha256)) {
    if (curve !== rule.curve)
      tlsFail(
        'illegal_parameter',
        `signature scheme ${hex4(scheme)} needs a ${rule.curve} key, not ${curve}`,
      );
  }
  const ok = rule.pss
    ? verify(
        rule.hash,
        content,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
        signature,
      )
    : verify(rule.hash || null, content, key, signature);
  if (!ok) tlsFail('decrypt_error', `the server's ${message} signature is wrong`);
}
