// KeyOps backed by the IoT SAFE applet (GSMA IoT.05): the TLS client's private-key operations run in the
// SIM. Two offload levels:
//  - sign: the SIM signs CertificateVerify (pad-and-sign, 3 APDUs); ECDHE and the key schedule stay on
//    the host — the common deployment. The signature's INIT goes with the ClientHello when the scheme
//    is certain, the UPDATE once the transcript is known (RFC 8446 §4.4.3);
//  - full: also the ephemeral ECDHE key pair (GENERATE KEY PAIR in a volatile container), the server's
//    share (PUT PUBLIC KEY), COMPUTE DH, and the HKDF-Extract that takes the ECDHE secret (COMPUTE
//    HKDF). Extracts whose input is all zeros carry no secret and run on the host.
// What the objects allow decides what is offered: the private key's hash algorithms give the TLS 1.2
// signature schemes, a PSK secret's KDFs the versions (HKDF: TLS 1.3, the TLS 1.2 PRF: TLS 1.2).
// The transport may be an SCP03 channel to the applet (openScp03): nothing here changes for it.
import { createHash, X509Certificate } from 'node:crypto';
import {
  ecdsaRawToDer,
  HASH,
  type HashAlgorithm,
  hkdfExtract,
  KDF,
  type ObjectRef,
  StatusWordError,
} from '@iotsafe/protocol';
import {
  ECDSA_SCHEME_HASH,
  groupsForKey,
  HOST_GROUPS,
  hostKeyShare,
  type KeyOps,
  type KeyShare,
  type NamedGroup,
  type PskProvider,
  schemes12ForCurve,
  schemesForCurve,
} from '@iotsafe/tls';
import { byId, type IoTSafe, type OpenedSignature } from './iotsafe.js';

export type OffloadLevel = 'sign' | 'full';
export type EarlySignatureInit = 'certain' | 'likely' | 'off';

export interface IoTSafeKeyOpsOptions {
  /** The private key container that signs CertificateVerify (absent for PSK-only clients). */
  privateKey?: ObjectRef;
  /** The client chain (DER, leaf first), or the file containers that hold it (read once, then cached). */
  certificateChain?: readonly Uint8Array[] | readonly ObjectRef[];
  /**
   * An external PSK held in a secret container (Type II): its Early Secret is computed in the SIM by
   * COMPUTE HKDF mode 01, its TLS 1.2 master secret by COMPUTE PRF, so the PSK never leaves it.
   */
  psk?: { identity: Uint8Array; secret: ObjectRef };
  offload: OffloadLevel;
  /** Volatile key pair container for the ephemeral ECDHE key (full offload; Type I: 04). */
  ephemeralKey?: ObjectRef;
  /** Public key container that receives the server's share (full offload; Type I: 05). */
  peerKey?: ObjectRef;
  /**
   * End the signature's session after the client's Finished has gone (TLS calls afterFlight), not
   * before it: one APDU less on the handshake's critical path. Default true.
   */
  deferSessionEnd?: boolean;
  /**
   * Sign offload: send COMPUTE SIGNATURE INIT (key, mode, hash) when the ClientHello is made, so it runs
   * while the server answers; the UPDATE with the digest follows once the transcript is known.
   *  - 'certain' (default): only when the hash is certain — every scheme the key offers has the same one
   *    (TLS 1.3: the curve's, RFC 8446 §4.2.3; TLS 1.2: each hash the applet declares, tag 91); else a
   *    TLS 1.2 CertificateRequest may choose another and the INIT waits for it, as with 'off';
   *  - 'likely': with the curve's hash, TLS 1.3's scheme and TLS 1.2's first choice — for a connection
   *    that offers TLS 1.3 only, where it is certain. Should a TLS 1.2 server not take it, the early
   *    session is closed and the right one opened (one APDU more);
   *  - 'off': as before; for a handshake that resumes a session, which signs nothing.
   * A session opened and not used (no certificate asked) is closed after our Finished; after a failed
   * handshake the next handshake uses it, or release() or the client's close() closes it. Per connection:
   * the property of the same name.
   */
  earlySignatureInit?: EarlySignatureInit;
  /**
   * Full offload: make the next handshake's ephemeral key pair in the SIM ahead of it — when the KeyOps
   * is created, and again once each handshake's Finished has gone — so GENERATE KEY PAIR (about a second
   * on a real SIM) leaves the handshake. The key is still used once. Before use, READ PUBLIC KEY checks
   * the volatile container still holds it (a card reset empties it); if not, a new one is made then.
   * While it is made, the client's other SIM commands wait their turn. Default false.
   */
  prepareKeyShare?: boolean;
}

interface PreparedPair {
  privateKey: ObjectRef;
  publicKey: ObjectRef;
  point: Uint8Array;
}

