// The host side of SCP03 as a state machine without I/O: it builds INITIALIZE UPDATE, checks the card's
// answer and cryptogram, builds EXTERNAL AUTHENTICATE, then wraps commands and unwraps responses.
// The caller moves the bytes (see device's openScp03).
import { randomBytes } from 'node:crypto';
import { type CommandApdu, command, type ResponseApdu } from '../apdu.js';
import { concatBytes, constantTimeEqual, FormatError } from '../bytes.js';
import { type Diversification, diversifyKey } from './keys.js';
import {
  cryptogram,
  DERIVATION,
  deriveSessionKeys,
  pseudoRandomChallenge,
  type SessionKeys,
  type StaticKeys,
} from './scp03-crypto.js';
import {
  commandMac,
  decryptResponseData,
  encryptCommandData,
  hasLevel,
  isProtectedStatus,
  responseMac,
  SECURITY_LEVEL,
  VALID_SECURITY_LEVELS,
  wireClass,
} from './scp03-messaging.js';

/** The card failed to authenticate, a response failed its R-MAC, or the session is not usable. */
export class Scp03Error extends Error {
  override name = 'Scp03Error';
}

export interface Scp03HostOptions {
  /** Static keys, or master keys when `diversification` is set. */
  keys: StaticKeys;
  /** Derive the card's keys from master keys and the KDD of INITIALIZE UPDATE (docs/guide-scp03.md). */
  diversification?: Diversification;
  /** EXTERNAL AUTHENTICATE P1: 00, 01, 03, 11, 13 or 33. Default 03 (C-DECRYPTION + C-MAC). */
  securityLevel?: number;
  /** INITIALIZE UPDATE P1; 00 lets the card choose its default key set. */
  keyVersion?: number;
  /** Host challenge: 8 bytes (S8) or 16 (S16); random by default. */
  hostChallenge?: Uint8Array;
  /** S8 (default) or S16 (Amd D v1.2). */
  sMode?: 8 | 16;
  /** Logical channel the session runs on (CLA coding). */
  channel?: number;
  /** The security domain's AID: when given, a pseudo-random card challenge is checked against it. */
  sdAid?: Uint8Array;
}

/** What INITIALIZE UPDATE told about the card's key set. */
export interface CardKeyInfo {
  keyDiversificationData: Uint8Array;
  keyVersion: number;
  scpIdentifier: number;
  /** The "i" parameter (Amd D Table 5-1). */
  i: number;
  sequenceCounter?: Uint8Array;
}

type HostPhase = 'initial' | 'challenged' | 'authenticating' | 'open' | 'closed';

export class Scp03HostSession {
  readonly securityLevel: number;
  readonly sMode: 8 | 16;
  private phase: HostPhase = 'initial';
  private readonly hostChallenge: Uint8Array;
  private sessionKeys?: SessionKeys;
  private context?: Uint8Array;
  private mcv: Uint8Array = new Uint8Array(16);
  private counter = 0;
  cardInfo?: CardKeyInfo;
  private keys: StaticKeys;

  constructor(private readonly options: Scp03HostOptions) {
    this.keys = options.keys;
    this.securityLevel = options.securityLevel ?? 0x03;
    if (!VALID_SECURITY_LEVELS.has(this.securityLevel))
      throw new RangeError(
        `security level ${this.securityLevel.toString(16)} is not one of 00 01 03 11 13 33`,
      );
    this.sMode = options.sMode ?? 8;
    this.hostChallenge = options.hostChallenge ?? new Uint8Array(randomBytes(this.sMode));
    if (this.hostChallenge.length !== this.sMode)
      throw new RangeError(`the host challenge is ${this.sMode} bytes in S${this.sMode}`);
    const lengths = [options.keys.enc.length, options.keys.mac.length, options.keys.dek.length];
    if (lengths.some((l) => l !== lengths[0] || ![16, 24, 32].includes(l)))
      throw new RangeError('ENC, MAC and DEK are AES keys of one length');
  }

