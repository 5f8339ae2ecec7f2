// The card's SCP80 receiving entity (ETSI TS 102 225 §5, TS 102 226; order of checks as
// spec/scp80-81.md §1.8): an SMS-PP download ENVELOPE in, concatenated parts reassembled, the TAR and
// its minimum security level checked, the key set found by KVN, the packet deciphered and verified, the
// counter checked and persisted, the script run, and the PoR returned as the ENVELOPE's response data.
import {
  type Address,
  bytesToHex,
  type ChecksumAlgorithm,
  type CipherAlgorithm,
  type CommandHeader,
  decodeCommandHeader,
  decodeCompactScript,
  decodeExpandedScript,
  decodeSmsDeliver,
  decodeSmsPpDownload,
  decodeUserDataHeader,
  encodeCompactResponse,
  encodeExpandedResponse,
  encodeResponsePacket,
  encodeSmsSubmit,
  FormatError,
  IEI_COMMAND_PACKET,
  type OtaKeys,
  OtaPacketError,
  openCommandPacket,
  PID_SIM_DATA_DOWNLOAD,
  POR_STATUS,
  requireResponseSecurity,
  SmsReassembler,
  type Spi,
  scriptFormat,
} from '@iotsafe/protocol';
import type { AppletResponse } from '../card/applet.js';
import { CardError } from '../card/card-error.js';
import type { KeySet } from '../gp/isd-state.js';
import { runRemoteScript } from './remote-script.js';

/**
 * Runs one C-APDU of a script; `level` is the packet's security in SCP terms (80 | 02 C-DEC | 01 C-MAC)
 * and `keySet` the SCP80 key set that opened it (its KIK protects keys loaded by PUT KEY).
 */
export type ScriptRunner = (apdu: Uint8Array, level: number, keySet: KeySet) => AppletResponse;

/** What a TAR leads to: a session per script (RFM starts at the MF), and the minimum security level. */
export interface OtaTarget {
  open(): ScriptRunner;
  /**
   * Minimum security level as a mask over SPI1 (TS 102 226 §8.2.1.3.2.1): b3 ciphering, b2b1 integrity
   * (01 RC, 10 CC, 11 DS), b5b4 counter. Default 16: ciphering, CC and a counter higher than the last.
   */
  minimumSecurityLevel?: number;
  /**
   * The Administration Session Triggering Parameters (GP Amd B §3.3, secured data starting 81) sent to
   * this TAR: starts an SCP81 session; returns the PoR's additional data. Absent: read as a script.
   */
  adminTrigger?: (parameters: Uint8Array, keySet: KeySet) => Uint8Array;
}

/**
 * When a PoR that a packet asks to get by SMS-SUBMIT (SPI2 b6, TS 31.115) is sent that way. Otherwise it
 * goes back in the ENVELOPE's answer (the SMS-DELIVER-REPORT), which reaches the network, not whoever a
 * forged packet names as its sender:
 * - 'authenticated' (default): for packets that passed every check (key set, CC, counter), with a
 *   cryptographic checksum (an RC authenticates nobody);
 * - 'ota-addresses': the same, and only when the sender is one of `otaAddresses`;
 * - 'never': always in the ENVELOPE's answer.
 */
export interface PorBySmsPolicy {
  policy: 'authenticated' | 'ota-addresses' | 'never';
  /** OTA server addresses (digits; a leading + is ignored) for 'ota-addresses'. */
  otaAddresses?: readonly string[];
}

export const DEFAULT_POR_BY_SMS: PorBySmsPolicy = { policy: 'authenticated' };

export interface OtaReceiverOptions {
  /** TAR (6 hex digits) → target. TAR 000000 is the ISD (RAM). */
  targets: Map<string, OtaTarget>;
  keySets: () => readonly KeySet[];
  /** Stores a new counter for a key set atomically (throws when it cannot be written). */
  commitCounter: (keySet: KeySet, counter: bigint) => void;
  /** Sends an SMS-SUBMIT (a PoR the SPI wants via SMS-SUBMIT) as a proactive SEND SHORT MESSAGE. */
  sendShortMessage?: (submitTpdu: Uint8Array) => void;
  /** Which PoRs may go by SMS-SUBMIT (DEFAULT_POR_BY_SMS when absent). */
  porBySms?: PorBySmsPolicy;
}

const digitsOf = (address: string) => address.replace(/^\+/, '');

const MAX_COUNTER = (1n << 40n) - 1n;
const KEY_KIC = 1;
const KEY_KID = 2;

const KEY_TYPE_DES = 0x80;
const KEY_TYPE_AES = 0x88;
const DES_CIPHER: Record<number, CipherAlgorithm> = { 8: 'des-cbc', 16: '3des-2key', 24: '3des-3key' };
const DES_CHECKSUM: Record<number, ChecksumAlgorithm> = {
  8: 'des-mac',
  16: '3des-2key-mac',
  24: '3des-3key-mac',
};

