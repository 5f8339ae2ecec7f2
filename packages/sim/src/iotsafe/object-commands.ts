// The IoT SAFE commands on the objects themselves (GSMA IoT.05 §3.2–§3.6): GET DATA (application
// information, object list, one descriptor), READ FILE, GENERATE KEY PAIR, READ PUBLIC KEY, PUT PUBLIC KEY.
import {
  type CommandApdu,
  type CurveName,
  concatBytes,
  decodeIotTlvs,
  decodePublicKeyData,
  encodeApplicationInfo,
  encodeKeyPairGenerated,
  encodeObjectDescriptor,
  encodePublicKeyData,
  FUNCTION,
  generateEcKeyPair,
  HASH_BY_NAME,
  INFO_TAG,
  indexTlvs,
  isValidPublicKey,
  KDF,
  KEY_AGREEMENT,
  type ObjectClass,
  paddedIdentifier,
  parseObjectRef,
  SIGNATURE_ALGORITHM,
  SW,
  wipe,
  wrapDescriptor,
} from '@iotsafe/protocol';
import { type AppletResponse, type CommandContext, ok } from '../card/applet.js';
import { decodeOrRefuse, fail } from '../card/card-error.js';
import {
  closeSession,
  curveOf,
  findContainer,
  requireData,
  requireNoData,
  requireP1P2,
  updateFlag,
} from './command-checks.js';
import {
  type Container,
  curveOfKeyType,
  describe,
  hasFunction,
  type PrivateKeyContainer,
  type PublicKeyContainer,
} from './containers.js';
import type { Personality } from './personality.js';
import { SessionTable } from './sessions.js';
import type { ObjectStore } from './store.js';

export class ObjectCommands {
  private readonly putKeySessions: SessionTable<PublicKeyContainer>;
  /** Object list pages still to deliver, per channel (GET DATA P1=01, P2=01 after 6300). */
  private readonly listings = new Map<number, Uint8Array[]>();

  constructor(
    private readonly personality: Personality,
    private readonly store: ObjectStore,
  ) {
    this.putKeySessions = new SessionTable(personality.maxSessions, personality.reopenFinishedSession);
  }

  reset(): void {
    this.putKeySessions.clear();
    this.listings.clear();
  }

  deselect(channel: number): void {
    this.listings.delete(channel);
  }

  // --- GET DATA (§3.2) -----------------------------------------------------------------------------

  getData(apdu: CommandApdu, context: CommandContext): AppletResponse {
    if (apdu.p1 === 0x00) {
      requireP1P2(apdu, 0, 0);
      requireNoData(apdu);
      return ok(encodeApplicationInfo(this.applicationInfo(), this.personality.appInfoTags));
    }
    if (apdu.p1 === 0x01) {
      requireNoData(apdu);
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
    requireData(apdu);
    const ref = decodeOrRefuse(() => parseObjectRef(indexTlvs(decodeIotTlvs(apdu.data)), objectClass));
    return ok(this.encodeDescriptor(findContainer(this.store, objectClass, ref)));
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

  readFile(apdu: CommandApdu): AppletResponse {
    requireData(apdu);
    const ref = decodeOrRefuse(() => parseObjectRef(indexTlvs(decodeIotTlvs(apdu.data)), 'file'));
    const file = findContainer(this.store, 'file', ref);
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

  generateKeyPair(apdu: CommandApdu): AppletResponse {
    requireP1P2(apdu, 0, 0);
    requireData(apdu);
    const ref = decodeOrRefuse(() => parseObjectRef(indexTlvs(decodeIotTlvs(apdu.data)), 'privateKey'));
    const key = findContainer(this.store, 'privateKey', ref);
    if (!hasFunction(key, FUNCTION.KEY_GENERATION))
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'key generation not allowed');
    const curve = curveOf(key);
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

  readPublicKey(apdu: CommandApdu): AppletResponse {
    requireP1P2(apdu, 0, 0);
    requireData(apdu);
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

  putPublicKeyInit(apdu: CommandApdu): AppletResponse {
    if (apdu.p1 === 0x01)
      return closeSession(apdu, this.putKeySessions, this.personality.closeUnopenedSessionSw);
    if (apdu.p1 !== 0x00) return fail(SW.INCORRECT_P1P2);
    requireData(apdu);
    const ref = decodeOrRefuse(() => parseObjectRef(indexTlvs(decodeIotTlvs(apdu.data)), 'publicKey'));
    const container = findContainer(this.store, 'publicKey', ref);
    if ((container.access & 0x02) === 0)
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'the container is not updatable');
    this.putKeySessions.open(apdu.p2, container);
    return ok();
  }

  putPublicKeyUpdate(apdu: CommandApdu): AppletResponse {
    const last = updateFlag(apdu);
    const session = this.putKeySessions.append(apdu.p2, apdu.data, last);
    if (!last) return ok();
    const container = session.params;
    try {
      const point = decodeOrRefuse(() => decodePublicKeyData(concatBytes(...session.chunks)));
      if (!isValidPublicKey(curveOf(container), point)) fail(SW.INCORRECT_DATA, 'not a point on the curve');
      this.store.change([container], () => {
        container.publicKey = point.slice();
      });
    } catch (error) {
      this.putKeySessions.abort(apdu.p2);
      throw error;
    }
    return ok();
  }
}