  /** The card's static keys for this session (diversified when asked): PUT KEY encrypts with its DEK. */
  get staticKeys(): StaticKeys {
    return this.keys;
  }

  get isOpen(): boolean {
    return this.phase === 'open';
  }

  private cla(base: number): number {
    const channel = this.options.channel ?? 0;
    return channel < 4 ? base | channel : 0xc0 | (channel - 4);
  }

  /** INITIALIZE UPDATE: `80 50 KVN 00 Lc host-challenge 00` (Amd D §7.1.1). */
  initializeUpdate(): CommandApdu {
    if (this.phase !== 'initial') throw new Scp03Error('INITIALIZE UPDATE was already sent on this session');
    this.phase = 'challenged';
    return command(this.cla(0x80), 0x50, this.options.keyVersion ?? 0, 0x00, this.hostChallenge, 256);
  }

  /** Checks the card's answer: key information, the pseudo-random challenge if asked, and the card cryptogram. */
  processInitializeUpdateResponse(data: Uint8Array): CardKeyInfo {
    if (this.phase !== 'challenged') throw new Scp03Error('no INITIALIZE UPDATE is pending');
    const s = this.sMode;
    if (data.length !== 13 + 2 * s && data.length !== 16 + 2 * s) {
      this.phase = 'closed';
      throw new Scp03Error(`INITIALIZE UPDATE answer of ${data.length} bytes does not fit S${s}`);
    }
    const info: CardKeyInfo = {
      keyDiversificationData: data.subarray(0, 10),
      keyVersion: data[10]!,
      scpIdentifier: data[11]!,
      i: data[12]!,
    };
    const cardChallenge = data.subarray(13, 13 + s);
    const cardCryptogram = data.subarray(13 + s, 13 + 2 * s);
    if (data.length === 16 + 2 * s) info.sequenceCounter = data.subarray(13 + 2 * s);
    if (info.scpIdentifier !== 0x03) {
      this.phase = 'closed';
      throw new Scp03Error(`the card answered for SCP${info.scpIdentifier.toString(16)}, not SCP03`);
    }
    if (((info.i & 0x01) === 1) !== (s === 16)) {
      this.phase = 'closed';
      throw new Scp03Error(`the card's i parameter ${info.i.toString(16)} does not match S${s} mode`);
    }
    const method = this.options.diversification ?? 'none';
    if (method !== 'none') {
      const kdd = info.keyDiversificationData;
      const master = this.options.keys;
      this.keys = {
        enc: diversifyKey(method, master.enc, kdd, 'enc'),
        mac: diversifyKey(method, master.mac, kdd, 'mac'),
        dek: diversifyKey(method, master.dek, kdd, 'dek'),
      };
    }
    if (info.sequenceCounter && this.options.sdAid) {
      const expected = pseudoRandomChallenge(this.keys.enc, info.sequenceCounter, this.options.sdAid, s);
      if (!constantTimeEqual(expected, cardChallenge)) {
        this.phase = 'closed';
        throw new Scp03Error(
          'card challenge mismatch: wrong keys or diversification (it does not derive from these keys)',
        );
      }
    }
    this.context = concatBytes(this.hostChallenge, cardChallenge);
    this.sessionKeys = deriveSessionKeys(this.keys, this.context);
    const expected = cryptogram(this.sessionKeys.sMac, DERIVATION.CARD_CRYPTOGRAM, this.context, s);
    if (!constantTimeEqual(expected, cardCryptogram)) {
      this.phase = 'closed';
      throw new Scp03Error(
        'card cryptogram mismatch: wrong keys or diversification (stop: cards count failed authentications)',
      );
    }
    if (hasLevel(this.securityLevel, SECURITY_LEVEL.R_MAC) && (info.i & 0x20) === 0) {
      this.phase = 'closed';
      throw new Scp03Error('the card does not support R-MAC (i parameter)');
    }
    if (hasLevel(this.securityLevel, SECURITY_LEVEL.R_ENCRYPTION) && (info.i & 0x40) === 0) {
      this.phase = 'closed';
      throw new Scp03Error('the card does not support R-ENCRYPTION (i parameter)');
    }
    this.cardInfo = info;
    this.phase = 'authenticating';
    return info;
  }

