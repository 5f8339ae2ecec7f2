// The Issuer Security Domain (GPCS v2.3.1 §11, GPC Amd D): SCP03, GET DATA, GET STATUS,
// INSTALL, STORE DATA (forwarded to the applet being personalised), PUT KEY, DELETE, SET STATUS, and
// the card life cycle. Management commands need a secure channel at `requiredLevel` (else 6982).
// Handlers: isd-content.ts (registry, life cycle), isd-perso.ts (STORE DATA), isd-keys.ts (PUT KEY).
import { type CommandApdu, GP_INS, INSTALL_FOR, SW } from '@iotsafe/protocol';
import { type Applet, type AppletResponse, type CommandContext, ok } from '../card/applet.js';
import { fail } from '../card/card-error.js';
import {
  deleteObject,
  getStatus,
  installApplication,
  type ManagedApplication,
  type Registry,
  setStatus,
} from './isd-content.js';
import { isdData } from './isd-data.js';
import { putKey } from './isd-keys.js';
import { ADMIN_PARAMETERS_TAG, IsdPersonalization } from './isd-perso.js';
import { CARD_LIFE_CYCLE, ISD_AID, type IsdState } from './isd-state.js';
import { LEVEL, type RemoteSecurity, type RequestSecurity } from './request-security.js';
import type { SecureChannelService } from './secure-channel.js';

export type { ManagedApplication, RemoteSecurity, RequestSecurity };

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

/**
 * The pseudo channels RAM commands from over the air run on: their STORE DATA sequences are their own,
 * apart from the logical channels' and from each other's.
 */
const REMOTE_CHANNEL = { scp80: 0xff, scp81: 0xfe } as const;

export class IsdApplet implements Applet {
  readonly aids = [ISD_AID, ISD_AID.subarray(0, 7)];
  readonly multiSelectable = true;
  readonly secureMessaging = true;
  private readonly requiredLevel: number;
  private readonly perso: IsdPersonalization;
  private readonly registry: Registry;
  private remoteUpdating = false;

  constructor(private readonly options: IsdOptions) {
    this.requiredLevel = options.requiredLevel ?? LEVEL.C_MAC;
    this.perso = new IsdPersonalization(options.state, options.application, options.storeAdminParameters);
    this.registry = { state: options.state, application: options.application, commit: options.commit };
  }

  private get state(): IsdState {
    return this.options.state;
  }

  reset(): void {
    this.perso.clear();
    this.setRemoteUpdate(false);
    this.options.secureChannel.terminateAll();
  }

  deselect(channel: number): void {
    this.perso.end(channel);
    this.options.secureChannel.terminate(channel);
  }

  commandRefused(channel: number): void {
    this.perso.end(channel);
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
    this.perso.end(REMOTE_CHANNEL[via]);
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

  private requireAuthenticated(security: RequestSecurity): void {
    const { level } = security;
    if ((level & LEVEL.AUTHENTICATED) === 0 || (level & this.requiredLevel) !== this.requiredLevel) {
      fail(SW.SECURITY_STATUS_NOT_SATISFIED, 'this command needs a secure channel');
    }
  }

  private dispatch(apdu: CommandApdu, security: RequestSecurity): AppletResponse {
    const { channel } = security;
    if (apdu.ins === GP_INS.GET_DATA || apdu.ins === 0xcb) return this.getData(apdu, security);
    if (apdu.ins !== GP_INS.STORE_DATA) this.perso.end(channel);
    const locked = this.state.lifeCycle === CARD_LIFE_CYCLE.CARD_LOCKED;
    switch (apdu.ins) {
      case GP_INS.SET_STATUS:
        this.requireAuthenticated(security);
        return setStatus(apdu, this.registry);
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
        return getStatus(apdu, this.state);
      case GP_INS.INSTALL:
        return this.install(apdu, security);
      case GP_INS.STORE_DATA:
        return this.perso.storeData(apdu, security);
      case GP_INS.PUT_KEY:
        return putKey(apdu, security, this.state, this.options.commit);
      default:
        return deleteObject(apdu, this.registry);
    }
  }

  // --- GET DATA (GPCS §11.3) ---

  private getData(apdu: CommandApdu, security: RequestSecurity): AppletResponse {
    const tag = (apdu.p1 << 8) | apdu.p2;
    if (tag === ADMIN_PARAMETERS_TAG) {
      this.requireAuthenticated(security); // where the card connects is the operator's business
      return ok(this.options.adminParameters?.() ?? fail(SW.REFERENCED_DATA_NOT_FOUND));
    }
    const data = isdData(this.state, tag, security.via === 'scp03' ? security.level : 0);
    return data ? ok(data) : fail(SW.REFERENCED_DATA_NOT_FOUND);
  }

  // --- INSTALL (GPCS §11.5) ---

  private install(apdu: CommandApdu, security: RequestSecurity): AppletResponse {
    if ((apdu.p1 & 0x7f) !== INSTALL_FOR.PERSONALIZATION) return installApplication(apdu, this.registry);
    const response = this.perso.begin(apdu, security.channel);
    if (security.via === 'scp81') this.setRemoteUpdate(true);
    return response;
  }
}
