// The Issuer Security Domain (GPCS v2.3.1 §11, GPC Amd D): SCP03, GET DATA, GET STATUS,
// INSTALL, STORE DATA (forwarded to the applet being personalised), PUT KEY, DELETE, SET STATUS, and
// the card life cycle. Management commands need a secure channel at `requiredLevel` (else 6982).
import {
  type CommandApdu,
  concatBytes,
  decodeBerTlvs,
  decodeInstall,
  decodeInstallForPersonalization,
  decodePutKeyData,
  encodeStatusEntry,
  equalBytes,
  GP_INS,
  INSTALL_FOR,
  KeyCheckError,
  type KeyWrapping,
  keyWrappingFor,
  SW,
} from '@iotsafe/protocol';
import { type Applet, type AppletResponse, type CommandContext, ok } from '../card/applet.js';
import { CardError, decodeOrRefuse } from '../card/card-error.js';
import { isdData } from './isd-data.js';
import {
  APP_LIFE_CYCLE,
  CARD_LIFE_CYCLE,
  IOTSAFE_MODULE_AID,
  ISD_AID,
  type IsdState,
  type KeySet,
  scp03Keys,
} from './isd-state.js';
import type { SecureChannelService } from './secure-channel.js';

/** What the ISD needs from the application it manages (the IoT SAFE applet). */
export interface ManagedApplication {
  /**
   * A remote administration session is updating the application (GSMA IoT.05: it answers 6984 to the
   * device meanwhile), or has ended.
   */
  remoteUpdate?(active: boolean): void;
  /**
   * Receives STORE DATA blocks after INSTALL [for personalization]; `level` is the channel's security
   * level. Returns the block's response data (GPCS 11.11: what the operations give back).
   */
  personalize(block: Uint8Array, blockNumber: number, last: boolean, level: number): Uint8Array;
  /** INSTALL: a fresh, empty instance under `aid`. */
  install(aid: Uint8Array): void;
  /** DELETE: the instance and everything it holds are gone. */
  uninstall(): void;
}

export interface IsdOptions {
  state: IsdState;
  secureChannel: SecureChannelService;
  application: ManagedApplication;
  /** Applies and persists a change of the ISD state atomically (rolls back and throws on failure). */
  commit: (change: () => void) => void;
  /** Minimum security level for management commands; default 01 (C-MAC). */
  requiredLevel?: number;
  /** GET DATA 00 85: the stored HTTP administration parameters (GP Amd B), encoded; undefined when none. */
  adminParameters?: () => Uint8Array | undefined;
  /**
   * STORE DATA to the ISD itself (no INSTALL [for personalization] open, BER-TLV format): the stored
   * HTTP administration parameters (GP Amd B), the `85` template GET DATA 00 85 answers. Decodes
   * (FormatError) and commits them as one change.
   */
  storeAdminParameters?: (tlv: Uint8Array) => void;
}

/** GET DATA tags beyond GP_DATA: SCP81 parameters (as OTAMan read a live ISD) and ETSI TS 102 226 §8.2.1.7.2. */
const ADMIN_PARAMETERS_TAG = 0x0085;
const _EXTENDED_CARD_RESOURCES_TAG = 0xff21;

/**
 * The pseudo channels RAM commands from over the air run on: their STORE DATA sequences are their own,
 * apart from the logical channels' and from each other's.
 */
const REMOTE_CHANNEL = { scp80: 0xff, scp81: 0xfe } as const;

/**
 * What protects a command that came over the air: an SCP80 packet (TS 102 226 §8), or an SCP81 admin
 * session (GP Amd B: PSK-TLS). `level` is in SCP terms: 80 authenticated | 02 ciphered | 01 integrity;
 * `keySet` is the packet's SCP80 key set or the session's SCP81 (TLS-PSK) key set.
 */
export interface RemoteSecurity {
  via: 'scp80' | 'scp81';
  level: number;
  keySet: KeySet;
}

