// The card's secure channel service (the role of GP's SecureChannel interface): SCP03 sessions per
// logical channel, with the ISD's key sets. The ISD and the applets it serves delegate INITIALIZE
// UPDATE / EXTERNAL AUTHENTICATE and the wrapping of their commands to it.
import { randomBytes } from 'node:crypto';
import {
  type CommandApdu,
  decodeClass,
  FormatError,
  hasSecureMessagingBit,
  pseudoRandomChallenge,
  type ResponseApdu,
  Scp03CardError,
  Scp03CardSession,
  type StaticKeys,
  SW,
  u32be,
} from '@iotsafe/protocol';
import type { AppletResponse } from '../card/applet.js';
import { CardError } from '../card/card-error.js';
import { type IsdState, type KeySet, scp03Keys } from './isd-state.js';

export const INS_INITIALIZE_UPDATE = 0x50;
export const INS_EXTERNAL_AUTHENTICATE = 0x82;
const MAX_SEQUENCE = 0xffffff;

export interface SecureChannelOptions {
  state: IsdState;
  sdAid: Uint8Array;
  /** Persists a change of the ISD state (sequence counters); throws when it cannot. */
  persist: () => void;
  /** Source of random card challenges (tests inject the vectors' challenges). */
  randomChallenge?: (length: number) => Uint8Array;
}

export class SecureChannelService {
  private readonly sessions = new Map<number, Scp03CardSession>();
  /** The key set each channel's session was opened with (PUT KEY decrypts with its DEK). */
  private readonly keySets = new Map<number, KeySet>();

  constructor(private readonly options: SecureChannelOptions) {}

  private session(channel: number): Scp03CardSession {
    let s = this.sessions.get(channel);
    if (!s) {
      s = new Scp03CardSession();
      this.sessions.set(channel, s);
    }
    return s;
  }

  /** The key set of the channel's open session. */
  sessionKeySet(channel: number): KeySet | undefined {
    return this.securityLevel(channel) & 0x80 ? this.keySets.get(channel) : undefined;
  }

  /** The Current Security Level byte of a channel (GPCS Table 10-1). */
  securityLevel(channel: number): number {
    return this.sessions.get(channel)?.currentSecurityLevel ?? 0;
  }

  isAuthenticated(channel: number, minimumLevel = 0): boolean {
    const level = this.securityLevel(channel);
    return (level & 0x80) !== 0 && (level & minimumLevel) === minimumLevel;
  }

  terminate(channel: number): void {
    this.sessions.get(channel)?.terminate();
  }

  /** A command on the channel failed a check outside the secure channel: its session ends (GPCS 10.2.3). */
  abort(channel: number): void {
    this.sessions.get(channel)?.abortSession();
  }

  terminateAll(): void {
    for (const s of this.sessions.values()) s.terminate();
  }

  /** The SCP03 key set P1 names; 00 = the first SCP03 set (GPCS E.5.1.3). */
  private keySet(keyVersion: number): { set: KeySet; keys: StaticKeys } | undefined {
    for (const set of this.options.state.keySets) {
      if (keyVersion !== 0 && set.keyVersion !== keyVersion) continue;
      const keys = scp03Keys(set);
      if (keys) return { set, keys };
      if (keyVersion !== 0) return undefined;
    }
    return undefined;
  }

