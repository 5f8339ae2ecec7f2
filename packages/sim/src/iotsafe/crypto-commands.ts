// The IoT SAFE cryptographic commands (GSMA IoT.05 §3.1, §3.7–§3.11): GET RANDOM, COMPUTE / VERIFY
// SIGNATURE (numbered INIT/UPDATE sessions), COMPUTE DH, COMPUTE PRF, COMPUTE HKDF.
import { randomBytes } from 'node:crypto';
import {
  type CommandApdu,
  computeSharedSecret,
  concatBytes,
  decodeDhRequest,
  decodeHkdfRequest,
  decodePrfRequest,
  decodeSignatureInit,
  decodeSignatureInput,
  digest,
  ecdhePskPremaster,
  encodeSignatureTlv,
  equalBytes,
  FUNCTION,
  HASH_BY_NAME,
  HASH_LENGTH,
  hkdfExtract,
  KDF,
  KEY_AGREEMENT,
  KEY_USAGE,
  type ObjectRef,
  pskPremaster,
  resumeHash,
  SIGNATURE_ALGORITHM,
  type SignatureInit,
  type SignatureInput,
  SW,
  signDigest,
  tls12Prf,
  utf8,
  verifyDigest,
  wipe,
} from '@iotsafe/protocol';
import { type AppletResponse, ok } from '../card/applet.js';
import { decodeOrRefuse, fail } from '../card/card-error.js';
import {
  closeSession,
  curveOf,
  findContainer,
  requireActivated,
  requireData,
  requireNoData,
  requireP1P2,
  updateFlag,
} from './command-checks.js';
import { hasFunction, type PrivateKeyContainer, type PublicKeyContainer } from './containers.js';
import type { Personality } from './personality.js';
import { SessionTable } from './sessions.js';
import type { ObjectStore } from './store.js';

/** Context strings a TLS 1.3 CertificateVerify signature covers (RFC 8446 §4.4.3). */
const TLS13_CV_PREFIXES = ['TLS 1.3, client CertificateVerify', 'TLS 1.3, server CertificateVerify'].map(
  (s) => concatBytes(new Uint8Array(64).fill(0x20), utf8(s), Uint8Array.of(0)),
);

interface SignSession extends SignatureInit {
  container: PrivateKeyContainer | PublicKeyContainer;
}

export class CryptoCommands {
  readonly signSessions: SessionTable<SignSession>;
  readonly verifySessions: SessionTable<SignSession>;

  constructor(
    private readonly personality: Personality,
    private readonly store: ObjectStore,
  ) {
    const { maxSessions, reopenFinishedSession } = personality;
    this.signSessions = new SessionTable(maxSessions, reopenFinishedSession);
    this.verifySessions = new SessionTable(maxSessions, reopenFinishedSession);
  }

  reset(): void {
    this.signSessions.clear();
    this.verifySessions.clear();
  }

  // --- GET RANDOM (§3.1) ---------------------------------------------------------------------------

  getRandom(apdu: CommandApdu): AppletResponse {
    requireP1P2(apdu, 0, 0);
    requireNoData(apdu);
    if (apdu.le === undefined) return fail(SW.WRONG_LENGTH, 'Le is required');
    return ok(new Uint8Array(randomBytes(apdu.le)));
  }

  // --- COMPUTE / VERIFY SIGNATURE (§3.7, §3.8) ----------------------------------------------------