/**
 * A key set's KIc and KID, and the algorithms their stored key type and length make them for (GP key
 * type 88 AES; 80 DES: 8 bytes single DES, 16 two-key 3DES, 24 three-key 3DES). Packets must name
 * those (TS 102 225 §5.1.2 codes), so a packet cannot choose a weaker one.
 */
function keysOf(set: KeySet): OtaKeys {
  const key = (id: number) =>
    set.keys.find((k) => k.id === id && (k.type === KEY_TYPE_DES || k.type === KEY_TYPE_AES));
  const kic = key(KEY_KIC);
  const kid = key(KEY_KID);
  const cipher = kic && (kic.type === KEY_TYPE_AES ? 'aes-cbc' : DES_CIPHER[kic.value.length]);
  const checksum = kid && (kid.type === KEY_TYPE_AES ? 'aes-cmac' : DES_CHECKSUM[kid.value.length]);
  return {
    ...(kic && cipher ? { kic: kic.value, cipher } : {}),
    ...(kid && checksum ? { kid: kid.value, checksum } : {}),
  };
}

const INTEGRITY_RANK = { none: 0, rc: 1, cc: 2, ds: 3 } as const;
const COUNTER_RANK = { none: 0, available: 1, higher: 2, next: 3 } as const;

/** Whether the SPI meets a minimum security level (MSL) mask. */
export function meetsMinimumSecurity(spi: Spi, msl: number): boolean {
  if (msl & 0x04 && !spi.ciphered) return false;
  if (INTEGRITY_RANK[spi.integrity] < (msl & 0x03)) return false;
  return COUNTER_RANK[spi.counter] >= ((msl >> 3) & 0x03);
}

export class OtaReceiver {
  private readonly reassembler = new SmsReassembler();
  /** Refused packets, by PoR status (tests and diagnostics). */
  readonly refusals = new Map<number, number>();

  constructor(private readonly options: OtaReceiverOptions) {}

  /** ENVELOPE (SMS-PP DATA DOWNLOAD) data in; the PoR (SMS user data from 02 71 00) or nothing out. */
  receive(envelopeData: Uint8Array): Uint8Array {
    let sms: ReturnType<typeof decodeSmsDeliver>;
    try {
      sms = decodeSmsDeliver(decodeSmsPpDownload(envelopeData));
    } catch (error) {
      throw new CardError(0x6a80, `not an SMS-PP download: ${(error as Error).message}`);
    }
    if (sms.pid !== PID_SIM_DATA_DOWNLOAD || !sms.userDataHeader) return new Uint8Array(0);
    let whole: { elements: { iei: number }[]; body: Uint8Array } | undefined;
    try {
      const { elements, body } = decodeUserDataHeader(sms.userData);
      whole = this.reassembler.add(sms.originator.digits, elements, body);
    } catch (error) {
      if (error instanceof FormatError) throw new CardError(0x6a80, `bad user data header: ${error.message}`);
      throw error;
    }
    if (!whole) return new Uint8Array(0); // more parts to come
    if (!whole.elements.some((e) => e.iei === IEI_COMMAND_PACKET)) return new Uint8Array(0);
    return this.process(whole.body, sms.originator);
  }

  private process(packet: Uint8Array, originator: Address): Uint8Array {
    const { por, viaSubmit, authenticated } = this.processPacket(packet);
    // SPI2 b6 (TS 31.115): the PoR goes back in an SMS-SUBMIT to the sender, not in the ENVELOPE response
    if (por.length === 0 || !viaSubmit || !this.options.sendShortMessage) return por;
    if (!this.maySendPor(authenticated, originator)) return por;
    this.options.sendShortMessage(
      encodeSmsSubmit({
        messageReference: 0,
        destination: originator,
        pid: PID_SIM_DATA_DOWNLOAD,
        dcs: 0xf6,
        userData: por,
        userDataHeader: true,
      }),
    );
    return new Uint8Array(0);
  }

  private maySendPor(authenticated: boolean, originator: Address): boolean {
    const { policy, otaAddresses = [] } = this.options.porBySms ?? DEFAULT_POR_BY_SMS;
    if (policy === 'never' || !authenticated) return false;
    return policy === 'authenticated' || otaAddresses.some((a) => digitsOf(a) === originator.digits);
  }