  /** INITIALIZE UPDATE (GPC Amd D §7.1.1). */
  initializeUpdate(apdu: CommandApdu, channel: number): AppletResponse {
    const session = this.session(channel);
    session.terminate(); // any INITIALIZE UPDATE ends the session on its channel, even a refused one
    const cls = decodeClass(apdu.cla);
    if (cls?.kind !== 'proprietary' || hasSecureMessagingBit(apdu.cla))
      throw new CardError(SW.CLA_NOT_SUPPORTED);
    if (apdu.p2 !== 0x00) throw new CardError(SW.INCORRECT_P1P2);
    const found = this.keySet(apdu.p1);
    if (!found) throw new CardError(SW.REFERENCED_DATA_NOT_FOUND, `no SCP03 key set ${apdu.p1.toString(16)}`);
    const { set, keys } = found;
    const s = (set.i & 0x01) === 1 ? 16 : 8;
    if (apdu.data.length !== s) throw new CardError(SW.WRONG_LENGTH, `host challenge must be ${s} bytes`);
    let cardChallenge: Uint8Array;
    let sequenceCounter: Uint8Array | undefined;
    if ((set.i & 0x10) !== 0) {
      if (set.sequenceCounter >= MAX_SEQUENCE)
        throw new CardError(SW.CONDITIONS_NOT_SATISFIED, 'sequence counter exhausted');
      set.sequenceCounter++;
      try {
        this.options.persist();
      } catch {
        set.sequenceCounter--;
        throw new CardError(SW.MEMORY_FAILURE, 'the sequence counter could not be saved');
      }
      sequenceCounter = u32be(set.sequenceCounter).subarray(1);
      cardChallenge = pseudoRandomChallenge(keys.enc, sequenceCounter, this.options.sdAid, s);
    } else {
      cardChallenge = this.options.randomChallenge?.(s) ?? new Uint8Array(randomBytes(s));
    }
    this.keySets.set(channel, set);
    const data = session.initializeUpdate(apdu, {
      keys,
      keyVersion: set.keyVersion,
      i: set.i,
      keyDiversificationData: this.options.state.keyDiversificationData,
      cardChallenge,
      ...(sequenceCounter ? { sequenceCounter } : {}),
    });
    return { data, sw: SW.OK };
  }

  externalAuthenticate(apdu: CommandApdu, channel: number): AppletResponse {
    try {
      this.session(channel).externalAuthenticate(apdu);
    } catch (error) {
      if (error instanceof Scp03CardError) throw new CardError(error.sw, error.message);
      throw error;
    }
    return { data: new Uint8Array(0), sw: SW.OK };
  }

  /** The plain command, or CardError(6982) for a security error (which aborts the session). */
  unwrap(apdu: CommandApdu, channel: number): CommandApdu {
    const session = this.sessions.get(channel);
    if (!session || session.phase === 'none' || session.phase === 'challenged') {
      if (hasSecureMessagingBit(apdu.cla))
        throw new CardError(SW.SECURITY_STATUS_NOT_SATISFIED, 'no secure channel is open');
      return apdu;
    }
    try {
      return session.unwrapCommand(apdu);
    } catch (error) {
      if (error instanceof Scp03CardError) throw new CardError(error.sw, error.message);
      if (error instanceof FormatError) throw new CardError(SW.SECURITY_STATUS_NOT_SATISFIED, error.message);
      throw error;
    }
  }

  wrap(response: ResponseApdu, channel: number): ResponseApdu {
    return this.sessions.get(channel)?.wrapResponse(response) ?? response;
  }

  /**
   * Runs a command through the channel's session: the two authentication commands are answered here;
   * any other is unwrapped, handed to `handler`, and its answer (or refusal) wrapped.
   */
  process(
    apdu: CommandApdu,
    channel: number,
    handler: (plain: CommandApdu) => AppletResponse,
  ): AppletResponse {
    if (apdu.ins === INS_INITIALIZE_UPDATE && (apdu.cla & 0x80) !== 0)
      return this.initializeUpdate(apdu, channel);
    if (apdu.ins === INS_EXTERNAL_AUTHENTICATE && (apdu.cla & 0x80) !== 0)
      return this.externalAuthenticate(apdu, channel);
    const plain = this.unwrap(apdu, channel);
    let response: AppletResponse;
    try {
      response = handler(plain);
    } catch (error) {
      if (!(error instanceof CardError)) throw error;
      response = { data: new Uint8Array(0), sw: error.sw };
    }
    const wrapped = this.wrap(response, channel);
    return response.onDelivered ? { ...wrapped, onDelivered: response.onDelivered } : wrapped;
  }
}
