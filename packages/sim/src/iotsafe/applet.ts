// The IoT SAFE applet (GSMA IoT.05): a dispatcher over INS with one handler per
// command. A handler returns a response or throws CardError(sw); it never leaves a change half made.
import { randomBytes } from 'node:crypto';
import {
  type CommandApdu,
  type CurveName,
  carriesSecret,
  computeSharedSecret,
  concatBytes,
  DEFAULT_AIDS,
  decodeDhRequest,
  decodeHkdfRequest,
  decodeIotTlvs,
  decodePersoScript,
  decodePrfRequest,
  decodePublicKeyData,
  decodeSignatureInit,
  decodeSignatureInput,
  digest,
  ecdhePskPremaster,
  encodeApplicationInfo,
  encodeKeyPairGenerated,
  encodeObjectDescriptor,
  encodePublicKeyData,
  encodeSignatureTlv,
  equalBytes,
  FUNCTION,
  generateEcKeyPair,
  HASH_BY_NAME,
  HASH_LENGTH,
  hkdfExtract,
  INFO_TAG,
  INS,
  IOTSAFE_AID,
  indexTlvs,
  isValidPublicKey,
  KDF,
  KEY_AGREEMENT,
  KEY_USAGE,
  type ObjectClass,
  type ObjectRef,
  paddedIdentifier,
  parseObjectRef,
  pskPremaster,
  resumeHash,
  SIGNATURE_ALGORITHM,
  type SignatureInit,
  type SignatureInput,
  SW,
  signDigest,
  TAG,
  tls12Prf,
  utf8,
  verifyDigest,
  wipe,
  wrapDescriptor,
} from '@iotsafe/protocol';
import { type Applet, type AppletResponse, type CommandContext, ok } from '../card/applet.js';
import { CardError, decodeOrRefuse } from '../card/card-error.js';
import type { SecureChannelService } from '../gp/secure-channel.js';
import {
  type Container,
  curveOfKeyType,
  describe,
  hasFunction,
  isActivated,
  type PrivateKeyContainer,
  type PublicKeyContainer,
} from './containers.js';
import type { Personality } from './personality.js';
import { applyPersonalization } from './personalization.js';
import { SessionTable } from './sessions.js';
import type { ObjectStore } from './store.js';

const fail = (sw: number, reason?: string): never => {
  throw new CardError(sw, reason);
};

/** Context strings a TLS 1.3 CertificateVerify signature covers (RFC 8446 §4.4.3). */
const TLS13_CV_PREFIXES = ['TLS 1.3, client CertificateVerify', 'TLS 1.3, server CertificateVerify'].map(
  (s) => concatBytes(new Uint8Array(64).fill(0x20), utf8(s), Uint8Array.of(0)),
);

interface SignSession extends SignatureInit {
  container: PrivateKeyContainer | PublicKeyContainer;
}

export interface IoTSafeAppletOptions {
  aids: readonly Uint8Array[];
  personality: Personality;
  store: ObjectStore;
  /** The security domain's secure channel: with it the applet takes SCP03-protected commands. */
  secureChannel?: SecureChannelService;
  /** Whether the applet may be selected now (installed, not locked, card not locked). */
  selectable?: () => boolean;
}

/** Largest personalisation script one STORE DATA series may carry. */
const MAX_PERSO_BYTES = 256 * 1024;

export class IoTSafeApplet implements Applet {
  aids: readonly Uint8Array[];
  readonly multiSelectable: boolean;
  readonly secureMessaging: boolean;
  private persoBlocks: Uint8Array[] = [];
  private readonly personality: Personality;
  private readonly store: ObjectStore;
  private readonly options: IoTSafeAppletOptions;
  private readonly signSessions: SessionTable<SignSession>;
  private readonly verifySessions: SessionTable<SignSession>;
  private readonly putKeySessions: SessionTable<PublicKeyContainer>;
  /** Object list pages still to deliver, per channel (GET DATA P1=01, P2=01 after 6300). */
  private readonly listings = new Map<number, Uint8Array[]>();

