// The card side of SCP03 (GPC Amd D §5–§7, GPCS v2.3.1 §10.2): one session per logical channel, driven
// by the security domain that owns the keys. Refusals carry the status word the card must answer, and
// every security error aborts the session until the next INITIALIZE UPDATE.
import { type CommandApdu, command, type ResponseApdu } from '../apdu.js';
import { concatBytes, constantTimeEqual, FormatError } from '../bytes.js';
import {
  cryptogram,
  DERIVATION,
  deriveSessionKeys,
  type SessionKeys,
  type StaticKeys,
} from './scp03-crypto.js';
import {
  commandMac,
  decryptCommandData,
  encryptResponseData,
  hasLevel,
  hasSecureMessagingBit,
  isProtectedStatus,
  plainClass,
  responseMac,
  SECURITY_LEVEL,
  VALID_SECURITY_LEVELS,
} from './scp03-messaging.js';

/** A refusal by the card side of the secure channel, with the SW to answer. */
export class Scp03CardError extends Error {
  override name = 'Scp03CardError';
  constructor(
    readonly sw: number,
    message: string,
  ) {
    super(message);
  }
}

export interface InitializeUpdateInput {
  keys: StaticKeys;
  keyVersion: number;
  /** The i parameter of the key set (Amd D Table 5-1; b1 = S16). */
  i: number;
  keyDiversificationData: Uint8Array;
  cardChallenge: Uint8Array;
  /** Present when the card challenge is pseudo-random (i.b5). */
  sequenceCounter?: Uint8Array;
}

export type CardSessionPhase = 'none' | 'challenged' | 'open' | 'aborted';

export class Scp03CardSession {
  phase: CardSessionPhase = 'none';
  securityLevel = 0;
  private sMode: 8 | 16 = 8;
  private i = 0;
  private sessionKeys?: SessionKeys;
  private context?: Uint8Array;
  private mcv: Uint8Array = new Uint8Array(16);
  private counter = 0;

  /** Forgets everything (SELECT, channel close, reset). */
  terminate(): void {
    this.phase = 'none';
    this.securityLevel = 0;
    this.sessionKeys = undefined;
    this.context = undefined;
  }

  /**
   * Ends an open session as a security error does (Amd D §5.6): every later command is refused until a
   * new INITIALIZE UPDATE; an authentication in progress is forgotten.
   */
  abortSession(): void {
    if (this.phase === 'open') this.phase = 'aborted';
    else if (this.phase === 'challenged') this.terminate();
  }

  /** The current security level byte (GPCS Table 10-1): 80 AUTHENTICATED | level, or 00. */
  get currentSecurityLevel(): number {
    return this.phase === 'open' ? 0x80 | this.securityLevel : 0x00;
  }

  /** INITIALIZE UPDATE (§7.1.1): checks the host challenge length, derives the session, answers. */
  initializeUpdate(apdu: CommandApdu, input: InitializeUpdateInput): Uint8Array {
    this.terminate();
    const sMode = (input.i & 0x01) === 1 ? 16 : 8;
    if (apdu.data.length !== sMode) throw new Scp03CardError(0x6700, `host challenge must be ${sMode} bytes`);
    if (input.cardChallenge.length !== sMode) throw new Error('card challenge of the wrong length');
    this.sMode = sMode;
    this.i = input.i;
    this.context = concatBytes(apdu.data, input.cardChallenge);
    this.sessionKeys = deriveSessionKeys(input.keys, this.context);
    const cardCryptogram = cryptogram(this.sessionKeys.sMac, DERIVATION.CARD_CRYPTOGRAM, this.context, sMode);
    this.phase = 'challenged';
    return concatBytes(
      input.keyDiversificationData,
      Uint8Array.of(input.keyVersion, 0x03, input.i),
      input.cardChallenge,
      cardCryptogram,
      input.sequenceCounter ?? new Uint8Array(0),
    );
  }