/** The SIM's volatile ECDHE containers are P-256 (GSMA IoT.05 key type 14). */
const SIM_ECDHE_GROUP: NamedGroup = 'secp256r1';

const HASH_BITS: [HashAlgorithm, number][] = [
  ['sha256', HASH.SHA256],
  ['sha384', HASH.SHA384],
  ['sha512', HASH.SHA512],
];

export class IoTSafeKeyOps implements KeyOps {
  readonly groups: readonly NamedGroup[];
  readonly groupsLimitedBy?: string;
  readonly signatureSchemes: readonly number[];
  readonly signatureSchemes12: readonly number[];
  readonly psk?: PskProvider;
  /** The ephemeral key pair made ahead (prepareKeyShare), or undefined when that failed. */
  private prepared?: Promise<PreparedPair | undefined>;
  /** Sign offload: when to open the signature's session with the ClientHello (options.earlySignatureInit). */
  earlySignatureInit: EarlySignatureInit;
  /** Sign offload: the signature session opened with the ClientHello (earlySignatureInit), until used. */
  private opened?: OpenedSignature;
  /** The hash of the key's TLS 1.3 scheme, and whether every scheme offered has it. */
  private readonly curveHash?: HashAlgorithm;
  private readonly hashCertain: boolean;

  private constructor(
    private readonly sim: IoTSafe,
    private readonly options: IoTSafeKeyOpsOptions,
    readonly certificateChain: readonly Uint8Array[],
    keyHashes: readonly HashAlgorithm[],
    pskVersions: { tls13: boolean; tls12: boolean },
  ) {
    // The scheme follows the certificate's key: P-256 (0x0403) or brainpoolP256r1 (0x081A, RFC 8734).
    const leaf = certificateChain[0];
    const curve = leaf ? new X509Certificate(leaf).publicKey.asymmetricKeyDetails?.namedCurve : undefined;
    const keyCurve = curve ?? 'prime256v1';
    this.signatureSchemes = options.privateKey ? schemesForCurve(keyCurve) : [];
    this.signatureSchemes12 = options.privateKey ? schemes12ForCurve(keyCurve, keyHashes) : [];
    const first = this.signatureSchemes[0];
    this.curveHash = first === undefined ? undefined : ECDSA_SCHEME_HASH[first];
    const offered = [...this.signatureSchemes, ...this.signatureSchemes12];
    this.hashCertain = offered.every((scheme) => ECDSA_SCHEME_HASH[scheme] === this.curveHash);
    this.earlySignatureInit = options.earlySignatureInit ?? 'certain';
    if (options.offload === 'full') {
      this.groups = [SIM_ECDHE_GROUP];
      this.groupsLimitedBy = `full offload: ECDHE runs in the SIM, on ${SIM_ECDHE_GROUP} only`;
    } else this.groups = groupsForKey(curve, HOST_GROUPS);
    const psk = options.psk;
    if (psk) {
      this.psk = {
        identity: psk.identity,
        hash: 'sha256',
        versions: pskVersions,
        earlySecret: () => sim.hkdfExtract({ secret: psk.secret, salt: new Uint8Array(32), hash: 'sha256' }),
        // COMPUTE PRF mode 01 (RFC 4279 premaster) or 02 (RFC 5489, with the ECDHE secret): P_SHA256.
        tls12MasterSecret: (labelAndSeed, other) =>
          other
            ? sim.prf({
                mode: 'ecdhePsk',
                secret: psk.secret,
                otherSecret: other,
                label: labelAndSeed,
                seed: new Uint8Array(0),
                length: 48,
              })
            : sim.prf({
                mode: 'psk',
                secret: psk.secret,
                label: labelAndSeed,
                seed: new Uint8Array(0),
                length: 48,
              }),
      };
    }
  }

  /**
   * Reads the certificate chain from the SIM when given as containers, and what the objects allow: the
   * private key's hash algorithms (tag 91) and the PSK secret's KDFs (tag 94). An applet that does not
   * describe its objects gets SHA-256 and both PSK versions.
   */
  static async create(sim: IoTSafe, options: IoTSafeKeyOpsOptions): Promise<IoTSafeKeyOps> {
    const chain: Uint8Array[] = [];
    for (const entry of options.certificateChain ?? [])
      chain.push(entry instanceof Uint8Array ? entry : await sim.readFile(entry));
    const keyInfo = options.privateKey ? await describe(sim, 'privateKey', options.privateKey) : undefined;
    const hashBits = keyInfo?.hashAlgorithms ?? HASH.SHA256;
    const hashes = HASH_BITS.filter(([, bit]) => (hashBits & bit) !== 0).map(([h]) => h);
    const secretInfo = options.psk ? await describe(sim, 'secret', options.psk.secret) : undefined;
    const kdfs = secretInfo?.kdfAlgorithms ?? KDF.HKDF | KDF.PRF_SHA256;
    const versions = { tls13: (kdfs & KDF.HKDF) !== 0, tls12: (kdfs & KDF.PRF_SHA256) !== 0 };
    const keyOps = new IoTSafeKeyOps(sim, options, chain, hashes.length ? hashes : ['sha256'], versions);
    keyOps.prepareNextKeyShare();
    return keyOps;
  }