  constructor(options: IoTSafeAppletOptions) {
    this.options = options;
    this.aids = options.aids;
    this.personality = options.personality;
    this.multiSelectable = options.personality.multiSelectable;
    this.secureMessaging = options.secureChannel !== undefined;
    this.store = options.store;
    const max = options.personality.maxSessions;
    this.signSessions = new SessionTable(max, options.personality.reopenFinishedSession);
    this.verifySessions = new SessionTable(max, options.personality.reopenFinishedSession);
    this.putKeySessions = new SessionTable(max, options.personality.reopenFinishedSession);
  }

  reset(): void {
    this.signSessions.clear();
    this.verifySessions.clear();
    this.putKeySessions.clear();
    this.listings.clear();
    this.store.clearVolatile();
  }

  deselect(channel: number): void {
    this.listings.delete(channel);
    this.options.secureChannel?.terminate(channel);
    if (this.personality.clearVolatileOnDeselect) this.store.clearVolatile();
  }

  commandRefused(channel: number): void {
    this.options.secureChannel?.abort(channel);
  }

  selectable(): boolean {
    return this.options.selectable?.() ?? true;
  }

  process(apdu: CommandApdu, context: CommandContext): AppletResponse {
    const secureChannel = this.options.secureChannel;
    if (!secureChannel) return this.dispatch(apdu, context);
    return secureChannel.process(apdu, context.channel, (plain) => this.dispatch(plain, context));
  }

  // --- life cycle and personalisation, driven by the security domain ---

  /** INSTALL: a fresh instance under `aid`, with no containers. */
  install(aid: Uint8Array): void {
    this.aids = equalBytes(aid, IOTSAFE_AID) ? DEFAULT_AIDS : [aid.slice()];
    this.reset();
    this.store.replaceAll([], false);
  }

  /** DELETE: the instance goes, and every key and secret with it. */
  uninstall(): void {
    for (const c of this.store.containers) {
      if (c.objectClass === 'privateKey') c.privateKey?.fill(0);
      if (c.objectClass === 'secret') c.value?.fill(0);
    }
    this.reset();
    this.store.replaceAll([], false);
  }

  /**
   * STORE DATA blocks of a personalisation script; applied as one change after the last block, whose
   * answer is what the script's generate, list and signing-request operations give.
   */
  personalize(block: Uint8Array, blockNumber: number, last: boolean, securityLevel: number): Uint8Array {
    if (blockNumber === 0) this.persoBlocks = [];
    this.persoBlocks.push(block.slice());
    if (this.persoBlocks.reduce((n, b) => n + b.length, 0) > MAX_PERSO_BYTES) {
      this.persoBlocks = [];
      fail(SW.INSUFFICIENT_MEMORY, 'personalisation script too long');
    }
    if (!last) return new Uint8Array(0);
    const script = concatBytes(...this.persoBlocks);
    this.persoBlocks = [];
    if (this.store.personalizationLocked) fail(SW.CONDITIONS_NOT_SATISFIED, 'personalisation is locked');
    const ops = decodeOrRefuse(() => decodePersoScript(script));
    if (ops.some(carriesSecret) && (securityLevel & 0x02) === 0) {
      fail(SW.SECURITY_STATUS_NOT_SATISFIED, 'keys and secrets are personalised under C-DECRYPTION only');
    }
    const result = applyPersonalization(this.store.containers, ops);
    this.store.replaceAll(result.containers, result.locked);
    return result.answer;
  }

  /** A remote administration session is updating the objects (set by the security domain). */
  private remotelyUpdated = false;

  remoteUpdate(active: boolean): void {
    this.remotelyUpdated = active;
  }

