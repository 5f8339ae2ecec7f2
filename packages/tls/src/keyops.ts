// KeyOps: every private-key and secret operation of the handshake goes through this seam, so a SIM can
// do them (spec/iotsafe.md §5): the client signature, the ephemeral ECDHE key, and HKDF-Extract.
import {
  createECDH,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
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

export interface KeyShare {
  group: NamedGroup;
  /** The key_share entry: an uncompressed point (P-256) or 32 bytes (x25519). */
  publicKey: Uint8Array;
  /** ECDHE with the server's share; the result is the (EC)DHE input of the key schedule. */
  computeSecret(peerPublicKey: Uint8Array): Promise<Uint8Array>;
}

/** An external PSK (RFC 8446 §4.2.11). The key itself never needs to be on the host: only the Early Secret. */
export interface PskProvider {
  identity: Uint8Array;
  /** The hash the PSK is bound to; SHA-256 for the usual external PSKs. */
  hash: HashAlgorithm;
  /** Early Secret = HKDF-Extract(0^HashLen, PSK): computed where the PSK lives. */
  earlySecret(): Promise<Uint8Array>;
  /**
   * TLS 1.2: the master secret PRF(premaster, label ‖ seed, 48) with the RFC 4279 premaster (PSK) or,
   * given the ECDHE secret, the RFC 5489 one (ECDHE-PSK) — a SIM does this with COMPUTE PRF.
   */
  tls12MasterSecret(labelAndSeed: Uint8Array, otherSecret?: Uint8Array): Promise<Uint8Array>;
}

export interface KeyOps {
  /** An external PSK to offer, if any. */
  readonly psk?: PskProvider;
  /** Groups offered in key_share and supported_groups, in preference order. */
  readonly groups: readonly NamedGroup[];
  generateKeyShare(group: NamedGroup): Promise<KeyShare>;
  hkdfExtract(hash: HashAlgorithm, salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array>;
  /** Client certificate chain, leaf first (DER); empty when the client has none. */
  readonly certificateChain: readonly Uint8Array[];
  /** Signature schemes the client key can produce. */
  readonly signatureSchemes: readonly number[];
  /** Signs the CertificateVerify content; returns the signature as TLS carries it (DER for ECDSA). */
  sign(scheme: number, content: Uint8Array): Promise<Uint8Array>;
}

const SCHEME_HASH: Record<number, string> = {
  [SIGNATURE_SCHEME.ecdsa_secp256r1_sha256]: 'sha256',
  [SIGNATURE_SCHEME.ecdsa_secp384r1_sha384]: 'sha384',
  [SIGNATURE_SCHEME.ecdsa_brainpoolP256r1tls13_sha256]: 'sha256',
};

/** The signature scheme an ECDSA key on `curve` signs with (TLS 1.3 names; RFC 8446 §4.2.3, RFC 8734). */
export function schemesForCurve(curve: string | undefined): number[] {
  if (curve === 'prime256v1') return [SIGNATURE_SCHEME.ecdsa_secp256r1_sha256];
  if (curve === 'secp384r1') return [SIGNATURE_SCHEME.ecdsa_secp384r1_sha384];
  if (curve === 'brainpoolP256r1') return [SIGNATURE_SCHEME.ecdsa_brainpoolP256r1tls13_sha256];
  return [];
}

/**
 * The groups to offer for a client key on `curve`: a brainpool key adds brainpoolP256r1, because TLS 1.2
 * servers accept a client certificate only on a curve the ClientHello lists (RFC 8422 §5.1.1; OpenSSL
 * says "wrong curve" otherwise). TLS 1.3 ignores that code.
 */
export function groupsForKey(curve: string | undefined, base: readonly NamedGroup[]): NamedGroup[] {
  return curve === 'brainpoolP256r1' ? [...base, 'brainpoolP256r1'] : [...base];
}

/** Software key operations with node:crypto: the baseline, and what a SIM-less device runs. */
export class SoftwareKeyOps implements KeyOps {
  readonly groups: readonly NamedGroup[];
  readonly signatureSchemes: readonly number[];
  private readonly key?: KeyObject;

  readonly psk?: PskProvider;

  constructor(
    options: {
      certificateChain?: readonly Uint8Array[];
      privateKeyPem?: string;
      psk?: { identity: Uint8Array; key: Uint8Array; hash?: HashAlgorithm };
    } = {},
  ) {
    this.certificateChain = options.certificateChain ?? [];
    const psk = options.psk;
    if (psk) {
      const hash = psk.hash ?? 'sha256';
      this.psk = {
        identity: psk.identity,
        hash,
        earlySecret: async () => hkdfExtract(hash, new Uint8Array(hash === 'sha384' ? 48 : 32), psk.key),
        tls12MasterSecret: async (labelAndSeed, other) =>
          tls12Prf(other ? ecdhePskPremaster(other, psk.key) : pskPremaster(psk.key), labelAndSeed, 48, hash),
      };
    }
    if (options.privateKeyPem) this.key = createPrivateKey(options.privateKeyPem);
    const curve = this.key?.asymmetricKeyDetails?.namedCurve;
    this.signatureSchemes = schemesForCurve(curve);
    this.groups = groupsForKey(curve, ['x25519', 'secp256r1']);
  }

  readonly certificateChain: readonly Uint8Array[];

  async generateKeyShare(group: NamedGroup): Promise<KeyShare> {
    if (group === 'secp256r1' || group === 'brainpoolP256r1') {
      const ecdh = createECDH(group === 'secp256r1' ? 'prime256v1' : 'brainpoolP256r1');
      const publicKey = new Uint8Array(ecdh.generateKeys());
      return { group, publicKey, computeSecret: async (peer) => new Uint8Array(ecdh.computeSecret(peer)) };
    }
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
    return {
      group,
      publicKey: raw,
      computeSecret: async (peer) => {
        const der = Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), Buffer.from(peer)]);
        return new Uint8Array(
          diffieHellman({
            privateKey,
            publicKey: createPublicKey({ key: der, format: 'der', type: 'spki' }),
          }),
        );
      },
    };
  }

  async hkdfExtract(hash: HashAlgorithm, salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
    return hkdfExtract(hash, salt, ikm);
  }

  async sign(scheme: number, content: Uint8Array): Promise<Uint8Array> {
    const hash = SCHEME_HASH[scheme];
    if (!this.key || !hash) throw new Error('this key cannot sign with that scheme');
    return new Uint8Array(sign(hash, content, this.key));
  }
}