  /** prepareKeyShare: starts GENERATE KEY PAIR for the next handshake, unless one is made or being made. */
  private prepareNextKeyShare(): void {
    if (!this.options.prepareKeyShare || this.options.offload !== 'full' || this.prepared) return;
    this.prepared = this.sim.generateKeyPair(this.ephemeralKey).catch(() => undefined);
  }

  /** The pair made ahead, once, if the SIM still holds it. */
  private async takePreparedPair(): Promise<PreparedPair | undefined> {
    const pending = this.prepared;
    this.prepared = undefined;
    const pair = await pending;
    if (!pair) return undefined;
    const held = await this.sim.readPublicKey(pair.publicKey).catch(() => undefined);
    return held && Buffer.from(held).equals(pair.point) ? pair : undefined;
  }

  private get ephemeralKey(): ObjectRef {
    return this.options.ephemeralKey ?? byId('04');
  }

  async generateKeyShare(group: NamedGroup): Promise<KeyShare> {
    if (this.options.offload !== 'full') {
      this.openSignatureEarly();
      return hostKeyShare(group);
    }
    if (group !== SIM_ECDHE_GROUP)
      throw new Error(`full offload: the SIM does ECDHE on ${SIM_ECDHE_GROUP} only, not ${group}`);
    const peer = this.options.peerKey ?? byId('05');
    const pair = (await this.takePreparedPair()) ?? (await this.sim.generateKeyPair(this.ephemeralKey));
    return {
      group,
      publicKey: pair.point,
      computeSecret: async (peerPoint) => {
        await this.sim.putPublicKey(peer, peerPoint);
        return this.sim.computeDH(pair.privateKey, peer);
      },
    };
  }

  async hkdfExtract(hash: HashAlgorithm, salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
    if (this.options.offload !== 'full' || ikm.every((b) => b === 0)) return hkdfExtract(hash, salt, ikm);
    return this.sim.hkdfExtract({ ikm, salt, hash });
  }

  async sign(scheme: number, content: Uint8Array): Promise<Uint8Array> {
    const key = this.options.privateKey;
    const hash = ECDSA_SCHEME_HASH[scheme];
    const offered = this.signatureSchemes.includes(scheme) || this.signatureSchemes12.includes(scheme);
    if (!key || !hash || !offered)
      throw new Error(`the SIM key does not sign with scheme ${scheme.toString(16)}`);
    const digest = new Uint8Array(createHash(hash).update(content).digest());
    const opened = this.opened;
    this.opened = undefined;
    const signature = await this.sim.sign(
      key,
      { digest },
      { hash, deferSessionEnd: this.options.deferSessionEnd ?? true, ...(opened ? { opened } : {}) },
    );
    return ecdsaRawToDer(signature);
  }

  /**
   * Once the Finished has gone: the signature session's INIT close, and (prepareKeyShare) the next key
   * pair started in the background — not awaited, so the connection is up without waiting for it.
   */
  async afterFlight(): Promise<void> {
    await this.release();
    await this.sim.endDeferredSessions();
    this.prepareNextKeyShare();
  }

  /** Closes the signature session opened early and not used (a failed handshake; no certificate asked). */
  async release(): Promise<void> {
    const opened = this.opened;
    this.opened = undefined;
    if (opened) await this.sim.cancelSignature(opened);
  }

  /** earlySignatureInit: the INIT for the coming CertificateVerify, once per handshake. */
  private openSignatureEarly(): void {
    const key = this.options.privateKey;
    const when = this.earlySignatureInit;
    if (!key || !this.curveHash || this.opened || this.certificateChain.length === 0) return;
    if (when === 'off' || (when === 'certain' && !this.hashCertain)) return;
    this.opened = this.sim.openSignature(key, { hash: this.curveHash });
  }
}

/** GET DATA on one object; undefined when the applet does not describe it (6A82, 6D00, 6A86 ...). */
async function describe(sim: IoTSafe, objectClass: 'privateKey' | 'secret', ref: ObjectRef) {
  try {
    return await sim.objectInfo(objectClass, ref);
  } catch (error) {
    if (error instanceof StatusWordError) return undefined;
    throw error;
  }
}
