// The card runtime: class byte checks, logical channels (ISO 7816-4 §7.1), SELECT by AID, and the
// transmission behaviour of T=0 (61xx / GET RESPONSE, 6Cxx on wrong Le; ISO 7816-3 §10.3.3) or T=1.
// Every input gets a response ending in a status word: nothing a host sends can make it throw.
import {
  ApduLengthError,
  type CommandApdu,
  concatBytes,
  decodeClass,
  EMPTY,
  encodeBerTlv,
  encodeResponseApdu,
  equalBytes,
  FormatError,
  INS,
  parseCommandApdu,
  SW,
} from '@iotsafe/protocol';
import type { Applet, AppletResponse } from './applet.js';
import { CardError } from './card-error.js';
import { Toolkit } from './toolkit.js';

export type TransmissionProtocol = 'T=0' | 'T=1';

/** The shape every front-end drives: one command APDU in, one response APDU out. */
export interface Card {
  transmit(command: Uint8Array): Uint8Array;
  /** Cold reset; returns the ATR. */
  reset(): Uint8Array;
  readonly atr: Uint8Array;
}

export interface CardRuntimeOptions {
  protocol: TransmissionProtocol;
  /** Logical channels the card supports, basic channel included (4 = channels 0..3). */
  channels: number;
  /** SELECT on a channel not opened by MANAGE CHANNEL opens it (ISO 7816-4 allows; wolfSSL relies on it). */
  implicitChannelOpen: boolean;
  /**
   * Which answers turn 9000 into 91xx while a proactive command waits (TS 102 221 §7.4.2.2):
   * 'toolkit' (default) those to the terminal's own commands (ENVELOPE, TERMINAL PROFILE, TERMINAL
   * RESPONSE, STATUS), so a host that shares the card and knows nothing of 91xx never sees one; 'all'
   * every 9000 without secure messaging, as a UICC in a handset does.
   */
  proactiveIndication?: 'toolkit' | 'all';
}

interface Pending {
  data: Uint8Array;
  sw: number;
}

interface ChannelState {
  selected?: Applet;
  pending?: Pending;
}

const HISTORICAL_BYTES = Uint8Array.from([0x80, 0x49, 0x6f, 0x54, 0x53, 0x41, 0x46, 0x45, 0x76, 0x31]); // 80 "IoTSAFEv1"

/** ATR (ISO 7816-3 §8): T=0 only with TA1 = 96, or T=0 + T=1 with TCK. */
export function buildAtr(protocol: TransmissionProtocol): Uint8Array {
  if (protocol === 'T=0') return concatBytes(Uint8Array.of(0x3b, 0x9a, 0x96, 0x00), HISTORICAL_BYTES);
  const body = concatBytes(Uint8Array.of(0x8a, 0x80, 0x01), HISTORICAL_BYTES);
  let tck = 0;
  for (const b of body) tck ^= b;
  return concatBytes(Uint8Array.of(0x3b), body, Uint8Array.of(tck));
}

const INS_ENVELOPE = 0xc2;
const INS_FETCH = 0x12;
const INS_TERMINAL_RESPONSE = 0x14;
const INS_TERMINAL_PROFILE = 0x10;
const INS_STATUS = 0xf2;
/** The toolkit's commands (TS 102 221 §11.2), answered by the runtime whatever is selected. */
const TOOLKIT_COMMANDS = new Set<number>([
  INS_ENVELOPE,
  INS_FETCH,
  INS_TERMINAL_RESPONSE,
  INS_TERMINAL_PROFILE,
]);
/** Commands the runtime answers itself, without secure messaging (GET RESPONSE only fetches an answer). */
const RUNTIME_COMMANDS = new Set<number>([INS.SELECT, INS.MANAGE_CHANNEL, ...TOOLKIT_COMMANDS]);
const sw = (value: number) => Uint8Array.of(value >> 8, value & 0xff);
const SELECT_METHODS_WITHOUT_FILE_SYSTEM = new Set([0x00, 0x01, 0x02, 0x03, 0x08, 0x09]);

