// KeyOps backed by the IoT SAFE applet (spec/iotsafe.md §5): the TLS client's private-key operations
// run in the SIM. Two offload levels:
//  - sign: the SIM signs CertificateVerify (pad-and-sign, 3 APDUs); ECDHE and the key schedule stay on
//    the host — the common deployment;
//  - full: also the ephemeral ECDHE key pair (GENERATE KEY PAIR in a volatile container), the server's
//    share (PUT PUBLIC KEY), COMPUTE DH, and the HKDF-Extract that takes the ECDHE secret (COMPUTE
//    HKDF). Extracts whose input is all zeros carry no secret and run on the host.
import { createHash, X509Certificate } from 'node:crypto';
import { ecdsaRawToDer, type HashAlgorithm, hkdfExtract, type ObjectRef } from '@iotsafe/protocol';
import {
  groupsForKey,
  type KeyOps,
  type KeyShare,
  type NamedGroup,
  type PskProvider,
  SoftwareKeyOps,
  schemesForCurve,
} from '@iotsafe/tls';
import { byId, type IoTSafe } from './iotsafe.js';

export type OffloadLevel = 'sign' | 'full';

export interface IoTSafeKeyOpsOptions {
  /** The private key container that signs CertificateVerify (absent for PSK-only clients). */
  privateKey?: ObjectRef;
  /** The client chain (DER, leaf first), or the file containers that hold it (read once, then cached). */
  certificateChain?: readonly Uint8Array[] | readonly ObjectRef[];
  /**
   * An external PSK held in a secret container (Type II): its Early Secret is computed in the SIM by
   * COMPUTE HKDF mode 01, so the PSK never leaves it.
   */
  psk?: { identity: Uint8Array; secret: ObjectRef };
  offload: OffloadLevel;
  /** Volatile key pair container for the ephemeral ECDHE key (full offload; Type I: 04). */
  ephemeralKey?: ObjectRef;
  /** Public key container that receives the server's share (full offload; Type I: 05). */
  peerKey?: ObjectRef;
}

export class IoTSafeKeyOps implements KeyOps {
  readonly groups: readonly NamedGroup[];
  readonly signatureSchemes: readonly number[];
  readonly psk?: PskProvider;
  private readonly software = new SoftwareKeyOps();

  private constructor(
    private readonly sim: IoTSafe,
    private readonly options: IoTSafeKeyOpsOptions,
    readonly certificateChain: readonly Uint8Array[],
  ) {
    // The scheme follows the certificate's key: P-256 (0x0403) or brainpoolP256r1 (0x081A, RFC 8734).
    const leaf = certificateChain[0];
    const curve = leaf ? new X509Certificate(leaf).publicKey.asymmetricKeyDetails?.namedCurve : undefined;
    this.signatureSchemes = options.privateKey ? schemesForCurve(curve ?? 'prime256v1') : [];
    // Full offload: ECDHE in the SIM's P-256 volatile containers; sign offload: ECDHE on the host.
    this.groups = options.offload === 'full' ? ['secp256r1'] : groupsForKey(curve, ['x25519', 'secp256r1']);
    const psk = options.psk;
    if (psk) {
      this.psk = {
        identity: psk.identity,
        hash: 'sha256',
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

  /** Reads the certificate chain from the SIM when given as containers. */
  static async create(sim: IoTSafe, options: IoTSafeKeyOpsOptions): Promise<IoTSafeKeyOps> {
    const chain: Uint8Array[] = [];
    for (const entry of options.certificateChain ?? [])
      chain.push(entry instanceof Uint8Array ? entry : await sim.readFile(entry));
    return new IoTSafeKeyOps(sim, options, chain);
  }

  async generateKeyShare(group: NamedGroup): Promise<KeyShare> {
    if (this.options.offload !== 'full') return this.software.generateKeyShare(group);
    if (group !== 'secp256r1') throw new Error('the SIM does ECDHE on secp256r1 only');
    const ephemeral = this.options.ephemeralKey ?? byId('04');
    const peer = this.options.peerKey ?? byId('05');
    const pair = await this.sim.generateKeyPair(ephemeral);
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
    if (!this.signatureSchemes.includes(scheme) || !key)
      throw new Error(`the SIM key does not sign with scheme ${scheme.toString(16)}`);
    const digest = new Uint8Array(createHash('sha256').update(content).digest());
    return ecdsaRawToDer(await this.sim.sign(key, { digest }));
  }
}