  private dispatch(apdu: CommandApdu, context: CommandContext): AppletResponse {
    // GSMA IoT.05: 6984 while a remote administration session updates the objects; checked after the
    // secure channel so that its counters stay in step and the device's retry goes through.
    if (this.remotelyUpdated)
      fail(SW.REFERENCED_DATA_INVALIDATED, 'a remote administration session is updating the applet');
    const proprietary = (apdu.cla & 0x80) !== 0;
    const { classes } = this.personality;
    if ((classes === 'proprietary' && !proprietary) || (classes === 'interindustry' && proprietary)) {
      return fail(SW.CLA_NOT_SUPPORTED);
    }
    switch (apdu.ins) {
      case INS.GET_RANDOM:
        return this.getRandom(apdu);
      case INS.GET_DATA:
        return this.getData(apdu, context);
      case INS.READ_FILE:
        return this.readFile(apdu);
      case INS.GENERATE_KEY_PAIR:
        return this.generateKeyPair(apdu);
      case INS.READ_PUBLIC_KEY:
        return this.readPublicKey(apdu);
      case INS.PUT_PUBLIC_KEY_INIT:
        return this.putPublicKeyInit(apdu);
      case INS.PUT_PUBLIC_KEY_UPDATE:
        return this.putPublicKeyUpdate(apdu);
      case INS.COMPUTE_SIGNATURE_INIT:
        return this.signatureInit(apdu, 'privateKey', this.signSessions);
      case INS.COMPUTE_SIGNATURE_UPDATE:
        return this.computeSignatureUpdate(apdu);
      case INS.VERIFY_SIGNATURE_INIT:
        return this.signatureInit(apdu, 'publicKey', this.verifySessions);
      case INS.VERIFY_SIGNATURE_UPDATE:
        return this.verifySignatureUpdate(apdu);
      case INS.COMPUTE_DH:
        return this.computeDh(apdu);
      case INS.COMPUTE_PRF:
        return this.computePrf(apdu);
      case INS.COMPUTE_HKDF:
        return this.computeHkdf(apdu);
      default:
        return fail(SW.INS_NOT_SUPPORTED);
    }
  }

  // --- helpers -----------------------------------------------------------------------------------

  private requireP1P2(apdu: CommandApdu, p1: number, p2: number): void {
    if (apdu.p1 !== p1 || apdu.p2 !== p2) fail(SW.INCORRECT_P1P2);
  }

  private requireData(apdu: CommandApdu): void {
    if (apdu.data.length === 0) fail(SW.WRONG_LENGTH, 'command data is required');
  }

  private requireNoData(apdu: CommandApdu): void {
    if (apdu.data.length !== 0) fail(SW.WRONG_LENGTH, 'this command takes no data');
  }

  private find<C extends ObjectClass>(objectClass: C, ref: ObjectRef) {
    return this.store.find(objectClass, ref) ?? fail(SW.NOT_FOUND, `no ${objectClass} with that reference`);
  }

  private requireActivated(c: Container): void {
    if (!isActivated(c)) fail(SW.CONDITIONS_NOT_SATISFIED, 'the container is empty');
  }

  private curveOf(c: { keyType: number }): CurveName {
    return curveOfKeyType(c.keyType) ?? fail(SW.CONDITIONS_NOT_SATISFIED, 'unsupported key type');
  }

  // --- GET RANDOM (§3.1) ---------------------------------------------------------------------------

  private getRandom(apdu: CommandApdu): AppletResponse {
    this.requireP1P2(apdu, 0, 0);
    this.requireNoData(apdu);
    if (apdu.le === undefined) return fail(SW.WRONG_LENGTH, 'Le is required');
    return ok(new Uint8Array(randomBytes(apdu.le)));
  }

  // --- GET DATA (§3.2) -----------------------------------------------------------------------------

  private getData(apdu: CommandApdu, context: CommandContext): AppletResponse {
    if (apdu.p1 === 0x00) {
      this.requireP1P2(apdu, 0, 0);
      this.requireNoData(apdu);
      return ok(encodeApplicationInfo(this.applicationInfo(), this.personality.appInfoTags));
    }
    if (apdu.p1 === 0x01) {
      this.requireNoData(apdu);
      if (apdu.p2 === 0x00) this.listings.set(context.channel, this.objectListPages());
      else if (apdu.p2 !== 0x01) fail(SW.INCORRECT_P1P2);
      const pages = this.listings.get(context.channel);
      if (!pages || pages.length === 0)
        return fail(SW.CONDITIONS_NOT_SATISFIED, 'no object list in progress');
      const more = pages.length > 1;
      return { data: pages[0]!, sw: more ? SW.MORE_DATA : SW.OK, onDelivered: () => pages.shift() };
    }
    const objectClass = (['privateKey', 'publicKey', 'file', 'secret'] as const).find(
      (c) => INFO_TAG[c] === apdu.p1,
    );
    if (!objectClass || apdu.p2 !== 0) return fail(SW.INCORRECT_P1P2);
    this.requireData(apdu);
    const ref = decodeOrRefuse(() => parseObjectRef(indexTlvs(decodeIotTlvs(apdu.data)), objectClass));
    return ok(this.encodeDescriptor(this.find(objectClass, ref)));
  }