export class CardRuntime implements Card {
  readonly atr: Uint8Array;
  private readonly applets: Applet[] = [];
  private readonly channels = new Map<number, ChannelState>();
  /** Exceptions a handler let escape (each answered 6F00). Tests and the fuzzer expect zero. */
  internalErrors = 0;
  lastInternalError: unknown;

  constructor(readonly options: CardRuntimeOptions) {
    this.atr = buildAtr(options.protocol);
    this.channels.set(0, {});
  }

  /** ENVELOPE dispatch, the proactive command queue and TERMINAL RESPONSE delivery (TS 102 223). */
  readonly toolkit = new Toolkit();

  install(applet: Applet): void {
    this.applets.push(applet);
  }

  reset(): Uint8Array {
    this.channels.clear();
    this.channels.set(0, {});
    for (const applet of this.applets) applet.reset();
    this.toolkit.reset();
    return this.atr;
  }

  openChannels(): number[] {
    return [...this.channels.keys()].sort((a, b) => a - b);
  }

  transmit(bytes: Uint8Array): Uint8Array {
    try {
      return this.dispatch(bytes);
    } catch (error) {
      if (error instanceof CardError) return sw(error.sw);
      if (error instanceof ApduLengthError) return sw(SW.WRONG_LENGTH);
      if (error instanceof FormatError) return sw(SW.INCORRECT_DATA);
      this.internalErrors++;
      this.lastInternalError = error;
      return sw(SW.UNKNOWN_ERROR);
    }
  }

  /** A command refused before any applet saw it: the applet selected on its channel is told (see Applet). */
  private refuse(channel: number, status: number): Uint8Array {
    this.channels.get(channel)?.selected?.commandRefused?.(channel);
    return sw(status);
  }

  private dispatch(bytes: Uint8Array): Uint8Array {
    // The channel a CLA names; for a class this card does not define, its channel bits as they stand.
    const channelOf = (cla: number) => (cla & 0x40 ? 4 + (cla & 0x0f) : cla & 0x03);
    if (bytes.length < 4)
      return bytes.length ? this.refuse(channelOf(bytes[0]!), SW.WRONG_LENGTH) : sw(SW.WRONG_LENGTH);
    const cls = decodeClass(bytes[0]!);
    if (!cls) return this.refuse(channelOf(bytes[0]!), SW.CLA_NOT_SUPPORTED);
    let apdu: CommandApdu;
    try {
      apdu = parseCommandApdu(bytes);
    } catch (error) {
      if (error instanceof ApduLengthError) return this.refuse(cls.channel, SW.WRONG_LENGTH);
      throw error;
    }
    if (cls.chaining) return this.refuse(cls.channel, SW.CHAINING_NOT_SUPPORTED);
    if (cls.channel >= this.options.channels) return sw(SW.LOGICAL_CHANNEL_NOT_SUPPORTED);

    let state = this.channels.get(cls.channel);
    if (cls.secureMessaging && !state?.selected?.secureMessaging)
      return this.refuse(cls.channel, SW.SECURE_MESSAGING_NOT_SUPPORTED);
    if (apdu.ins === INS.GET_RESPONSE) return this.getResponse(state, apdu);
    if (cls.secureMessaging && RUNTIME_COMMANDS.has(apdu.ins))
      return this.refuse(cls.channel, SW.SECURE_MESSAGING_NOT_SUPPORTED);
    if (state) state.pending = undefined; // any other command discards pending response bytes

    if (apdu.ins === INS.MANAGE_CHANNEL && cls.kind === 'interindustry')
      return this.manageChannel(cls.channel, apdu);
    if (state && cls.kind === 'proprietary' && !cls.secureMessaging) {
      if (TOOLKIT_COMMANDS.has(apdu.ins)) return this.toolkitCommand(state, apdu);
      // STATUS (TS 102 221 §11.1.2), P1 00..02, is how an idle terminal polls; GET STATUS has P1 80/40/20/10
      if (apdu.ins === INS_STATUS && apdu.p1 <= 0x02) return this.status(state, apdu);
    }
    if (!state) {
      if (!(apdu.ins === INS.SELECT && this.options.implicitChannelOpen))
        return sw(SW.LOGICAL_CHANNEL_NOT_SUPPORTED);
      state = {};
      this.channels.set(cls.channel, state);
    }
    if (apdu.ins === INS.SELECT && cls.kind === 'interindustry') return this.select(cls.channel, state, apdu);
    if (!state.selected) return sw(SW.INS_NOT_SUPPORTED);
    const response = state.selected.process(apdu, { channel: cls.channel });
    if (this.options.proactiveIndication === 'all' && !cls.secureMessaging)
      return this.deliver(state, apdu, { ...response, sw: this.withProactive(response.sw) });
    return this.deliver(state, apdu, response);
  }

