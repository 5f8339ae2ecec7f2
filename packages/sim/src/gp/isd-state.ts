// What the Issuer Security Domain keeps (GPCS §5, §11): key sets with their sequence counters, the
// card life cycle, identification data, and the registry of applications.
import type { StaticKeys } from '@iotsafe/protocol';
import type { AdminParameters } from '../scp81/parameters.js';

/** A key as GP stores it: key identifier, key type (GPCS Table 11-16) and value. */
export interface CardKey {
  id: number;
  type: number;
  value: Uint8Array;
}

export interface KeySet {
  keyVersion: number;
  /** SCP03 i parameter of this key set (Amd D Table 5-1); 70 = pseudo-random challenge, R-MAC, R-ENC. */
  i: number;
  /** SCP03: KIDs 1–3 AES (ENC, MAC, DEK); SCP80: KIc, KID, KIK (DES or AES); SCP81: 1 TLS-PSK, 2 DEK. */
  keys: CardKey[];
  /** Pseudo-random challenge sequence counter: 0 when the set is created, +1 before each use (§6.2.2.1). */
  sequenceCounter: number;
  /** SCP80: the last counter (CNTR) accepted with this key set (TS 102 225 §5.1.1); never goes back. */
  otaCounter?: bigint;
}

const AES = 0x88;

/** The SCP03 static keys of a set: KIDs 1, 2, 3 as AES keys of one length; undefined for other sets. */
export function scp03Keys(set: KeySet): StaticKeys | undefined {
  const [enc, mac, dek] = [1, 2, 3].map((id) => set.keys.find((k) => k.id === id && k.type === AES)?.value);
  if (!enc || !mac || !dek || enc.length !== mac.length || enc.length !== dek.length) return undefined;
  return { enc, mac, dek };
}

export function scp03KeySet(keyVersion: number, i: number, keys: StaticKeys): KeySet {
  return {
    keyVersion,
    i,
    sequenceCounter: 0,
    keys: [
      { id: 1, type: AES, value: keys.enc },
      { id: 2, type: AES, value: keys.mac },
      { id: 3, type: AES, value: keys.dek },
    ],
  };
}

/**
 * An SCP80 key set (TS 102 225 §5.1.2): KIc, KID and optionally KIK as key identifiers 1, 2, 3, AES
 * unless `type` says otherwise (GPCS Table 11-16: 0x80 DES, 0x88 AES). What PUT KEY over SCP03 loads.
 */
export function scp80KeySet(
  keyVersion: number,
  keys: { kic: Uint8Array; kid: Uint8Array; kik?: Uint8Array },
  type = AES,
): KeySet {
  return {
    keyVersion,
    i: 0,
    sequenceCounter: 0,
    keys: [
      { id: 1, type, value: keys.kic },
      { id: 2, type, value: keys.kid },
      ...(keys.kik ? [{ id: 3, type, value: keys.kik }] : []),
    ],
  };
}

/** Card life cycle states (GPCS §5.1.1, SET STATUS P2). */
export const CARD_LIFE_CYCLE = {
  OP_READY: 0x01,
  INITIALIZED: 0x07,
  SECURED: 0x0f,
  CARD_LOCKED: 0x7f,
  TERMINATED: 0xff,
} as const;
/** Application life cycle (GPCS §5.3): INSTALLED 03, SELECTABLE 07; b8 set = LOCKED. */
export const APP_LIFE_CYCLE = { INSTALLED: 0x03, SELECTABLE: 0x07, LOCKED_BIT: 0x80 } as const;

export interface RegistryEntry {
  aid: Uint8Array;
  lifeCycle: number;
  privileges: Uint8Array;
}

export interface IsdState {
  keySets: KeySet[];
  lifeCycle: number;
  /** Key diversification data returned by INITIALIZE UPDATE (10 bytes). */
  keyDiversificationData: Uint8Array;
  /** Card Production Life Cycle data, GET DATA 9F7F (42 bytes). */
  cplc: Uint8Array;
  /** The IoT SAFE applet instance, when installed. */
  application?: RegistryEntry;
  /** The HTTP administration parameters SCP81 sessions use by default (GP Amd B §3.3, `81 00`). */
  adminParameters?: AdminParameters;
}

/**
 * An SCP81 key set (GP Amd B): key 1 the TLS-PSK (key type 85), key 2 the DEK that protects keys
 * PUT KEY loads over the session (AES). KVN 40..4F.
 */
export function scp81KeySet(keyVersion: number, keys: { psk: Uint8Array; dek?: Uint8Array }): KeySet {
  return {
    keyVersion,
    i: 0,
    sequenceCounter: 0,
    keys: [
      { id: 1, type: 0x85, value: keys.psk },
      ...(keys.dek ? [{ id: 2, type: AES, value: keys.dek }] : []),
    ],
  };
}

export const ISD_AID = Uint8Array.of(0xa0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00);
/** The load file and module of the IoT SAFE applet this card carries (its instance is IOTSAFE_AID). */
export const IOTSAFE_LOAD_FILE_AID = Uint8Array.of(0xa0, 0x00, 0x00, 0x05, 0x59, 0x00);
export const IOTSAFE_MODULE_AID = Uint8Array.of(0xa0, 0x00, 0x00, 0x05, 0x59, 0x00, 0x10, 0x01);