  signatureInit(
    apdu: CommandApdu,
    keyClass: 'privateKey' | 'publicKey',
    table: SessionTable<SignSession>,
  ): AppletResponse {
    if (apdu.p1 === 0x01) return closeSession(apdu, table, this.personality.closeUnopenedSessionSw);
    if (apdu.p1 !== 0x00) return fail(SW.INCORRECT_P1P2);
    requireData(apdu);
    const init = decodeOrRefuse(() => decodeSignatureInit(keyClass, apdu.data));
    const container = findContainer(this.store, keyClass, init.key);
    requireActivated(container);
    if (!hasFunction(container, FUNCTION.SIGNATURE))
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'signature not allowed');
    if (
      init.algorithm !== SIGNATURE_ALGORITHM.ECDSA ||
      (container.signatureAlgorithms & init.algorithm) === 0
    ) {
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'signature algorithm not allowed for this key');
    }
    if ((container.hashAlgorithms & HASH_BY_NAME[init.hash]) === 0) {
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'hash algorithm not allowed for this key');
    }
    curveOf(container);
    table.open(apdu.p2, { ...init, container });
    return ok();
  }

  /** The digest an UPDATE series asks for; checks what a key's specific usage allows. */
  private digestOf(session: SignSession, input: SignatureInput): Uint8Array {
    switch (input.mode) {
      case 'padAndSign':
        if (input.hash.length !== HASH_LENGTH[session.hash])
          fail(SW.INCORRECT_DATA, 'hash length does not match');
        return input.hash;
      case 'fullText':
        if (
          session.container.keyUsage === KEY_USAGE.TLS13_CERTIFICATE_VERIFY &&
          !TLS13_CV_PREFIXES.some(
            (p) => input.data.length > p.length && equalBytes(input.data.subarray(0, p.length), p),
          )
        ) {
          fail(
            SW.CONDITIONS_NOT_SATISFIED,
            'a TLS 1.3 CertificateVerify key signs only CertificateVerify content',
          );
        }
        return digest(session.hash, input.data);
      case 'lastBlock':
        return decodeOrRefuse(() =>
          resumeHash(session.hash, input.intermediateHash, input.bytesHashed, input.lastBlock),
        );
    }
  }

  private finishUpdate<T>(
    apdu: CommandApdu,
    table: SessionTable<SignSession>,
    run: (session: SignSession, data: Uint8Array) => T,
  ): T | undefined {
    const last = updateFlag(apdu);
    const session = table.append(apdu.p2, apdu.data, last);
    if (!last) return undefined;
    try {
      return run(session.params, concatBytes(...session.chunks));
    } catch (error) {
      table.abort(apdu.p2);
      throw error;
    }
  }

  computeSignatureUpdate(apdu: CommandApdu): AppletResponse {
    const signature = this.finishUpdate(apdu, this.signSessions, (session, data) => {
      const { input } = decodeOrRefuse(
        () => decodeSignatureInput(session.mode, data, this.personality.fullTextLength),
        this.personality.updateFormatErrorSw,
      );
      const key = session.container as PrivateKeyContainer;
      const sig = signDigest(curveOf(key), key.privateKey!, this.digestOf(session, input));
      return encodeSignatureTlv(sig, this.personality.signatureLengthBytes);
    });
    return ok(signature);
  }

  verifySignatureUpdate(apdu: CommandApdu): AppletResponse {
    const valid = this.finishUpdate(apdu, this.verifySessions, (session, data) => {
      const { input, signature } = decodeOrRefuse(
        () => decodeSignatureInput(session.mode, data, this.personality.fullTextLength),
        this.personality.updateFormatErrorSw,
      );
      if (!signature) return fail(this.personality.updateFormatErrorSw, 'the signature (tag 33) is missing');
      const key = session.container as PublicKeyContainer;
      return verifyDigest(curveOf(key), key.publicKey!, this.digestOf(session, input), signature);
    });
    if (valid === false) return fail(SW.SIGNATURE_MISMATCH);
    return ok();
  }

  // --- COMPUTE DH (§3.9) ---------------------------------------------------------------------------

  computeDh(apdu: CommandApdu): AppletResponse {
    requireP1P2(apdu, 0, 0);
    requireData(apdu);
    const request = decodeOrRefuse(() => decodeDhRequest(apdu.data));
    const own = findContainer(this.store, 'privateKey', request.privateKey);
    const peer = findContainer(this.store, 'publicKey', request.publicKey);
    requireActivated(own);
    if (
      !hasFunction(own, FUNCTION.KEY_AGREEMENT) ||
      (own.keyAgreementAlgorithms & KEY_AGREEMENT.ECKA) === 0
    ) {
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'key agreement not allowed for this key');
    }
    if (own.keyUsage !== KEY_USAGE.GENERAL) {
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'a CertificateVerify key does not do key agreement');
    }
    requireActivated(peer);
    const curve = curveOf(own);
    if (curveOf(peer) !== curve) return fail(SW.CONDITIONS_NOT_SATISFIED, 'keys are on different curves');
    return ok(computeSharedSecret(curve, own.privateKey!, peer.publicKey!));
  }

  // --- COMPUTE PRF / COMPUTE HKDF (§3.10, §3.11) --------------------------------------------------

  private secretFor(ref: ObjectRef, kdf: number): Uint8Array {
    const container = findContainer(this.store, 'secret', ref);
    requireActivated(container);
    if (!hasFunction(container, FUNCTION.KEY_DERIVATION) || (container.kdfAlgorithms & kdf) === 0) {
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'this derivation is not allowed for the secret');
    }
    return container.value!;
  }

  computePrf(apdu: CommandApdu): AppletResponse {
    if (apdu.p1 > 0x02 || apdu.p2 !== 0) return fail(SW.INCORRECT_P1P2);
    requireData(apdu);
    const request = decodeOrRefuse(() => decodePrfRequest(apdu.p1, apdu.data));
    let secret: Uint8Array;
    if (request.mode === 'general') secret = request.secret;
    else {
      const psk = this.secretFor(request.secretRef, KDF.PRF_SHA256);
      secret = request.mode === 'psk' ? pskPremaster(psk) : ecdhePskPremaster(request.otherSecret, psk);
    }
    const output = tls12Prf(secret, request.labelAndSeed, request.length);
    if (request.mode !== 'general') wipe(secret);
    return ok(output);
  }

  computeHkdf(apdu: CommandApdu): AppletResponse {
    if (apdu.p1 > 0x01 || apdu.p2 !== 0) return fail(SW.INCORRECT_P1P2);
    requireData(apdu);
    const request = decodeOrRefuse(() => decodeHkdfRequest(apdu.p1, apdu.data));
    if (request.salt.length === 0 && this.personality.hkdfRejectsEmptySalt) {
      return fail(SW.INCORRECT_DATA, 'this applet does not accept an empty salt');
    }
    const ikm = request.mode === 'ikm' ? request.ikm : this.secretFor(request.secretRef, KDF.HKDF);
    return ok(hkdfExtract(request.hash, request.salt, ikm));
  }
}
