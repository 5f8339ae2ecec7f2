// A virtual handset of the test network: it turns an SMS into an SMS-DELIVER and gives it to its card
// in an ENVELOPE (SMS-PP data download) only when it is PID 7F and class 2 (TS 31.111 §7.1.1);
// anything else goes to its inbox, as on a real phone. The PoR the card answers goes back to the
// SMSC, as a real handset's DELIVER-REPORT would; a PoR the card sends as a proactive SEND SHORT
// MESSAGE (SPI2 b6) is fetched and sent on as a mobile-originated SMS. It may be faulty: off, slow,
// or losing PoRs.
import {
  decodeSendShortMessage,
  decodeSmsSubmit,
  encodeSmsDeliver,
  encodeSmsPpDownload,
  parseResponseApdu,
  reachesSim,
  TOA_UNKNOWN_ISDN,
  toaOf,
} from '@iotsafe/protocol';
import { ESM_CLASS_UDHI } from '../smpp-pdu.js';
import type { SubmitRecord } from './records.js';

/** What a handset needs of its SIM: the card's transmit (a VirtualSim's `card`, or a reader). */
export interface HandsetCard {
  transmit(command: Uint8Array): Uint8Array;
}

/**
 * How a handset misbehaves: 'off' (the SMSC takes the SMS, the handset never gets it), 'slow' (it
 * reaches the card after `delayMs`), 'lose-por' (the card runs the script, its PoR is lost; the first
 * `count` only when given).
 */
export type HandsetFault =
  | { kind: 'off' }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'lose-por'; count?: number };

/** What the handset tells the network (its counters, and the PoRs to send back). */
export interface HandsetEvents {
  /** The SMS never reached the handset (it is off). */
  unreachable(): void;
  /** The SMS went to the inbox: not PID 7F with a class 2 DCS. */
  toInbox(): void;
  /** The SMS reached the card. */
  toCard(): void;
  porLost(): void;
  /** A PoR to send back to the submitter of `sms`. */
  por(sms: SubmitRecord, userData: Uint8Array): void;
}

// TERMINAL RESPONSE to SEND SHORT MESSAGE: command performed successfully (TS 102 223 §6.8)
const TERMINAL_RESPONSE_OK = Uint8Array.of(
  0x80,
  0x14,
  0,
  0,
  0x0c,
  0x81,
  0x03,
  0x01,
  0x13,
  0x00,
  0x82,
  0x02,
  0x82,
  0x81,
  0x83,
  0x01,
  0x00,
);

export class Handset {
  /** PoRs lost so far (lose-por with a count). */
  private lost = 0;

  constructor(
    private readonly card: HandsetCard,
    private readonly events: HandsetEvents,
    readonly fault?: HandsetFault,
  ) {}

  /** An SMS the SMSC delivers to this handset. */
  receive(sms: SubmitRecord): void {
    if (this.fault?.kind === 'off') {
      this.events.unreachable();
      return;
    }
    if (this.fault?.kind === 'slow') {
      // same delay for each of its SMS: timers keep their order
      setTimeout(() => this.toCard(sms), this.fault.delayMs).unref();
      return;
    }
    this.toCard(sms);
  }

  private toCard(sms: SubmitRecord): void {
    if (!reachesSim(sms.protocolId, sms.dcs)) {
      this.events.toInbox();
      return;
    }
    const digits = sms.sourceAddr.replace(/\D/g, '').slice(0, 20);
    const tpdu = encodeSmsDeliver({
      originator: {
        digits,
        toa: digits === sms.sourceAddr ? toaOf(sms.sourceTon, sms.sourceNpi) : TOA_UNKNOWN_ISDN,
      },
      pid: sms.protocolId,
      dcs: sms.dcs,
      timestamp: Uint8Array.of(0x62, 0x11, 0x82, 0x00, 0x00, 0x00, 0x00),
      userData: sms.userData,
      userDataHeader: (sms.esmClass & ESM_CLASS_UDHI) !== 0,
    });
    let answer = parseResponseApdu(this.card.transmit(encodeSmsPpDownload(tpdu)));
    if (answer.sw >> 8 === 0x61)
      answer = parseResponseApdu(this.card.transmit(Uint8Array.of(0x00, 0xc0, 0, 0, answer.sw & 0xff)));
    this.events.toCard();
    // 91xx with response data: the data is the PoR, for the RP-ACK (TS 31.111 §7.1.1.1); the pending
    // proactive command (an OPEN CHANNEL after an admin trigger…) is the terminal's to fetch, not ours
    if (answer.sw >> 8 === 0x91 && answer.data.length === 0) {
      this.fetchShortMessage(sms, answer.sw & 0xff);
      return;
    }
    if (answer.data.length === 0) return;
    this.returnPor(sms, answer.data);
  }

  // 91xx: the card has a proactive command. SEND SHORT MESSAGE carries a PoR as a mobile-originated SMS.
  private fetchShortMessage(sms: SubmitRecord, length: number): void {
    const fetched = parseResponseApdu(this.card.transmit(Uint8Array.of(0x80, 0x12, 0, 0, length)));
    let userData: Uint8Array;
    try {
      userData = decodeSmsSubmit(decodeSendShortMessage(fetched.data)).userData;
    } catch {
      userData = new Uint8Array(0); // another proactive command: the handset has nothing to send
    }
    this.card.transmit(TERMINAL_RESPONSE_OK);
    if (userData.length) this.returnPor(sms, userData);
  }

  private returnPor(sms: SubmitRecord, userData: Uint8Array): void {
    const fault = this.fault;
    if (fault?.kind === 'lose-por' && (fault.count === undefined || this.lost < fault.count)) {
      this.lost++;
      this.events.porLost();
      return;
    }
    this.events.por(sms, userData);
  }
}