  private applicationInfo() {
    const count = (c: ObjectClass) => Math.min(255, this.store.ofClass(c).length);
    return {
      simAllianceVersion: 0x10,
      proprietaryId: paddedIdentifier(this.personality.proprietaryId),
      maxFiles: count('file'),
      maxPrivateKeys: count('privateKey'),
      maxPublicKeys: count('publicKey'),
      maxSecrets: count('secret'),
      cryptoFunctions:
        FUNCTION.SIGNATURE | FUNCTION.KEY_GENERATION | FUNCTION.KEY_AGREEMENT | FUNCTION.KEY_DERIVATION,
      hashAlgorithms: HASH_BY_NAME.sha256 | HASH_BY_NAME.sha384 | HASH_BY_NAME.sha512,
      signatureAlgorithms: SIGNATURE_ALGORITHM.ECDSA,
      keyAgreementAlgorithms: KEY_AGREEMENT.ECKA,
      kdfAlgorithms: KDF.PRF_SHA256 | KDF.HKDF,
      maxSessions: this.personality.maxSessions,
    };
  }

  /** A container's descriptor as this personality writes it (wrapped or flat, its tag 92 length). */
  private encodeDescriptor(c: Container): Uint8Array {
    const encoding = { signatureAlgorithmsLength: this.personality.signatureAlgorithmsLength };
    return this.personality.objectList === 'wrapped'
      ? wrapDescriptor(describe(c), encoding)
      : encodeObjectDescriptor(describe(c), encoding);
  }

  /** Descriptors in store order, cut at descriptor boundaries into pages of at most the page size. */
  private objectListPages(): Uint8Array[] {
    const size = this.personality.objectListPageSize;
    const pages: Uint8Array[] = [];
    let page: Uint8Array[] = [];
    let pageLength = 0;
    for (const c of this.store.containers) {
      let entry = this.encodeDescriptor(c);
      if (pageLength + entry.length > size && pageLength > 0) {
        pages.push(concatBytes(...page));
        page = [];
        pageLength = 0;
      }
      while (entry.length > size) {
        pages.push(entry.subarray(0, size));
        entry = entry.subarray(size);
      }
      page.push(entry);
      pageLength += entry.length;
    }
    pages.push(concatBytes(...page));
    return pages;
  }

  // --- READ FILE (§3.3) ----------------------------------------------------------------------------

  private readFile(apdu: CommandApdu): AppletResponse {
    this.requireData(apdu);
    const ref = decodeOrRefuse(() => parseObjectRef(indexTlvs(decodeIotTlvs(apdu.data)), 'file'));
    const file = this.find('file', ref);
    if ((file.access & 0x01) === 0) return fail(SW.CONDITIONS_NOT_SATISFIED, 'the file is not readable');
    const content = file.content ?? fail(SW.CONDITIONS_NOT_SATISFIED, 'the file is empty');
    const offset = (apdu.p1 << 8) | apdu.p2;
    if (offset > content.length || (offset === content.length && content.length > 0)) {
      return fail(this.personality.readFileOffsetSw, 'offset past the end of the file');
    }
    const length = Math.min(content.length - offset, apdu.le ?? 256, this.personality.readFileMaxChunk);
    return ok(content.slice(offset, offset + length));
  }

  // --- GENERATE KEY PAIR / READ PUBLIC KEY (§3.4, §3.5) -------------------------------------------