  /** EXTERNAL AUTHENTICATE with the host cryptogram and its C-MAC (§7.1.2); sets the MAC chaining value. */
  externalAuthenticate(): CommandApdu {
    if (this.phase !== 'authenticating' || !this.sessionKeys || !this.context)
      throw new Scp03Error('the card has not been authenticated yet');
    const hostCryptogram = cryptogram(
      this.sessionKeys.sMac,
      DERIVATION.HOST_CRYPTOGRAM,
      this.context,
      this.sMode,
    );
    const cla = this.cla(0x80);
    const mac = commandMac(
      this.sessionKeys.sMac,
      new Uint8Array(16),
      cla,
      0x82,
      this.securityLevel,
      0x00,
      2 * this.sMode,
      hostCryptogram,
    );
    this.mcv = mac;
    this.counter = 0;
    this.phase = 'open';
    return command(
      wireClass(cla),
      0x82,
      this.securityLevel,
      0x00,
      concatBytes(hostCryptogram, mac.subarray(0, this.sMode)),
    );
  }

  /** Protects a command at the session's level. */
  wrap(apdu: CommandApdu): CommandApdu {
    if (this.phase !== 'open' || !this.sessionKeys) throw new Scp03Error('the secure channel is not open');
    const level = this.securityLevel;
    if (level === 0x00) return apdu;
    if (hasLevel(level, SECURITY_LEVEL.C_DECRYPTION)) this.counter++;
    const body =
      hasLevel(level, SECURITY_LEVEL.C_DECRYPTION) && apdu.data.length > 0
        ? encryptCommandData(this.sessionKeys.sEnc, this.counter, apdu.data)
        : apdu.data;
    const lc = body.length + this.sMode;
    if (lc > 255)
      throw new FormatError(`a protected command holds at most ${255 - this.sMode - 16} data bytes`);
    const mac = commandMac(this.sessionKeys.sMac, this.mcv, apdu.cla, apdu.ins, apdu.p1, apdu.p2, lc, body);
    this.mcv = mac;
    const wrapped = command(
      wireClass(apdu.cla),
      apdu.ins,
      apdu.p1,
      apdu.p2,
      concatBytes(body, mac.subarray(0, this.sMode)),
    );
    return apdu.le === undefined ? wrapped : { ...wrapped, le: apdu.le };
  }

  /** Checks and removes R-MAC / R-ENCRYPTION. A bad R-MAC closes the session and throws. */
  unwrap(response: ResponseApdu): ResponseApdu {
    if (this.phase !== 'open' || !this.sessionKeys) throw new Scp03Error('the secure channel is not open');
    const level = this.securityLevel;
    if (!hasLevel(level, SECURITY_LEVEL.R_MAC) || !isProtectedStatus(response.sw)) return response;
    if (response.data.length < this.sMode) {
      this.phase = 'closed';
      throw new Scp03Error('response lacks its R-MAC');
    }
    const body = response.data.subarray(0, response.data.length - this.sMode);
    const expected = responseMac(this.sessionKeys.sRmac, this.mcv, body, response.sw).subarray(0, this.sMode);
    if (!constantTimeEqual(expected, response.data.subarray(body.length))) {
      this.phase = 'closed';
      throw new Scp03Error('R-MAC mismatch: the response was altered');
    }
    if (!hasLevel(level, SECURITY_LEVEL.R_ENCRYPTION) || body.length === 0)
      return { data: body, sw: response.sw };
    try {
      return { data: decryptResponseData(this.sessionKeys.sEnc, this.counter, body), sw: response.sw };
    } catch {
      this.phase = 'closed';
      throw new Scp03Error('response decryption failed');
    }
  }
}
