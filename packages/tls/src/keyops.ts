// KeyOps: every private-key and secret operation of the handshake goes through this seam, so a SIM can
// do them (GSMA IoT SAFE): the client signature, the ephemeral ECDHE key, HKDF-Extract, and an external
// PSK's secret steps. SoftwareKeyOps does them with node:crypto.
import {
  createECDH,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  ECDH,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import {
  ecdhePskPremaster,
  type HashAlgorithm,
  hkdfExtract,
  pskPremaster,
  tls12Prf,
} from '@iotsafe/protocol';
import { type NamedGroup, SIGNATURE_SCHEME } from './constants.js';
import { tlsFail } from './errors.js';
import { legacyPrf } from './tls12/legacy-prf.js';

export interface KeyShare {
  group: NamedGroup;
  /** The key_share entry: an uncompressed point (NIST and brainpool curves) or 32 bytes (x25519). */
  publicKey: Uint8Array;
  /** ECDHE with the server's share (already checked by checkKeyShare); the (EC)DHE input of the key schedule. */
  computeSecret(peerPublicKey: Uint8Array): Promise<Uint8Array>;
}

/** An external PSK (RFC 8446 §4.2.11, RFC 4279). The key itself never needs to be on the host. */
export interface PskProvider {
  identity: Uint8Array;
  /** The hash the PSK is bound to; SHA-256 for the usual external PSKs. */
  hash: HashAlgorithm;
  /**
   * The versions its holder may derive for (an IoT SAFE secret's allowed KDFs: HKDF → TLS 1.3, the
   * TLS 1.2 PRF → TLS 1.2). Absent: both.
   */
  versions?: { tls13: boolean; tls12: boolean };
  /** Early Secret = HKDF-Extract(0^HashLen, PSK): computed where the PSK lives, only when TLS 1.3 is offered. */
  earlySecret(): Promise<Uint8Array>;
  /**
   * TLS 1.2: the master secret PRF(premaster, label ‖ seed, 48) with the RFC 4279 premaster (PSK) or,
   * given the ECDHE secret, the RFC 5489 one (ECDHE-PSK) — a SIM does this with COMPUTE PRF.
   */
  tls12MasterSecret(labelAndSeed: Uint8Array, otherSecret?: Uint8Array): Promise<Uint8Array>;
  /**
   * TLS 1.0 and 1.1: the same master secret with their PRF (RFC 2246 §5, MD5 ⊕ SHA-1) and the RFC 4279
   * premaster. Absent: the PSK is not offered below TLS 1.2 (a SIM's COMPUTE PRF does the TLS 1.2 one).
   */
  legacyMasterSecret?(labelAndSeed: Uint8Array): Promise<Uint8Array>;
}

export interface KeyOps {
  /** An external PSK to offer, if any. */
  readonly psk?: PskProvider;
  /** Groups offered in key_share and supported_groups, in preference order. */
  readonly groups: readonly NamedGroup[];
  /** Why the groups are so few, when it is not the user's choice ("full offload: the SIM's curve"). */
  readonly groupsLimitedBy?: string;
  generateKeyShare(group: NamedGroup): Promise<KeyShare>;
  hkdfExtract(hash: HashAlgorithm, salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array>;
  /** Client certificate chain, leaf first (DER); empty when the client has none. */
  readonly certificateChain: readonly Uint8Array[];
  /** TLS 1.3 signature schemes the client key can produce, best first (ECDSA bound to its curve, §4.2.3). */
  readonly signatureSchemes: readonly number[];
  /**
   * TLS 1.2 (hash, signature) pairs the key can produce, best first (RFC 5246 §7.4.1.4.1): ECDSA with
   * any hash its holder supports on any curve. Absent: the TLS 1.3 list.
   */
  readonly signatureSchemes12?: readonly number[];
  /** Signs a CertificateVerify; `scheme` is from either list. Returns the signature as TLS carries it. */
  sign(scheme: number, content: Uint8Array): Promise<Uint8Array>;
  /**
   * Called once the client's Finished is on its way: what was kept off the handshake's critical path
   * (closing SIM sessions, say) may run now. Errors here are the KeyOps' own, never the connection's.
   */
  afterFlight?(): Promise<void>;
}

/** The hash of an ECDSA scheme, TLS 1.3 or TLS 1.2 code. */
export const ECDSA_SCHEME_HASH: Record<number, HashAlgorithm> = {
  [SIGNATURE_SCHEME.ecdsa_secp256r1_sha256]: 'sha256',
  [SIGNATURE_SCHEME.ecdsa_secp384r1_sha384]: 'sha384',
  [SIGNATURE_SCHEME.ecdsa_secp521r1_sha512]: 'sha512',
  [SIGNATURE_SCHEME.ecdsa_brainpoolP256r1tls13_sha256]: 'sha256',
};

/** The TLS 1.3 signature scheme of an ECDSA key on `curve` (RFC 8446 §4.2.3, RFC 8734). */
export function schemesForCurve(curve: string | undefined): number[] {
  if (curve === 'prime256v1') return [SIGNATURE_SCHEME.ecdsa_secp256r1_sha256];
  if (curve === 'secp384r1') return [SIGNATURE_SCHEME.ecdsa_secp384r1_sha384];
  if (curve === 'secp521r1') return [SIGNATURE_SCHEME.ecdsa_secp521r1_sha512];
  if (curve === 'brainpoolP256r1') return [SIGNATURE_SCHEME.ecdsa_brainpoolP256r1tls13_sha256];
  return [];
}

/**
 * The TLS 1.2 pairs of an ECDSA key on `curve` that can hash with `hashes`: the curve's own hash first,
 * then the others (TLS 1.2 does not bind the hash to the curve, RFC 5246 §7.4.1.4.1).
 */
export function schemes12ForCurve(curve: string | undefined, hashes: readonly HashAlgorithm[]): number[] {
  if (!curve) return [];
  const own: HashAlgorithm = curve === 'secp384r1' ? 'sha384' : curve === 'secp521r1' ? 'sha512' : 'sha256';
  const code: Record<HashAlgorithm, number> = { sha256: 0x0403, sha384: 0x0503, sha512: 0x0603 };
  const ordered = [own, ...(['sha256', 'sha384', 'sha512'] as const).filter((h) => h !== own)];
  return ordered.filter((h) => hashes.includes(h)).map((h) => code[h]);
}

/**
 * The groups to offer for a client key on `curve`: a brainpool key adds brainpoolP256r1, because TLS 1.2
 * servers accept a client certificate only on a curve the ClientHello lists (RFC 8422 §5.1.1; OpenSSL
 * says "wrong curve" otherwise). TLS 1.3 ignores that code.
 */
export function groupsForKey(curve: string | undefined, base: readonly NamedGroup[]): NamedGroup[] {
  return curve === 'brainpoolP256r1' ? [...base, 'brainpoolP256r1'] : [...base];
}

/** The groups a host-side ECDHE offers: x25519 first (one key share), then the NIST curves (RFC 8446 §9.1). */
export const HOST_GROUPS: readonly NamedGroup[] = ['x25519', 'secp256r1', 'secp384r1', 'secp521r1'];

const CURVE_OF: Record<Exclude<NamedGroup, 'x25519'>, string> = {
  secp256r1: 'prime256v1',
  secp384r1: 'secp384r1',
  secp521r1: 'secp521r1',
  brainpoolP256r1: 'brainpoolP256r1',
};

/** Field size in bytes of each curve group (an uncompressed point is 1 + 2 × this). */
const FIELD_BYTES: Record<Exclude<NamedGroup, 'x25519'>, number> = {
  secp256r1: 32,
  secp384r1: 48,
  secp521r1: 66,
  brainpoolP256r1: 32,
};

/**
 * A peer's key share must be well formed before any key operation sees it (RFC 8446 §4.2.8.2, RFC
 * 8422 §5.11): an x25519 share is 32 bytes; a curve point is uncompressed and on the curve. Anything
 * else is illegal_parameter, never an internal error with a crypto library's text.
 */
export function checkKeyShare(group: NamedGroup, share: Uint8Array): void {
  if (group === 'x25519') {
    if (share.length !== 32)
      tlsFail('illegal_parameter', `an x25519 key share of ${share.length} bytes (32 expected)`);
    return;
  }
  if (share.length !== 1 + 2 * FIELD_BYTES[group] || share[0] !== 0x04)
    tlsFail('illegal_parameter', `a ${group} key share that is not an uncompressed point`);
  try {
    ECDH.convertKey(share, CURVE_OF[group], undefined, undefined, 'uncompressed');
  } catch {
    tlsFail('illegal_parameter', `the ${group} key share is not a point on the curve`);
  }
}

/** An all-zero (EC)DHE result means a low-order peer point (RFC 8446 §7.4.2, RFC 7748 §6.1). */
export function checkSharedSecret(group: NamedGroup, secret: Uint8Array): void {
  if (secret.every((b) => b === 0)) tlsFail('illegal_parameter', `the ${group} key share is of low order`);
}

const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

/** An ephemeral key share on the host (sign offload's ECDHE, and SoftwareKeyOps). */
export function hostKeyShare(group: NamedGroup): KeyShare {
  if (group !== 'x25519') {
    const ecdh = createECDH(CURVE_OF[group]);
    const publicKey = new Uint8Array(ecdh.generateKeys());
    return { group, publicKey, computeSecret: async (peer) => new Uint8Array(ecdh.computeSecret(peer)) };
  }
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
  return {
    group,
    publicKey: raw,
    computeSecret: async (peer) => {
      const key = createPublicKey({ key: Buffer.concat([X25519_SPKI, peer]), format: 'der', type: 'spki' });
      try {
        return new Uint8Array(diffieHellman({ privateKey, publicKey: key }));
      } catch {
        // OpenSSL refuses a low-order point itself (its X25519 result would be all zeros).
        return tlsFail('illegal_parameter', 'the x25519 key share is of low order');
      }
    },
  };
}

/** Software key operations with node:crypto: the baseline, and what a SIM-less device runs. */
export class SoftwareKeyOps implements KeyOps {
  readonly groups: readonly NamedGroup[];
  readonly signatureSchemes: readonly number[];
  readonly signatureSchemes12: readonly number[];
  readonly certificateChain: readonly Uint8Array[];
  readonly psk?: PskProvider;
  private readonly key?: KeyObject;

  constructor(
    options: {
      certificateChain?: readonly Uint8Array[];
      privateKeyPem?: string;
      psk?: {
        identity: Uint8Array;
        key: Uint8Array;
        hash?: HashAlgorithm;
        versions?: { tls13: boolean; tls12: boolean };
      };
    } = {},
  ) {
    this.certificateChain = options.certificateChain ?? [];
    const psk = options.psk;
    if (psk) {
      const hash = psk.hash ?? 'sha256';
      this.psk = {
        identity: psk.identity,
        hash,
        ...(psk.versions ? { versions: psk.versions } : {}),
        earlySecret: async () => hkdfExtract(hash, new Uint8Array(hash === 'sha384' ? 48 : 32), psk.key),
        tls12MasterSecret: async (labelAndSeed, other) =>
          tls12Prf(other ? ecdhePskPremaster(other, psk.key) : pskPremaster(psk.key), labelAndSeed, 48, hash),
        legacyMasterSecret: async (labelAndSeed) => legacyPrf(pskPremaster(psk.key), labelAndSeed, 48),
      };
    }
    if (options.privateKeyPem) this.key = createPrivateKey(options.privateKeyPem);
    const curve = this.key?.asymmetricKeyDetails?.namedCurve;
    this.signatureSchemes = schemesForCurve(curve);
    this.signatureSchemes12 = schemes12ForCurve(curve, ['sha256', 'sha384', 'sha512']);
    this.groups = groupsForKey(curve, HOST_GROUPS);
  }

  async generateKeyShare(group: NamedGroup): Promise<KeyShare> {
    return hostKeyShare(group);
  }

  async hkdfExtract(hash: HashAlgorithm, salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
    return hkdfExtract(hash, salt, ikm);
  }

  async sign(scheme: number, content: Uint8Array): Promise<Uint8Array> {
    const hash = ECDSA_SCHEME_HASH[scheme];
    if (!this.key || !hash) throw new Error('this key cannot sign with that scheme');
    return new Uint8Array(sign(hash, content, this.key));
  }
}