  // The toolkit's commands (TS 102 221 §11.2): ENVELOPE, FETCH, TERMINAL RESPONSE, TERMINAL PROFILE.
  private toolkitCommand(state: ChannelState, apdu: CommandApdu): Uint8Array {
    const toolkit = this.toolkit;
    if (apdu.ins === INS_FETCH) {
      if (apdu.p1 !== 0 || apdu.p2 !== 0) return sw(SW.INCORRECT_P1P2);
      const command = toolkit.fetch();
      if (!command) return sw(SW.CONDITIONS_NOT_SATISFIED);
      return this.deliver(state, apdu, {
        data: command,
        sw: SW.OK,
        onDelivered: () => toolkit.fetched(command),
      });
    }
    let data: Uint8Array = EMPTY;
    if (apdu.ins === INS_ENVELOPE) data = toolkit.envelope(apdu.data);
    else if (apdu.ins === INS_TERMINAL_RESPONSE) toolkit.terminalResponse(apdu.data);
    else {
      if (apdu.data.length === 0) return sw(SW.WRONG_LENGTH);
      toolkit.profile(apdu.data);
    }
    return this.deliver(state, apdu, { data, sw: this.withProactive(SW.OK) });
  }

  // STATUS (TS 102 221 §11.1.2): P2 0C no data (a poll), 01 the DF name (AID) of the selected application.
  private status(state: ChannelState, apdu: CommandApdu): Uint8Array {
    if (apdu.p2 === 0x0c) return this.deliver(state, apdu, { data: EMPTY, sw: this.withProactive(SW.OK) });
    if (apdu.p2 !== 0x01) return sw(SW.INCORRECT_P1P2);
    const aid = state.selected?.aids[0];
    if (!aid) return sw(SW.NOT_FOUND);
    return this.deliver(state, apdu, { data: encodeBerTlv(0x84, aid), sw: this.withProactive(SW.OK) });
  }

  /** 9000 becomes 91xx while a proactive command waits to be fetched (TS 102 221 §7.4.2.2). */
  private withProactive(status: number): number {
    const pending = this.toolkit.pendingLength();
    return status === SW.OK && pending !== undefined ? 0x9100 | pending : status;
  }

  // MANAGE CHANNEL (ISO 7816-4 §11.1.2): P1 00 open (P2 00 = card assigns), P1 80 close channel P2.
  private manageChannel(channel: number, apdu: CommandApdu): Uint8Array {
    if (apdu.p1 === 0x00) {
      if (apdu.data.length > 0) return sw(SW.WRONG_LENGTH);
      if (apdu.p2 === 0x00) {
        if (apdu.le !== undefined && apdu.le !== 1 && apdu.le !== 256) return sw(SW.WRONG_LENGTH);
        for (let n = 1; n < this.options.channels; n++) {
          if (!this.channels.has(n)) {
            this.channels.set(n, {});
            return Uint8Array.of(n, 0x90, 0x00);
          }
        }
        return sw(SW.FUNCTION_NOT_SUPPORTED);
      }
      if (apdu.p2 >= this.options.channels) return sw(SW.INCORRECT_P1P2);
      if (this.channels.has(apdu.p2)) return sw(SW.CONDITIONS_NOT_SATISFIED);
      this.channels.set(apdu.p2, {});
      return sw(SW.OK);
    }
    if (apdu.p1 === 0x80) {
      // `00 70 80 0N 00` (P3 = 00, as Orange sends) is accepted like the 4-byte form.
      if (apdu.data.length > 0 || (apdu.le !== undefined && apdu.le !== 256)) return sw(SW.WRONG_LENGTH);
      const target = apdu.p2 === 0 ? channel : apdu.p2;
      if (target === 0 || target >= this.options.channels) return sw(SW.INCORRECT_P1P2);
      const state = this.channels.get(target);
      if (!state) return sw(SW.INCORRECT_P1P2);
      state.selected?.deselect(target);
      this.channels.delete(target);
      return sw(SW.OK);
    }
    return sw(SW.INCORRECT_P1P2);
  }

