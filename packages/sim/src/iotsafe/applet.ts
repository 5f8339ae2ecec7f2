// The IoT SAFE applet (GSMA IoT.05): a dispatcher over INS with one handler per command, in
// object-commands.ts and crypto-commands.ts; personalisation from the ISD in perso-session.ts. A handler
// returns a response or throws CardError(sw); it never leaves a change half made.
import { type CommandApdu, DEFAULT_AIDS, equalBytes, INS, IOTSAFE_AID, SW } from '@iotsafe/protocol';
import type { Applet, AppletResponse, CommandContext } from '../card/applet.js';
import { fail } from '../card/card-error.js';
import type { RequestSecurity } from '../gp/request-security.js';
import type { SecureChannelService } from '../gp/secure-channel.js';
import { CryptoCommands } from './crypto-commands.js';
import { ObjectCommands } from './object-commands.js';
import { PersoSession } from './perso-session.js';
import type { Personality } from './personality.js';
import type { ObjectStore } from './store.js';

export interface IoTSafeAppletOptions {
  aids: readonly Uint8Array[];
  personality: Personality;
  store: ObjectStore;
  /** The security domain's secure channel: with it the applet takes SCP03-protected commands. */
  secureChannel?: SecureChannelService;
  /** Whether the applet may be selected now (installed, not locked, card not locked). */
  selectable?: () => boolean;
}

export class IoTSafeApplet implements Applet {
  aids: readonly Uint8Array[];
  readonly multiSelectable: boolean;
  readonly secureMessaging: boolean;
  private readonly personality: Personality;
  private readonly store: ObjectStore;
  private readonly options: IoTSafeAppletOptions;
  private readonly objects: ObjectCommands;
  private readonly crypto: CryptoCommands;
  private readonly perso: PersoSession;
  /** A remote administration session is updating the objects (set by the security domain). */
  private remotelyUpdated = false;

  constructor(options: IoTSafeAppletOptions) {
    this.options = options;
    this.aids = options.aids;
    this.personality = options.personality;
    this.multiSelectable = options.personality.multiSelectable;
    this.secureMessaging = options.secureChannel !== undefined;
    this.store = options.store;
    this.objects = new ObjectCommands(options.personality, options.store);
    this.crypto = new CryptoCommands(options.personality, options.store);
    this.perso = new PersoSession(options.store);
  }

  reset(): void {
    this.crypto.reset();
    this.objects.reset();
    this.perso.reset();
    this.store.clearVolatile();
  }

  deselect(channel: number): void {
    this.objects.deselect(channel);
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

  /** INSTALL: a fresh instance under `aid`, with no containers (and no personalisation lock). */
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
   * STORE DATA blocks of a personalisation script, with the security the ISD received them under;
   * applied as one change after the last block, whose answer is what the script's generate, list and
   * signing-request operations give. Once locked, only the issuer's channel is admitted (else 6982).
   */
  personalize(block: Uint8Array, blockNumber: number, last: boolean, security: RequestSecurity): Uint8Array {
    return this.perso.receive(block, blockNumber, last, security);
  }

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
    const { objects, crypto } = this;
    switch (apdu.ins) {
      case INS.GET_RANDOM:
        return crypto.getRandom(apdu);
      case INS.GET_DATA:
        return objects.getData(apdu, context);
      case INS.READ_FILE:
        return objects.readFile(apdu);
      case INS.GENERATE_KEY_PAIR:
        return objects.generateKeyPair(apdu);
      case INS.READ_PUBLIC_KEY:
        return objects.readPublicKey(apdu);
      case INS.PUT_PUBLIC_KEY_INIT:
        return objects.putPublicKeyInit(apdu);
      case INS.PUT_PUBLIC_KEY_UPDATE:
        return objects.putPublicKeyUpdate(apdu);
      case INS.COMPUTE_SIGNATURE_INIT:
        return crypto.signatureInit(apdu, 'privateKey', crypto.signSessions);
      case INS.COMPUTE_SIGNATURE_UPDATE:
        return crypto.computeSignatureUpdate(apdu);
      case INS.VERIFY_SIGNATURE_INIT:
        return crypto.signatureInit(apdu, 'publicKey', crypto.verifySessions);
      case INS.VERIFY_SIGNATURE_UPDATE:
        return crypto.verifySignatureUpdate(apdu);
      case INS.COMPUTE_DH:
        return crypto.computeDh(apdu);
      case INS.COMPUTE_PRF:
        return crypto.computePrf(apdu);
      case INS.COMPUTE_HKDF:
        return crypto.computeHkdf(apdu);
      default:
        return fail(SW.INS_NOT_SUPPORTED);
    }
  }
}