  private generateKeyPair(apdu: CommandApdu): AppletResponse {
    this.requireP1P2(apdu, 0, 0);
    this.requireData(apdu);
    const ref = decodeOrRefuse(() => parseObjectRef(indexTlvs(decodeIotTlvs(apdu.data)), 'privateKey'));
    const key = this.find('privateKey', ref);
    if (!hasFunction(key, FUNCTION.KEY_GENERATION))
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'key generation not allowed');
    const curve = this.curveOf(key);
    const partner = this.publicPartner(key, curve);
    const pair = generateEcKeyPair(curve);
    this.store.change(partner ? [key, partner] : [key], () => {
      if (key.privateKey) wipe(key.privateKey);
      key.privateKey = pair.privateKey;
      key.publicKey = pair.publicKey;
      if (partner) partner.publicKey = pair.publicKey;
    });
    const publicKeyId = partner?.id ?? key.id;
    return ok(
      this.personality.keygenResponse === 'keyOnly'
        ? encodePublicKeyData(pair.publicKey)
        : encodeKeyPairGenerated({ privateKeyId: key.id, publicKeyId, publicKey: pair.publicKey }),
    );
  }

  /** The public key container that receives a generated public key, if the store has one. */
  private publicPartner(key: PrivateKeyContainer, curve: CurveName): PublicKeyContainer | undefined {
    let id = key.publicKeyId;
    if (!id && this.personality.keygenPublicId === 'next') {
      id = key.id.slice();
      id[id.length - 1] = (id[id.length - 1]! + 1) & 0xff;
    }
    const partner = this.store.find('publicKey', { id: id ?? key.id });
    return partner && curveOfKeyType(partner.keyType) === curve ? partner : undefined;
  }

  private readPublicKey(apdu: CommandApdu): AppletResponse {
    this.requireP1P2(apdu, 0, 0);
    this.requireData(apdu);
    const ref = decodeOrRefuse(() => parseObjectRef(indexTlvs(decodeIotTlvs(apdu.data)), 'publicKey'));
    const container = this.store.find('publicKey', ref);
    if (container && (container.access & 0x01) === 0)
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'not readable');
    // A key pair container answers for its public half under its own ID (Thales MVP 0002/0002).
    const source =
      container ?? this.store.find('privateKey', 'id' in ref ? { id: ref.id } : { label: ref.label });
    if (!source) return fail(SW.NOT_FOUND);
    const point = source.publicKey ?? fail(SW.CONDITIONS_NOT_SATISFIED, 'the container is empty');
    return ok(encodePublicKeyData(point));
  }

  // --- PUT PUBLIC KEY (§3.6) -----------------------------------------------------------------------

  private putPublicKeyInit(apdu: CommandApdu): AppletResponse {
    if (apdu.p1 === 0x01) return this.closeSession(apdu, this.putKeySessions);
    if (apdu.p1 !== 0x00) return fail(SW.INCORRECT_P1P2);
    this.requireData(apdu);
    const ref = decodeOrRefuse(() => parseObjectRef(indexTlvs(decodeIotTlvs(apdu.data)), 'publicKey'));
    const container = this.find('publicKey', ref);
    if ((container.access & 0x02) === 0)
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'the container is not updatable');
    this.putKeySessions.open(apdu.p2, container);
    return ok();
  }

  private putPublicKeyUpdate(apdu: CommandApdu): AppletResponse {
    const last = this.updateFlag(apdu);
    const session = this.putKeySessions.append(apdu.p2, apdu.data, last);
    if (!last) return ok();
    const container = session.params;
    try {
      const point = decodeOrRefuse(() => decodePublicKeyData(concatBytes(...session.chunks)));
      if (!isValidPublicKey(this.curveOf(container), point))
        fail(SW.INCORRECT_DATA, 'not a point on the curve');
      this.store.change([container], () => {
        container.publicKey = point.slice();
      });
    } catch (error) {
      this.putKeySessions.abort(apdu.p2);
      throw error;
    }
    return ok();
  }

  private updateFlag(apdu: CommandApdu): boolean {
    if (apdu.p1 !== 0x80 && apdu.p1 !== 0x00) fail(SW.INCORRECT_P1P2);
    this.requireData(apdu);
    return apdu.p1 === 0x80;
  }

  private closeSession(apdu: CommandApdu, table: SessionTable<unknown>): AppletResponse {
    this.requireNoData(apdu);
    if (table.close(apdu.p2)) return ok();
    const sw = this.personality.closeUnopenedSessionSw;
    return sw === SW.OK ? ok() : fail(sw, `session ${apdu.p2} is not open`);
  }

  // --- COMPUTE / VERIFY SIGNATURE (§3.7, §3.8) ----------------------------------------------------

  private signatureInit(
    apdu: CommandApdu,
    keyClass: 'privateKey' | 'publicKey',
    table: SessionTable<SignSession>,
  ): AppletResponse {
    if (apdu.p1 === 0x01) return this.closeSession(apdu, table);
    if (apdu.p1 !== 0x00) return fail(SW.INCORRECT_P1P2);
    this.requireData(apdu);
    const init = decodeOrRefuse(() => decodeSignatureInit(keyClass, apdu.data));
    const container = this.find(keyClass, init.key);
    this.requireActivated(container);
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
    this.curveOf(container);
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
    const last = this.updateFlag(apdu);
    const session = table.append(apdu.p2, apdu.data, last);
    if (!last) return undefined;
    try {
      return run(session.params, concatBytes(...session.chunks));
    } catch (error) {
      table.abort(apdu.p2);
      throw error;
    }
  }

  private computeSignatureUpdate(apdu: CommandApdu): AppletResponse {
    const signature = this.finishUpdate(apdu, this.signSessions, (session, data) => {
      const { input } = decodeOrRefuse(
        () => decodeSignatureInput(session.mode, data, this.personality.fullTextLength),
        this.personality.updateFormatErrorSw,
      );
      const key = session.container as PrivateKeyContainer;
      const sig = signDigest(this.curveOf(key), key.privateKey!, this.digestOf(session, input));
      return encodeSignatureTlv(sig, this.personality.signatureLengthBytes);
    });
    return ok(signature);
  }

  private verifySignatureUpdate(apdu: CommandApdu): AppletResponse {
    const valid = this.finishUpdate(apdu, this.verifySessions, (session, data) => {
      const { input, signature } = decodeOrRefuse(
        () => decodeSignatureInput(session.mode, data, this.personality.fullTextLength),
        this.personality.updateFormatErrorSw,
      );
      if (!signature) return fail(this.personality.updateFormatErrorSw, 'the signature (tag 33) is missing');
      const key = session.container as PublicKeyContainer;
      return verifyDigest(this.curveOf(key), key.publicKey!, this.digestOf(session, input), signature);
    });
    if (valid === false) return fail(SW.SIGNATURE_MISMATCH);
    return ok();
  }

  // --- COMPUTE DH (§3.9) ---------------------------------------------------------------------------

  private computeDh(apdu: CommandApdu): AppletResponse {
    this.requireP1P2(apdu, 0, 0);
    this.requireData(apdu);
    const request = decodeOrRefuse(() => decodeDhRequest(apdu.data));
    const own = this.find('privateKey', request.privateKey);
    const peer = this.find('publicKey', request.publicKey);
    this.requireActivated(own);
    if (
      !hasFunction(own, FUNCTION.KEY_AGREEMENT) ||
      (own.keyAgreementAlgorithms & KEY_AGREEMENT.ECKA) === 0
    ) {
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'key agreement not allowed for this key');
    }
    if (own.keyUsage !== KEY_USAGE.GENERAL) {
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'a CertificateVerify key does not do key agreement');
    }
    this.requireActivated(peer);
    const curve = this.curveOf(own);
    if (this.curveOf(peer) !== curve)
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'keys are on different curves');
    return ok(computeSharedSecret(curve, own.privateKey!, peer.publicKey!));
  }

  // --- COMPUTE PRF / COMPUTE HKDF (§3.10, §3.11) --------------------------------------------------

  private secretFor(ref: ObjectRef, kdf: number): Uint8Array {
    const container = this.find('secret', ref);
    this.requireActivated(container);
    if (!hasFunction(container, FUNCTION.KEY_DERIVATION) || (container.kdfAlgorithms & kdf) === 0) {
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'this derivation is not allowed for the secret');
    }
    return container.value!;
  }

  private computePrf(apdu: CommandApdu): AppletResponse {
    if (apdu.p1 > 0x02 || apdu.p2 !== 0) return fail(SW.INCORRECT_P1P2);
    this.requireData(apdu);
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

  private computeHkdf(apdu: CommandApdu): AppletResponse {
    if (apdu.p1 > 0x01 || apdu.p2 !== 0) return fail(SW.INCORRECT_P1P2);
    this.requireData(apdu);
    const request = decodeOrRefuse(() => decodeHkdfRequest(apdu.p1, apdu.data));
    if (request.salt.length === 0 && this.personality.hkdfRejectsEmptySalt) {
      return fail(SW.INCORRECT_DATA, 'this applet does not accept an empty salt');
    }
    const ikm = request.mode === 'ikm' ? request.ikm : this.secretFor(request.secretRef, KDF.HKDF);
    return ok(hkdfExtract(request.hash, request.salt, ikm));
  }
}

export { TAG };