  /**
   * The PoR for a packet (empty: none), whether the packet asked for it via SMS-SUBMIT, and whether it
   * passed every check (a refused packet's PoR never goes by SMS: its sender may be forged).
   */
  private processPacket(packet: Uint8Array): { por: Uint8Array; viaSubmit: boolean; authenticated: boolean } {
    let header: CommandHeader;
    try {
      header = decodeCommandHeader(packet);
    } catch (error) {
      return { por: this.refuse(error, packet.subarray(7, 10)), viaSubmit: false, authenticated: false };
    }
    const tar = bytesToHex(header.tar);
    const viaSubmit = header.spi.porViaSubmit;
    let authenticated = false;
    const answer = (por: Uint8Array) => ({ por, viaSubmit, authenticated });
    try {
      const target = this.options.targets.get(tar);
      if (!target) throw new OtaPacketError(POR_STATUS.tarUnknown, `no application has TAR ${tar}`);
      if (!meetsMinimumSecurity(header.spi, target.minimumSecurityLevel ?? 0x16))
        throw new OtaPacketError(
          POR_STATUS.insufficientSecurityLevel,
          `TAR ${tar} needs a higher security level`,
        );
      const keySet = this.keySetFor(header);
      const keys = keysOf(keySet);
      const opened = openCommandPacket(packet, keys);
      requireResponseSecurity({ spi: header.spi, kic: header.kic, kid: header.kid }, keys);
      this.checkCounter(header.spi, keySet, opened.counter);
      // SPI b5b4 = 01 checks nothing, and must not lower the counter the other modes check against
      if (header.spi.counter !== 'none' && opened.counter > (keySet.otaCounter ?? 0n))
        this.options.commitCounter(keySet, opened.counter);
      const level =
        0x80 |
        (opened.spi.ciphered ? 0x02 : 0) |
        (opened.spi.integrity === 'cc' || opened.spi.integrity === 'ds' ? 0x01 : 0);
      // Passed every check, and carried a cryptographic checksum: an RC (a CRC) authenticates nobody.
      authenticated = (level & 0x01) !== 0;
      const data = this.runScript(target, opened.data, level, keySet);
      if (header.spi.por !== 'always') return answer(new Uint8Array(0));
      return answer(
        encodeResponsePacket(
          { tar: header.tar, counter: opened.counter, status: POR_STATUS.ok, data },
          { spi: header.spi, kic: header.kic, kid: header.kid },
          keys,
        ),
      );
    } catch (error) {
      if (header.spi.por === 'none') {
        this.count(error);
        return answer(new Uint8Array(0));
      }
      return answer(this.refuse(error, header.tar));
    }
  }

  private keySetFor(header: CommandHeader): KeySet {
    const kvn = header.kic >> 4;
    if (kvn !== header.kid >> 4)
      throw new OtaPacketError(POR_STATUS.unidentifiedSecurityError, 'KIc and KID name different key sets');
    const set = this.options
      .keySets()
      .find((s) => s.keyVersion === kvn && s.keys.some((k) => k.id === KEY_KIC || k.id === KEY_KID));
    if (!set)
      throw new OtaPacketError(POR_STATUS.unidentifiedSecurityError, `no SCP80 key set with KVN ${kvn}`);
    return set;
  }

  // TS 102 225 §5.1.1 (SPI1 b5b4): 10 greater than the stored value, 11 exactly one more.
  private checkCounter(spi: Spi, keySet: KeySet, received: bigint): void {
    if (spi.counter === 'none' || spi.counter === 'available') return;
    const stored = keySet.otaCounter ?? 0n;
    if (stored >= MAX_COUNTER)
      throw new OtaPacketError(POR_STATUS.counterBlocked, 'the counter reached its maximum');
    if (received <= stored)
      throw new OtaPacketError(POR_STATUS.counterLow, 'the counter is not above the last one');
    if (spi.counter === 'next' && received !== stored + 1n)
      throw new OtaPacketError(POR_STATUS.counterHigh, 'the counter is more than one above the last one');
  }

  /** Runs the script; the PoR's additional data is the compact or expanded response. */
  private runScript(target: OtaTarget, data: Uint8Array, level: number, keySet: KeySet): Uint8Array {
    const format = scriptFormat(data);
    if (format === 'admin-trigger' && target.adminTrigger) return target.adminTrigger(data, keySet);
    const expanded = format === 'expanded';
    let commands: Uint8Array[];
    try {
      commands = expanded ? decodeExpandedScript(data) : decodeCompactScript(data);
    } catch {
      return expanded
        ? encodeExpandedResponse({ executed: 0, responses: [], badFormat: 0x01 })
        : encodeCompactResponse({ executed: 0, sw: 0x6700, data: new Uint8Array(0) });
    }
    const run = target.open();
    const { executed, responses, last } = runRemoteScript(commands, (command) => run(command, level, keySet));
    return expanded
      ? encodeExpandedResponse({ executed, responses })
      : encodeCompactResponse({ executed, sw: last.sw, data: last.data });
  }

  private count(error: unknown): number {
    const status = error instanceof OtaPacketError ? error.status : POR_STATUS.unidentifiedSecurityError;
    if (!(error instanceof OtaPacketError) && !(error instanceof FormatError)) throw error;
    this.refusals.set(status, (this.refusals.get(status) ?? 0) + 1);
    return status;
  }

  /** An error PoR, sent without security (RHL 0A) as real cards do (spec §2.2): nothing was executed. */
  private refuse(error: unknown, tar: Uint8Array): Uint8Array {
    const status = this.count(error);
    const unsecured: Spi = {
      counter: 'none',
      ciphered: false,
      integrity: 'none',
      por: 'always',
      porIntegrity: 'none',
      porCiphered: false,
      porViaSubmit: false,
    };
    const target = tar.length === 3 ? tar : new Uint8Array(3);
    return encodeResponsePacket(
      { tar: target, counter: 0n, status, data: new Uint8Array(0) },
      { spi: unsecured, kic: 0, kid: 0 },
      {},
    );
  }
}
