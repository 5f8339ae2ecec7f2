// Card content management by the ISD (GPCS §11): GET STATUS (§11.4), INSTALL [for install / make
// selectable] (§11.5), DELETE (§11.2), SET STATUS (§11.10) and the card life cycle (§5.1.1).
import {
  type CommandApdu,
  concatBytes,
  decodeBerTlvs,
  decodeInstall,
  encodeStatusEntry,
  equalBytes,
  INSTALL_FOR,
  SW,
} from '@iotsafe/protocol';
import { type AppletResponse, ok } from '../card/applet.js';
import { decodeOrRefuse, fail } from '../card/card-error.js';
import { APP_LIFE_CYCLE, CARD_LIFE_CYCLE, IOTSAFE_MODULE_AID, ISD_AID, type IsdState } from './isd-state.js';
import type { RequestSecurity } from './request-security.js';

/** What the ISD needs from the application it manages (the IoT SAFE applet). */
export interface ManagedApplication {
  /**
   * A remote administration session is updating the application (GSMA IoT.05: it answers 6984 to the
   * device meanwhile), or has ended.
   */
  remoteUpdate?(active: boolean): void;
  /**
   * Receives STORE DATA blocks after INSTALL [for personalization], with the security they arrived
   * under. Returns the block's response data (GPCS §11.11: what the operations give back).
   */
  personalize(block: Uint8Array, blockNumber: number, last: boolean, security: RequestSecurity): Uint8Array;
  /** INSTALL: a fresh, empty instance under `aid`. */
  install(aid: Uint8Array): void;
  /** DELETE: the instance and everything it holds are gone. */
  uninstall(): void;
}

/** The ISD's registry and how a change of it is applied and persisted (rolled back on failure). */
export interface Registry {
  state: IsdState;
  application: ManagedApplication;
  commit: (change: () => void) => void;
}

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

/** GET STATUS, TLV format only (GPCS §11.4). */
export function getStatus(apdu: CommandApdu, state: IsdState): AppletResponse {
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
        lifeCycle: state.lifeCycle,
        privileges: Uint8Array.of(0x9e, 0xfe, 0x80),
      }),
    ];
  else if (apdu.p1 === 0x40) {
    const app = state.application;
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

/** INSTALL [for install (and make selectable)] and [for make selectable] (GPCS §11.5). */
export function installApplication(apdu: CommandApdu, registry: Registry): AppletResponse {
  const { state } = registry;
  const p1 = apdu.p1 & 0x7f;
  if (p1 === INSTALL_FOR.MAKE_SELECTABLE) {
    const app = state.application ?? fail(SW.NOT_FOUND);
    registry.commit(() => {
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
  if (state.application) return fail(SW.CONDITIONS_NOT_SATISFIED, 'the application is already installed');
  const lifeCycle = p1 === INSTALL_FOR.INSTALL ? APP_LIFE_CYCLE.INSTALLED : APP_LIFE_CYCLE.SELECTABLE;
  registry.commit(() => {
    state.application = {
      aid: request.applicationAid.slice(),
      lifeCycle,
      privileges: request.privileges.slice(),
    };
    registry.application.install(request.applicationAid);
  });
  return ok(Uint8Array.of(0x00));
}

/** DELETE of the application (4F) or of a key set (D2) (GPCS §11.2). */
export function deleteObject(apdu: CommandApdu, registry: Registry): AppletResponse {
  const { state } = registry;
  const fields = new Map(decodeOrRefuse(() => decodeBerTlvs(apdu.data)).map((t) => [t.tag, t.value]));
  const aid = fields.get(0x4f);
  if (aid) {
    const app = state.application;
    if (!app || !equalBytes(app.aid, aid)) return fail(SW.NOT_FOUND, 'no such application');
    registry.commit(() => {
      state.application = undefined;
      registry.application.uninstall();
    });
    return ok(Uint8Array.of(0x00));
  }
  const keyVersion = fields.get(0xd2);
  if (keyVersion?.length === 1) {
    const sets = state.keySets;
    const index = sets.findIndex((s) => s.keyVersion === keyVersion[0]);
    if (index < 0) return fail(SW.REFERENCED_DATA_NOT_FOUND);
    if (sets.length === 1) return fail(SW.CONDITIONS_NOT_SATISFIED, 'the last key set cannot be deleted');
    registry.commit(() => {
      sets.splice(index, 1);
    });
    return ok(Uint8Array.of(0x00));
  }
  return fail(SW.INCORRECT_DATA);
}

/** SET STATUS of the card (P1 80) or of the application (P1 40) (GPCS §11.10). */
export function setStatus(apdu: CommandApdu, registry: Registry): AppletResponse {
  const { state } = registry;
  if (apdu.p1 === 0x80) {
    if (!transitionAllowed(state.lifeCycle, apdu.p2))
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'life cycle transition not allowed');
    registry.commit(() => {
      state.lifeCycle = apdu.p2;
    });
    return ok();
  }
  if (apdu.p1 === 0x40) {
    if (state.lifeCycle === CARD_LIFE_CYCLE.CARD_LOCKED)
      return fail(SW.CONDITIONS_NOT_SATISFIED, 'the card is locked');
    const app = state.application;
    if (!app || !equalBytes(app.aid, apdu.data)) return fail(SW.NOT_FOUND);
    const lock = (apdu.p2 & APP_LIFE_CYCLE.LOCKED_BIT) !== 0;
    if (!lock && apdu.p2 !== 0x00 && apdu.p2 !== APP_LIFE_CYCLE.SELECTABLE) return fail(SW.INCORRECT_P1P2);
    registry.commit(() => {
      app.lifeCycle = lock
        ? app.lifeCycle | APP_LIFE_CYCLE.LOCKED_BIT
        : app.lifeCycle & ~APP_LIFE_CYCLE.LOCKED_BIT;
    });
    return ok();
  }
  return fail(SW.INCORRECT_P1P2);
}