/**
 * What protects the command being processed, passed with it: an SCP03 session on a logical channel, or
 * a remote one (RemoteSecurity). `level` is in SCP03 terms: 80 authenticated | 02 C-DECRYPTION |
 * 01 C-MAC (| 10 R-MAC | 20 R-ENCRYPTION); `keySet` is the session's, the packet's or the TLS session's.
 */
interface RequestSecurity {
  via: 'scp03' | 'scp80' | 'scp81';
  channel: number;
  level: number;
  keySet: KeySet | undefined;
}

const fail = (sw: number, reason?: string): never => {
  throw new CardError(sw, reason);
};

/** Card life cycle transitions SET STATUS may make (GPCS §5.1.1). */
function transitionAllowed(from: number, to: number): boolean {
  const L = CARD_LIFE_CYCLE;
  if (to === L.TERMINATED) return from !== L.TERMINATED;
  if (from === L.OP_READY) return to === L.INITIALIZED || to === L.SECURED;
  if (from === L.INITIALIZED) return to === L.SECURED;
  if (from === L.SECURED) return to === L.CARD_LOCKED;
  if (from === L.CARD_LOCKED) return to === L.SECURED;
  return false;
}

export class IsdApplet implements Applet {
  readonly aids = [ISD_AID, ISD_AID.subarray(0, 7)];
  readonly multiSelectable = true;
  readonly secureMessaging = true;
  private readonly requiredLevel: number;
  /** Channel → the STORE DATA block number expected next while personalising. */
  private readonly personalizing = new Map<number, number>();

  constructor(private readonly options: IsdOptions) {
    this.requiredLevel = options.requiredLevel ?? 0x01;
  }

  private get state(): IsdState {
    return this.options.state;
  }

  reset(): void {
    this.personalizing.clear();
    this.setRemoteUpdate(false);
    this.options.secureChannel.terminateAll();
  }

  deselect(channel: number): void {
    this.personalizing.delete(channel);
    this.options.secureChannel.terminate(channel);
  }

  commandRefused(channel: number): void {
    this.personalizing.delete(channel);
    this.options.secureChannel.abort(channel);
  }