  // SELECT by DF name (ISO 7816-4 §11.1.1); answers a bare 9000, as every real IoT SAFE trace shows.
  private select(channel: number, state: ChannelState, apdu: CommandApdu): Uint8Array {
    if (apdu.p1 !== 0x04) {
      return sw(SELECT_METHODS_WITHOUT_FILE_SYSTEM.has(apdu.p1) ? SW.NOT_FOUND : SW.INCORRECT_P1P2);
    }
    if ((apdu.p2 & 0xf0) !== 0 || (apdu.p2 & 0x03) !== 0) return sw(SW.INCORRECT_P1P2);
    if (apdu.data.length < 5 || apdu.data.length > 16) return sw(SW.WRONG_LENGTH);
    const applet = this.applets.find(
      (a) => (a.selectable?.() ?? true) && a.aids.some((aid) => startsWith(aid, apdu.data)),
    );
    if (!applet) return sw(SW.NOT_FOUND);
    if (!applet.multiSelectable) {
      for (const [n, other] of this.channels) {
        if (n !== channel && other.selected === applet) return sw(SW.CONDITIONS_NOT_SATISFIED);
      }
    }
    // A SELECT starts a new application session, even of the same applet (GPCS 10.2.3 ends SCP sessions).
    state.selected?.deselect(channel);
    state.selected = applet;
    return sw(SW.OK);
  }

  private getResponse(state: ChannelState | undefined, apdu: CommandApdu): Uint8Array {
    if (!state) return sw(SW.LOGICAL_CHANNEL_NOT_SUPPORTED);
    if (apdu.p1 !== 0 || apdu.p2 !== 0) return sw(SW.INCORRECT_P1P2);
    if (apdu.data.length > 0 || apdu.le === undefined) return sw(SW.WRONG_LENGTH);
    const pending = state.pending;
    if (!pending) return sw(SW.CONDITIONS_NOT_SATISFIED);
    const available = pending.data.length;
    const wanted = apdu.le;
    if (wanted < available) {
      const rest = pending.data.subarray(wanted);
      state.pending = { data: rest, sw: pending.sw };
      return concatBytes(pending.data.subarray(0, wanted), Uint8Array.of(0x61, rest.length & 0xff));
    }
    if (wanted > available && this.options.protocol === 'T=0') return Uint8Array.of(0x6c, available & 0xff);
    state.pending = undefined;
    return encodeResponseApdu(pending);
  }

  private deliver(state: ChannelState, apdu: CommandApdu, response: AppletResponse): Uint8Array {
    const { data } = response;
    if (data.length === 0) {
      response.onDelivered?.();
      return sw(response.sw);
    }
    const caseTwo = apdu.data.length === 0 && apdu.le !== undefined;
    if (this.options.protocol === 'T=0') {
      // T=0 case 2: P3 is Le, and a Le that differs from what is available is answered 6Cxx.
      if (caseTwo && apdu.le !== data.length) return Uint8Array.of(0x6c, data.length & 0xff);
      response.onDelivered?.();
      if (caseTwo) return encodeResponseApdu(response);
      state.pending = { data, sw: response.sw };
      return Uint8Array.of(0x61, data.length & 0xff);
    }
    response.onDelivered?.();
    if (apdu.le !== undefined && apdu.le < data.length) {
      state.pending = { data: data.subarray(apdu.le), sw: response.sw };
      return concatBytes(data.subarray(0, apdu.le), Uint8Array.of(0x61, (data.length - apdu.le) & 0xff));
    }
    return encodeResponseApdu(response);
  }
}

function startsWith(aid: Uint8Array, prefix: Uint8Array): boolean {
  return prefix.length <= aid.length && equalBytes(aid.subarray(0, prefix.length), prefix);
}

export { EMPTY };
