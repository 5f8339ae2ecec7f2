// Personalisation through the ISD (GPCS §11.5 INSTALL [for personalization], §11.11 STORE DATA):
// per channel, the block number expected next; blocks go to the application with the security they
// came under. STORE DATA with no INSTALL [for personalization] open is for the ISD itself.
import { type CommandApdu, decodeInstallForPersonalization, equalBytes, SW } from '@iotsafe/protocol';
import { type AppletResponse, ok } from '../card/applet.js';
import { decodeOrRefuse, fail } from '../card/card-error.js';
import type { ManagedApplication } from './isd-content.js';
import { APP_LIFE_CYCLE, type IsdState } from './isd-state.js';
import type { RequestSecurity } from './request-security.js';

/** GET DATA / STORE DATA tag of the ISD's HTTP administration parameters (GP Amd B). */
export const ADMIN_PARAMETERS_TAG = 0x0085;

export class IsdPersonalization {
  /** Channel → the STORE DATA block number expected next while personalising. */
  private readonly expected = new Map<number, number>();

  constructor(
    private readonly state: IsdState,
    private readonly application: ManagedApplication,
    /** STORE DATA to the ISD itself: decodes (FormatError) and commits its admin parameters. */
    private readonly storeAdminParameters?: (tlv: Uint8Array) => void,
  ) {}

  /** The channel's personalisation (if any) ends: a new command, deselect, refusal, session end. */
  end(channel: number): void {
    this.expected.delete(channel);
  }

  clear(): void {
    this.expected.clear();
  }

  /** INSTALL [for personalization] of the managed application: STORE DATA blocks go to it from now. */
  begin(apdu: CommandApdu, channel: number): AppletResponse {
    const aid = decodeOrRefuse(() => decodeInstallForPersonalization(apdu.data));
    const app = this.state.application;
    if (!app || !equalBytes(app.aid, aid)) return fail(SW.NOT_FOUND, 'no such application');
    if ((app.lifeCycle & APP_LIFE_CYCLE.LOCKED_BIT) !== 0)
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'the application is locked');
    this.expected.set(channel, 0);
    return ok(Uint8Array.of(0x00));
  }

  /** STORE DATA, routed to the application being personalised on this channel, or the ISD's own. */
  storeData(apdu: CommandApdu, security: RequestSecurity): AppletResponse {
    const { channel } = security;
    const expected = this.expected.get(channel);
    if (expected === undefined) {
      if ((apdu.p1 & 0x18) === 0x10) return this.storeOwnData(apdu);
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'no INSTALL [for personalization] in progress');
    }
    if (apdu.p2 !== (expected & 0xff)) {
      this.expected.delete(channel);
      return fail(SW.INCORRECT_P1P2, `STORE DATA block ${apdu.p2} where ${expected} was expected`);
    }
    const last = (apdu.p1 & 0x80) !== 0;
    if ((apdu.p1 & 0x18) !== 0x08)
      return fail(SW.INCORRECT_P1P2, 'the IoT SAFE personalisation is in DGI format');
    let answer: Uint8Array;
    try {
      answer = this.application.personalize(apdu.data, apdu.p2, last, security);
    } catch (error) {
      this.expected.delete(channel);
      throw error;
    }
    if (last) this.expected.delete(channel);
    else this.expected.set(channel, expected + 1);
    return ok(answer);
  }

  /**
   * STORE DATA for the ISD itself (GPCS §11.11, BER-TLV format, P1 b5b4 = 10): its HTTP administration
   * parameters, in one block (P1 b8 set, P2 00).
   */
  private storeOwnData(apdu: CommandApdu): AppletResponse {
    const store = this.storeAdminParameters ?? fail(SW.REFERENCED_DATA_NOT_FOUND);
    if ((apdu.p1 & 0x80) === 0 || apdu.p2 !== 0)
      return fail(SW.INCORRECT_P1P2, 'the ISD takes its data in one STORE DATA block');
    if (apdu.data[0] !== ADMIN_PARAMETERS_TAG)
      return fail(SW.REFERENCED_DATA_NOT_FOUND, 'the ISD stores only its admin parameters (85)');
    decodeOrRefuse(() => store(apdu.data));
    return ok();
  }
}