  process(apdu: CommandApdu, context: CommandContext): AppletResponse {
    if (this.state.lifeCycle === CARD_LIFE_CYCLE.TERMINATED && apdu.ins !== GP_INS.GET_DATA) {
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'the card is terminated');
    }
    const channel = context.channel;
    const secureChannel = this.options.secureChannel;
    return secureChannel.process(apdu, channel, (plain) =>
      this.dispatch(plain, {
        via: 'scp03',
        channel,
        level: secureChannel.securityLevel(channel),
        keySet: secureChannel.sessionKeySet(channel),
      }),
    );
  }

  /**
   * A RAM command that arrived over the air, in an SCP80 packet (TS 102 226 §8) or an SCP81 session
   * (GP Amd B): its security stands in for a secure channel, through the same dispatch.
   */
  processRemote(apdu: CommandApdu, security: RemoteSecurity): AppletResponse {
    if (this.state.lifeCycle === CARD_LIFE_CYCLE.TERMINATED && apdu.ins !== GP_INS.GET_DATA)
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'the card is terminated');
    return this.dispatch(apdu, { ...security, channel: REMOTE_CHANNEL[security.via] });
  }

  /** A remote session ended (an SCP81 session closed): a personalisation it left open goes with it. */
  endRemoteSession(via: RemoteSecurity['via']): void {
    this.personalizing.delete(REMOTE_CHANNEL[via]);
    if (via === 'scp81') this.setRemoteUpdate(false);
  }

  /**
   * An SCP81 session updates the application from its first INSTALL [for personalization] to its end:
   * it spans many steps, and the device may send commands between them. An SCP80 script runs inside one
   * ENVELOPE, so the device cannot come between its commands.
   */
  private setRemoteUpdate(active: boolean): void {
    if (this.remoteUpdating === active) return;
    this.remoteUpdating = active;
    this.options.application.remoteUpdate?.(active);
  }

  private remoteUpdating = false;

  private requireAuthenticated(security: RequestSecurity): void {
    const { level } = security;
    if ((level & 0x80) === 0 || (level & this.requiredLevel) !== this.requiredLevel) {
      fail(SW.SECURITY_STATUS_NOT_SATISFIED, 'this command needs a secure channel');
    }
  }

  private dispatch(apdu: CommandApdu, security: RequestSecurity): AppletResponse {
    const { channel } = security;
    if (apdu.ins === GP_INS.GET_DATA || apdu.ins === 0xcb) return this.getData(apdu, security);
    if (apdu.ins !== GP_INS.STORE_DATA) this.personalizing.delete(channel);
    const locked = this.state.lifeCycle === CARD_LIFE_CYCLE.CARD_LOCKED;
    switch (apdu.ins) {
      case GP_INS.SET_STATUS:
        this.requireAuthenticated(security);
        return this.setStatus(apdu);
      case GP_INS.GET_STATUS:
      case GP_INS.INSTALL:
      case GP_INS.STORE_DATA:
      case GP_INS.PUT_KEY:
      case GP_INS.DELETE:
        this.requireAuthenticated(security);
        if (locked) return fail(SW.CONDITIONS_NOT_SATISFIED, 'the card is locked');
        return this.manage(apdu, security);
      default:
        return fail(SW.INS_NOT_SUPPORTED);
    }
  }

  private manage(apdu: CommandApdu, security: RequestSecurity): AppletResponse {
    switch (apdu.ins) {
      case GP_INS.GET_STATUS:
        return this.getStatus(apdu);
      case GP_INS.INSTALL:
        return this.install(apdu, security);
      case GP_INS.STORE_DATA:
        return this.storeData(apdu, security);
      case GP_INS.PUT_KEY:
        return this.putKey(apdu, security);
      default:
        return this.delete(apdu);
    }
  }

  // --- GET DATA (GPCS 11.3) ---

  private getData(apdu: CommandApdu, security: RequestSecurity): AppletResponse {
    const tag = (apdu.p1 << 8) | apdu.p2;
    if (tag === ADMIN_PARAMETERS_TAG) {
      this.requireAuthenticated(security); // where the card connects is the operator's business
      return ok(this.options.adminParameters?.() ?? fail(SW.REFERENCED_DATA_NOT_FOUND));
    }
    const data = isdData(this.state, tag, security.via === 'scp03' ? security.level : 0);
    return data ? ok(data) : fail(SW.REFERENCED_DATA_NOT_FOUND);
  }

  // --- GET STATUS (GPCS 11.4), TLV format only ---

  private getStatus(apdu: CommandApdu): AppletResponse {
    if ((apdu.p2 & 0xfe) !== 0x02) return fail(SW.INCORRECT_P1P2, 'only the TLV format (P2 02) is supported');
    const criteria =
      decodeOrRefuse(() => decodeBerTlvs(apdu.data)).find((t) => t.tag === 0x4f)?.value ??
      fail(SW.INCORRECT_DATA, 'search criteria 4F missing');
    const matches = (aid: Uint8Array) =>
      criteria.length <= aid.length && equalBytes(aid.subarray(0, criteria.length), criteria);
    let entries: Uint8Array[];
    if (apdu.p1 === 0x80)
      entries = [
        encodeStatusEntry({
          aid: ISD_AID,
          lifeCycle: this.state.lifeCycle,
          privileges: Uint8Array.of(0x9e, 0xfe, 0x80),
        }),
      ];
    else if (apdu.p1 === 0x40) {
      const app = this.state.application;
      entries =
        app && matches(app.aid)
          ? [encodeStatusEntry({ aid: app.aid, lifeCycle: app.lifeCycle, privileges: app.privileges })]
          : [];
    } else if (apdu.p1 === 0x20 || apdu.p1 === 0x10) {
      entries = matches(IOTSAFE_MODULE_AID.subarray(0, 6))
        ? [encodeStatusEntry({ aid: IOTSAFE_MODULE_AID.subarray(0, 6), lifeCycle: 0x01 })]
        : [];
    } else return fail(SW.INCORRECT_P1P2);
    if (entries.length === 0) return fail(SW.REFERENCED_DATA_NOT_FOUND);
    return ok(concatBytes(...entries));
  }

  // --- INSTALL (GPCS 11.5) ---

  private install(apdu: CommandApdu, security: RequestSecurity): AppletResponse {
    const { channel } = security;
    const p1 = apdu.p1 & 0x7f;
    if (p1 === INSTALL_FOR.PERSONALIZATION) {
      const aid = decodeOrRefuse(() => decodeInstallForPersonalization(apdu.data));
      const app = this.state.application;
      if (!app || !equalBytes(app.aid, aid)) return fail(SW.NOT_FOUND, 'no such application');
      if ((app.lifeCycle & APP_LIFE_CYCLE.LOCKED_BIT) !== 0)
        return fail(SW.CONDITIONS_NOT_SATISFIED, 'the application is locked');
      this.personalizing.set(channel, 0);
      if (security.via === 'scp81') this.setRemoteUpdate(true);
      return ok(Uint8Array.of(0x00));
    }
    if (p1 === INSTALL_FOR.MAKE_SELECTABLE) {
      const app = this.state.application ?? fail(SW.NOT_FOUND);
      this.options.commit(() => {
        app.lifeCycle = APP_LIFE_CYCLE.SELECTABLE;
      });
      return ok(Uint8Array.of(0x00));
    }
    if (p1 !== INSTALL_FOR.INSTALL && p1 !== INSTALL_FOR.INSTALL_AND_MAKE_SELECTABLE)
      return fail(SW.INCORRECT_P1P2);
    const request = decodeOrRefuse(() => decodeInstall(apdu.data));
    if (!equalBytes(request.moduleAid, IOTSAFE_MODULE_AID))
      return fail(SW.REFERENCED_DATA_NOT_FOUND, 'unknown executable module');
    if (request.applicationAid.length < 5 || request.applicationAid.length > 16)
      return fail(SW.INCORRECT_DATA, 'bad application AID');
    if (this.state.application)
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'the application is already installed');
    const lifeCycle = p1 === INSTALL_FOR.INSTALL ? APP_LIFE_CYCLE.INSTALLED : APP_LIFE_CYCLE.SELECTABLE;
    this.options.commit(() => {
      this.state.application = {
        aid: request.applicationAid.slice(),
        lifeCycle,
        privileges: request.privileges.slice(),
      };
      this.options.application.install(request.applicationAid);
    });
    return ok(Uint8Array.of(0x00));
  }

  // --- STORE DATA (GPCS 11.11), routed to the application being personalised ---

  private storeData(apdu: CommandApdu, security: RequestSecurity): AppletResponse {
    const { channel } = security;
    const expected = this.personalizing.get(channel);
    if (expected === undefined) {
      if ((apdu.p1 & 0x18) === 0x10) return this.storeOwnData(apdu);
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'no INSTALL [for personalization] in progress');
    }
    if (apdu.p2 !== (expected & 0xff)) {
      this.personalizing.delete(channel);
      return fail(SW.INCORRECT_P1P2, `STORE DATA block ${apdu.p2} where ${expected} was expected`);
    }
    const last = (apdu.p1 & 0x80) !== 0;
    if ((apdu.p1 & 0x18) !== 0x08)
      return fail(SW.INCORRECT_P1P2, 'the IoT SAFE personalisation is in DGI format');
    let answer: Uint8Array;
    try {
      answer = this.options.application.personalize(apdu.data, apdu.p2, last, security.level);
    } catch (error) {
      this.personalizing.delete(channel);
      throw error;
    }
    if (last) this.personalizing.delete(channel);
    else this.personalizing.set(channel, expected + 1);
    return ok(answer);
  }

  /**
   * STORE DATA for the ISD itself (GPCS 11.11, BER-TLV format, P1 b5b4 = 10): its HTTP administration
   * parameters, in one block (P1 b8 set, P2 00).
   */
  private storeOwnData(apdu: CommandApdu): AppletResponse {
    const store = this.options.storeAdminParameters ?? fail(SW.REFERENCED_DATA_NOT_FOUND);
    if ((apdu.p1 & 0x80) === 0 || apdu.p2 !== 0)
      return fail(SW.INCORRECT_P1P2, 'the ISD takes its data in one STORE DATA block');
    if (apdu.data[0] !== ADMIN_PARAMETERS_TAG)
      return fail(SW.REFERENCED_DATA_NOT_FOUND, 'the ISD stores only its admin parameters (85)');
    decodeOrRefuse(() => store(apdu.data));
    return ok();
  }

  // --- PUT KEY (Amd D §7.2, GPCS 11.8) ---

  /**
   * Adds a key set (P1 = 00) or replaces set P1, keys from KID P2 on (P2 b8: several keys). AES keys
   * for SCP03, DES/3DES or AES for SCP80 (KIc/KID/KIK), TLS-PSK for SCP81; all decrypted with the
   * session's Key-DEK and checked against their KCVs. Answer: KVN ‖ KCVs.
   */
  private putKey(apdu: CommandApdu, security: RequestSecurity): AppletResponse {
    const firstKeyId = apdu.p2 & 0x7f;
    if (firstKeyId === 0) return fail(SW.INCORRECT_P1P2, 'key identifiers start at 1');
    const current = this.currentKeySet(security);
    const decoded = decodeOrRefuse(
      () => decodePutKeyData(current.dek, apdu.data, current.wrapping),
      (error) => (error instanceof KeyCheckError ? SW.SECURITY_STATUS_NOT_SATISFIED : SW.INCORRECT_DATA),
    );
    const newVersion = decoded.keyVersion;
    if (decoded.keys.length === 0) return fail(SW.INCORRECT_DATA, 'no key in PUT KEY');
    if ((apdu.p2 & 0x80) === 0 && decoded.keys.length !== 1)
      return fail(SW.INCORRECT_P1P2, 'several keys need P2 b8');
    if (newVersion < 0x01 || newVersion > 0x7f)
      return fail(SW.INCORRECT_DATA, 'key version numbers are 01..7F');
    const sets = this.state.keySets;
    const replaced = apdu.p1 === 0 ? undefined : sets.find((s) => s.keyVersion === apdu.p1);
    if (apdu.p1 !== 0 && !replaced)
      return fail(SW.REFERENCED_DATA_NOT_FOUND, `no key set ${apdu.p1.toString(16)}`);
    if (sets.some((s) => s.keyVersion === newVersion && s !== replaced))
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'that key version exists');
    const keys = decoded.keys.map((k, index) => ({ id: firstKeyId + index, type: k.type, value: k.key }));
    const candidate: KeySet = { keyVersion: newVersion, i: current.set.i, keys, sequenceCounter: 0 };
    if (keys.every((k) => k.type === 0x88) && keys.length === 3 && !scp03Keys(candidate)) {
      return fail(SW.INCORRECT_DATA, 'the keys of an SCP03 set have one length');
    }
    this.options.commit(() => {
      if (replaced) {
        replaced.keyVersion = newVersion;
        replaced.keys = keys;
        replaced.sequenceCounter = 0;
      } else sets.push(candidate);
    });
    return ok(concatBytes(Uint8Array.of(newVersion), ...decoded.keys.map((k) => k.kcv)));
  }

  /** The key set of the open session, and its Key-DEK (or KIK) and how that encrypts new keys. */
  private currentKeySet(security: RequestSecurity): { set: KeySet; dek: Uint8Array; wrapping: KeyWrapping } {
    const set = security.keySet ?? fail(SW.SECURITY_STATUS_NOT_SATISFIED);
    if (security.via !== 'scp03') {
      // over SCP80 the key set's KIK (key 3) protects new keys, as the Key-DEK does over SCP03; over
      // SCP81 the DEK of the TLS-PSK key set (key 2, GP Amd B)
      const id = security.via === 'scp80' ? 3 : 2;
      const kik = set.keys.find((k) => k.id === id);
      const wrapping = kik && keyWrappingFor(kik.type);
      if (!kik || !wrapping)
        return fail(SW.SECURITY_STATUS_NOT_SATISFIED, 'the key set has no key to protect keys');
      return { set, dek: kik.value, wrapping };
    }
    const keys = scp03Keys(set) ?? fail(SW.SECURITY_STATUS_NOT_SATISFIED);
    return { set, dek: keys.dek, wrapping: 'aes' };
  }

  // --- DELETE (GPCS 11.2) ---

  private delete(apdu: CommandApdu): AppletResponse {
    const fields = new Map(decodeOrRefuse(() => decodeBerTlvs(apdu.data)).map((t) => [t.tag, t.value]));
    const aid = fields.get(0x4f);
    if (aid) {
      const app = this.state.application;
      if (!app || !equalBytes(app.aid, aid)) return fail(SW.NOT_FOUND, 'no such application');
      this.options.commit(() => {
        this.state.application = undefined;
        this.options.application.uninstall();
      });
      return ok(Uint8Array.of(0x00));
    }
    const keyVersion = fields.get(0xd2);
    if (keyVersion?.length === 1) {
      const sets = this.state.keySets;
      const index = sets.findIndex((s) => s.keyVersion === keyVersion[0]);
      if (index < 0) return fail(SW.REFERENCED_DATA_NOT_FOUND);
      if (sets.length === 1) return fail(SW.CONDITIONS_NOT_SATISFIED, 'the last key set cannot be deleted');
      this.options.commit(() => {
        sets.splice(index, 1);
      });
      return ok(Uint8Array.of(0x00));
    }
    return fail(SW.INCORRECT_DATA);
  }

  // --- SET STATUS (GPCS 11.10) ---

  private setStatus(apdu: CommandApdu): AppletResponse {
    if (apdu.p1 === 0x80) {
      if (!transitionAllowed(this.state.lifeCycle, apdu.p2))
        return fail(SW.CONDITIONS_NOT_SATISFIED, 'life cycle transition not allowed');
      this.options.commit(() => {
        this.state.lifeCycle = apdu.p2;
      });
      return ok();
    }
    if (apdu.p1 === 0x40) {
      if (this.state.lifeCycle === CARD_LIFE_CYCLE.CARD_LOCKED)
        return fail(SW.CONDITIONS_NOT_SATISFIED, 'the card is locked');
      const app = this.state.application;
      if (!app || !equalBytes(app.aid, apdu.data)) return fail(SW.NOT_FOUND);
      const lock = (apdu.p2 & APP_LIFE_CYCLE.LOCKED_BIT) !== 0;
      if (!lock && apdu.p2 !== 0x00 && apdu.p2 !== APP_LIFE_CYCLE.SELECTABLE) return fail(SW.INCORRECT_P1P2);
      this.options.commit(() => {
        app.lifeCycle = lock
          ? app.lifeCycle | APP_LIFE_CYCLE.LOCKED_BIT
          : app.lifeCycle & ~APP_LIFE_CYCLE.LOCKED_BIT;
      });
      return ok();
    }
    return fail(SW.INCORRECT_P1P2);
  }
}