  /** EXTERNAL AUTHENTICATE (§7.1.2): C-MAC, host cryptogram and level checked; opens the session. */
  externalAuthenticate(apdu: CommandApdu): void {
    if (this.phase !== 'challenged' || !this.sessionKeys || !this.context) {
      this.terminate();
      throw new Scp03CardError(0x6985, 'EXTERNAL AUTHENTICATE must follow INITIALIZE UPDATE');
    }
    const s = this.sMode;
    if (apdu.data.length !== 2 * s) {
      this.terminate();
      throw new Scp03CardError(0x6700, 'EXTERNAL AUTHENTICATE data has the wrong length');
    }
    if (!hasSecureMessagingBit(apdu.cla) || apdu.p2 !== 0x00) {
      this.terminate();
      throw new Scp03CardError(0x6982, 'EXTERNAL AUTHENTICATE is sent with secure messaging');
    }
    const hostCryptogram = apdu.data.subarray(0, s);
    const mac = commandMac(
      this.sessionKeys.sMac,
      new Uint8Array(16),
      apdu.cla,
      apdu.ins,
      apdu.p1,
      apdu.p2,
      2 * s,
      hostCryptogram,
    );
    if (!constantTimeEqual(mac.subarray(0, s), apdu.data.subarray(s))) {
      this.terminate();
      throw new Scp03CardError(0x6982, 'EXTERNAL AUTHENTICATE C-MAC mismatch');
    }
    const expected = cryptogram(this.sessionKeys.sMac, DERIVATION.HOST_CRYPTOGRAM, this.context, s);
    if (!constantTimeEqual(expected, hostCryptogram)) {
      this.terminate();
      throw new Scp03CardError(0x6300, 'authentication of the host cryptogram failed');
    }
    const level = apdu.p1;
    const allowed =
      VALID_SECURITY_LEVELS.has(level) &&
      (!hasLevel(level, SECURITY_LEVEL.R_MAC) || (this.i & 0x20) !== 0) &&
      (!hasLevel(level, SECURITY_LEVEL.R_ENCRYPTION) || (this.i & 0x40) !== 0);
    if (!allowed) {
      this.terminate();
      throw new Scp03CardError(0x6a86, `security level ${level.toString(16)} is not available`);
    }
    this.securityLevel = level;
    this.mcv = mac;
    this.counter = 0;
    this.phase = 'open';
  }

  private abort(reason: string): never {
    this.phase = 'aborted';
    throw new Scp03CardError(0x6982, reason);
  }

  /** Checks and removes the protection of a command; a security error aborts the session (6982). */
  unwrapCommand(apdu: CommandApdu): CommandApdu {
    if (this.phase === 'aborted') this.abort('the secure channel was aborted');
    if (this.phase !== 'open' || !this.sessionKeys) return apdu;
    const level = this.securityLevel;
    if (level === 0x00) return apdu;
    const s = this.sMode;
    if (!hasSecureMessagingBit(apdu.cla)) this.abort('command without secure messaging');
    // GP codes SM as b3 in the first class (b4 set is ISO's own SM format), b6 in the further class.
    if ((apdu.cla & 0x40) === 0 && (apdu.cla & 0x0c) !== 0x04)
      this.abort('a secure messaging indication other than GP’s');
    if (apdu.data.length < s) this.abort('command shorter than its C-MAC');
    const body = apdu.data.subarray(0, apdu.data.length - s);
    const mac = commandMac(
      this.sessionKeys.sMac,
      this.mcv,
      apdu.cla,
      apdu.ins,
      apdu.p1,
      apdu.p2,
      apdu.data.length,
      body,
    );
    if (!constantTimeEqual(mac.subarray(0, s), apdu.data.subarray(body.length))) this.abort('C-MAC mismatch');
    this.mcv = mac;
    let data: Uint8Array = body;
    if (hasLevel(level, SECURITY_LEVEL.C_DECRYPTION)) {
      this.counter++;
      if (body.length > 0) {
        try {
          data = decryptCommandData(this.sessionKeys.sEnc, this.counter, body);
        } catch (error) {
          if (error instanceof FormatError) this.abort('command decryption failed');
          throw error;
        }
      }
    }
    const plain = command(plainClass(apdu.cla), apdu.ins, apdu.p1, apdu.p2, data);
    return apdu.le === undefined ? plain : { ...plain, le: apdu.le };
  }

  /** Adds R-ENCRYPTION and R-MAC to a response as the level asks (§6.2.5, §6.2.7). */
  wrapResponse(response: ResponseApdu): ResponseApdu {
    if (this.phase !== 'open' || !this.sessionKeys) return response;
    const level = this.securityLevel;
    if (!hasLevel(level, SECURITY_LEVEL.R_MAC)) return response;
    if (!isProtectedStatus(response.sw)) return { data: new Uint8Array(0), sw: response.sw };
    const body: Uint8Array =
      hasLevel(level, SECURITY_LEVEL.R_ENCRYPTION) && response.data.length > 0
        ? encryptResponseData(this.sessionKeys.sEnc, this.counter, response.data)
        : response.data;
    const rmac = responseMac(this.sessionKeys.sRmac, this.mcv, body, response.sw).subarray(0, this.sMode);
    return { data: concatBytes(body, rmac), sw: response.sw };
  }
}
