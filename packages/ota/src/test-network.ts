// A local network for OTA without an operator: an SMSC (SMPP 3.4 server on 127.0.0.1) that checks each
// PDU as a strict SMSC does and answers with the command_status SMPP 3.4 gives, then routes each
// submit_sm to a virtual handset by MSISDN. The handset turns it into an SMS-DELIVER and gives it to its
// card in an ENVELOPE (SMS-PP data download) only when it is PID 7F and class 2 (TS 31.111 §7.1.1);
// anything else goes to the handset's inbox, as on a real phone. The PoR the card answers comes back to
// the server as a deliver_sm, as a real handset's DELIVER-REPORT would reach the SMSC; a PoR the card
// sends as a proactive SEND SHORT MESSAGE (SPI2 b6) is fetched and sent on as a mobile-originated SMS.
// Mobile-originated messages wait in a queue until a bound ESME acknowledges them (store and forward).
// Faults for tests: a dropped connection around a submit_sm, an SMSC that stops answering, a submit
// rate limit answered with ESME_RTHROTTLED, a full queue, and handsets that are off, slow or lose PoRs.
// A PoR longer than one SMS goes back as concatenated parts (TS 23.040 §9.2.3.24.1).
import type { AddressInfo } from 'node:net';
import {
  concatBytes,
  decodeSendShortMessage,
  decodeSmsSubmit,
  encodeSmsDeliver,
  encodeSmsPpDownload,
  encodeUserDataHeader,
  IEI_CONCATENATED_8BIT,
  IEI_RESPONSE_PACKET,
  parseResponseApdu,
  reachesSim,
  TOA_UNKNOWN_ISDN,
  toaOf,
} from '@iotsafe/protocol';
import smpp from 'smpp';
import { ESM_CLASS_UDHI, ESME, refusalOf, SMPP_INTERFACE_VERSION_34, shortMessageOf } from './smpp-pdu.js';
import { checkBind, checkSubmitSm, type DataCodingPolicy, deliveredDcs } from './smsc-checks.js';

/** What a handset needs of its SIM: the card's transmit (a VirtualSim's `card`, or a reader). */
export interface HandsetCard {
  transmit(command: Uint8Array): Uint8Array;
}

export interface TestNetworkOptions {
  systemId?: string;
  password?: string;
  /** SMPP port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** How data_coding is read (default 'smpp34', the SMPP 3.4 table). */
  dataCoding?: DataCodingPolicy;
  /** submit_sm accepted per second over all binds (a token bucket); beyond it ESME_RTHROTTLED. */
  maxSubmitsPerSecond?: number;
  /** Tokens the bucket holds (default: one second's worth). */
  throttleBurst?: number;
  /** Keep every accepted submit in `submits` (default true; a bench over many SMS turns it off). */
  recordSubmits?: boolean;
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

export interface BindRecord {
  command: string;
  interfaceVersion: unknown;
  systemId: unknown;
  status: number;
}

/** A submit_sm the SMSC accepted. */
export interface SubmitRecord {
  messageId: string;
  sourceAddr: string;
  sourceTon: number;
  sourceNpi: number;
  destinationAddr: string;
  destTon: number;
  destNpi: number;
  esmClass: number;
  protocolId: number;
  dataCoding: number;
  /** The TP-DCS of the SMS-DELIVER the handset got. */
  dcs: number;
  userData: Uint8Array;
}

/**
 * Ways to break the connection around the next submit_sm: 'drop-unseen' before the SMSC takes it,
 * 'drop-before-response' after it took (and delivered) it but before the submit_sm_resp, and
 * 'drop-after-response' just after the submit_sm_resp.
 */
export type SubmitFault = 'drop-unseen' | 'drop-before-response' | 'drop-after-response';

interface SessionState {
  bound?: 'transmitter' | 'receiver' | 'transceiver';
  silent: boolean;
}

interface MobileOriginated {
  fields: Record<string, unknown>;
  session?: smpp.Session;
}

interface Handset {
  card: HandsetCard;
  fault?: HandsetFault;
  /** PoRs lost so far (lose-por with a count). */
  lost: number;
}

/** The user data of the SMS a PoR takes: one, or concatenated parts with the RPI in the first. */
export function responsePacketUserData(userData: Uint8Array, reference: number): Uint8Array[] {
  if (userData.length <= 140) return [userData];
  const packet = userData.subarray(3); // after UDHL 02, IEI 71, length 00
  const concat = (total: number, n: number) => ({
    iei: IEI_CONCATENATED_8BIT,
    data: Uint8Array.of(reference & 0xff, total, n),
  });
  const rpi = { iei: IEI_RESPONSE_PACKET, data: new Uint8Array(0) };
  const pieces: Uint8Array[] = [];
  for (let at = 0, first = true; at < packet.length; first = false) {
    const room = 140 - encodeUserDataHeader(first ? [concat(1, 1), rpi] : [concat(1, 1)]).length;
    pieces.push(packet.subarray(at, at + room));
    at += room;
  }
  return pieces.map((piece, n) =>
    concatBytes(
      encodeUserDataHeader(n === 0 ? [concat(pieces.length, 1), rpi] : [concat(pieces.length, n + 1)]),
      piece,
    ),
  );
}

const BIND_MODES = {
  bind_transmitter: 'transmitter',
  bind_receiver: 'receiver',
  bind_transceiver: 'transceiver',
} as const;

export class TestNetwork {
  private readonly handsets = new Map<string, Handset>();
  private tokens: number;
  private refilledAt = performance.now();
  private refuseNext: { status: number; count: number } | undefined;
  private porReference = 0;
  private nextReceiver = 0;
  private readonly sessions = new Map<smpp.Session, SessionState>();
  private readonly outbox: MobileOriginated[] = [];
  private nextFault: { fault: SubmitFault; skip: number } | undefined;
  private messageIds = 0;
  readonly binds: BindRecord[] = [];
  readonly submits: SubmitRecord[] = [];
  /** submit_sm refused, by command_status. */
  readonly refused: number[] = [];
  /** SMS the SMSC could not deliver (no handset with that MSISDN). */
  undelivered = 0;
  /** SMS a handset kept in its inbox: not PID 7F with a class 2 DCS, so never given to the SIM. */
  inbox = 0;
  /** SMS delivered to cards, and PoRs sent back. */
  delivered = 0;
  porsReturned = 0;
  enquireLinks = 0;
  /** submit_sm accepted (also when not recorded), refused for the rate, PoRs a handset lost. */
  accepted = 0;
  throttled = 0;
  porsLost = 0;
  /** When each accepted submit_sm came (performance.now(), ms): the pacing a bench measures. */
  readonly acceptedAt: number[] = [];

  private constructor(
    private readonly server: smpp.Server,
    readonly port: number,
    private readonly options: TestNetworkOptions &
      Required<Pick<TestNetworkOptions, 'systemId' | 'password' | 'dataCoding'>>,
  ) {
    this.tokens = this.burst;
  }

  private get burst(): number {
    return this.options.throttleBurst ?? this.options.maxSubmitsPerSecond ?? 0;
  }

  // A token bucket of maxSubmitsPerSecond, holding `burst` tokens.
  private takeToken(): boolean {
    const rate = this.options.maxSubmitsPerSecond;
    if (!rate) return true;
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * rate) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** The next `count` submit_sm are refused with `status` (e.g. ESME_RMSGQFUL), before any check. */
  refuseSubmits(status: number, count = 1): void {
    this.refuseNext = { status, count };
  }

  static async start(options: TestNetworkOptions = {}): Promise<TestNetwork> {
    const settings = {
      ...options,
      systemId: options.systemId ?? 'iotsafe',
      password: options.password ?? 'iotsafe',
      dataCoding: options.dataCoding ?? 'smpp34',
    };
    let network: TestNetwork | undefined;
    const server = smpp.createServer((session) => network?.open(session));
    await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', () => resolve()));
    network = new TestNetwork(server, (server.address() as AddressInfo).port, settings);
    return network;
  }

  /** Puts a SIM in a handset reachable at `msisdn`, optionally a faulty one. */
  attach(msisdn: string, card: HandsetCard, fault?: HandsetFault): void {
    this.handsets.set(msisdn, { card, lost: 0, ...(fault ? { fault } : {}) });
  }

  detach(msisdn: string): void {
    this.handsets.delete(msisdn);
  }

  /** Breaks the connection around a coming submit_sm, once: the next one, or the one after `skip` more. */
  failNextSubmit(fault: SubmitFault, skip = 0): void {
    this.nextFault = { fault, skip };
  }

  /** The sessions open now stop answering anything (a hung SMSC); sessions bound later answer. */
  silence(): void {
    for (const state of this.sessions.values()) state.silent = true;
  }

  /** Closes every ESME connection, as an SMSC restart would. */
  dropSessions(): void {
    for (const session of this.sessions.keys()) session.destroy();
  }

  /** ESME connections open now. */
  get connections(): number {
    return this.sessions.size;
  }

  private open(session: smpp.Session): void {
    this.sessions.set(session, { silent: false });
    session.socket.setNoDelay(true); // one small PDU each way: Nagle would add ~40 ms per hop
    // a PDU the library cannot read leaves its reader stuck: say so (SMPP 3.4 §2.10) and hang up
    session.on('error', () => {
      if (session.socket.writable)
        session.send(new smpp.PDU('generic_nack', { command_status: ESME.RINVCMDLEN }));
      session.destroy();
    });
    session.socket.on('close', () => {
      this.sessions.delete(session);
      for (const message of this.outbox) if (message.session === session) delete message.session;
    });
    session.on('pdu', (pdu: smpp.Pdu) => {
      try {
        this.handle(session, pdu);
      } catch {
        // inside the library's reader: a fault here ends this session, never the process
        session.send(
          new smpp.PDU('generic_nack', {
            command_status: ESME.RSYSERR,
            sequence_number: pdu.sequence_number,
          }),
        );
        session.destroy();
      }
    });
  }

  private handle(session: smpp.Session, pdu: smpp.Pdu): void {
    const state = this.sessions.get(session);
    if (!state || state.silent) return;
    if (pdu.isResponse()) return; // deliver_sm_resp: matched by the library's callbacks
    if (pdu.command in BIND_MODES) {
      this.bind(session, state, pdu);
      return;
    }
    switch (pdu.command) {
      case 'enquire_link':
        this.enquireLinks++;
        session.send(pdu.response());
        return;
      case 'unbind':
        session.send(pdu.response(), undefined, () => session.close());
        delete state.bound;
        return;
      case 'submit_sm':
        this.submit(session, state, pdu);
        return;
      default: // not offered by this SMSC
        session.send(refusalOf(pdu));
    }
  }

  private bind(session: smpp.Session, state: SessionState, pdu: smpp.Pdu): void {
    let status = checkBind(pdu);
    if (status === ESME.ROK && state.bound) status = ESME.RALYBND;
    if (status === ESME.ROK && pdu.system_id !== this.options.systemId) status = ESME.RINVSYSID;
    if (status === ESME.ROK && pdu.password !== this.options.password) status = ESME.RINVPASWD;
    this.binds.push({
      command: pdu.command,
      interfaceVersion: pdu.interface_version,
      systemId: pdu.system_id,
      status,
    });
    if (status !== ESME.ROK) {
      session.send(pdu.response({ command_status: status }));
      return;
    }
    state.bound = BIND_MODES[pdu.command as keyof typeof BIND_MODES];
    // sc_interface_version (SMPP 3.4 §5.3.2.25): the version this SMSC speaks
    session.send(
      pdu.response({ system_id: 'iotsafe-smsc', sc_interface_version: SMPP_INTERFACE_VERSION_34 }),
    );
    this.flushOutbox();
  }

  private submit(session: smpp.Session, state: SessionState, pdu: smpp.Pdu): void {
    let fault: SubmitFault | undefined;
    if (this.nextFault && this.nextFault.skip-- === 0) {
      fault = this.nextFault.fault;
      this.nextFault = undefined;
    }
    if (fault === 'drop-unseen') {
      session.destroy();
      return;
    }
    let status: number =
      state.bound === 'transmitter' || state.bound === 'transceiver' ? ESME.ROK : ESME.RINVBNDSTS;
    if (status === ESME.ROK && this.refuseNext) {
      status = this.refuseNext.status;
      if (--this.refuseNext.count <= 0) this.refuseNext = undefined;
    }
    if (status === ESME.ROK) status = checkSubmitSm(pdu, this.options.dataCoding);
    if (status === ESME.ROK && !this.takeToken()) {
      status = ESME.RTHROTTLED;
      this.throttled++;
    }
    if (status !== ESME.ROK) {
      this.refused.push(status);
      session.send(pdu.response({ command_status: status }));
      return;
    }
    this.accepted++;
    this.acceptedAt.push(performance.now());
    const dataCoding = pdu.data_coding as number;
    const record: SubmitRecord = {
      messageId: `m${++this.messageIds}`,
      sourceAddr: pdu.source_addr as string,
      sourceTon: pdu.source_addr_ton as number,
      sourceNpi: pdu.source_addr_npi as number,
      destinationAddr: pdu.destination_addr as string,
      destTon: pdu.dest_addr_ton as number,
      destNpi: pdu.dest_addr_npi as number,
      esmClass: pdu.esm_class as number,
      protocolId: pdu.protocol_id as number,
      dataCoding,
      dcs: deliveredDcs(dataCoding, this.options.dataCoding, pdu.dest_addr_subunit as number | undefined),
      userData: new Uint8Array(shortMessageOf(pdu)),
    };
    if (this.options.recordSubmits !== false) this.submits.push(record);
    if (fault === 'drop-before-response') {
      this.deliver(record);
      session.destroy();
      return;
    }
    session.send(pdu.response({ message_id: record.messageId }));
    if (fault === 'drop-after-response') session.destroy();
    this.deliver(record);
  }

  // The handset: SMS-DELIVER → ENVELOPE → card; a PoR in the response goes back as a deliver_sm.
  private deliver(sms: SubmitRecord): void {
    const handset = this.handsets.get(sms.destinationAddr);
    if (!handset || handset.fault?.kind === 'off') {
      this.undelivered++;
      return;
    }
    if (handset.fault?.kind === 'slow') {
      // same delay for each of its SMS: timers keep their order
      setTimeout(() => this.deliverNow(sms, handset), handset.fault.delayMs).unref();
      return;
    }
    this.deliverNow(sms, handset);
  }

  private deliverNow(sms: SubmitRecord, handset: Handset): void {
    const card = handset.card;
    if (!reachesSim(sms.protocolId, sms.dcs)) {
      this.inbox++;
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
    let answer = parseResponseApdu(card.transmit(encodeSmsPpDownload(tpdu)));
    if (answer.sw >> 8 === 0x61)
      answer = parseResponseApdu(card.transmit(Uint8Array.of(0x00, 0xc0, 0, 0, answer.sw & 0xff)));
    this.delivered++;
    if (answer.sw >> 8 === 0x91) {
      this.fetchShortMessage(handset, sms, answer.sw & 0xff);
      return;
    }
    if (answer.data.length === 0) return;
    this.returnPor(sms, answer.data, handset);
  }

  // 91xx: the card has a proactive command. SEND SHORT MESSAGE carries a PoR as a mobile-originated SMS.
  private fetchShortMessage(handset: Handset, sms: SubmitRecord, length: number): void {
    const card = handset.card;
    const fetched = parseResponseApdu(card.transmit(Uint8Array.of(0x80, 0x12, 0, 0, length)));
    let userData: Uint8Array;
    try {
      userData = decodeSmsSubmit(decodeSendShortMessage(fetched.data)).userData;
    } catch {
      userData = new Uint8Array(0); // another proactive command: the handset has nothing to send
    }
    // TERMINAL RESPONSE: command performed successfully (TS 102 223 §6.8)
    card.transmit(
      Uint8Array.of(
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
      ),
    );
    if (userData.length) this.returnPor(sms, userData, handset);
  }

  // The PoR goes from the handset back to the submitter, with the PID and DCS of the SMS it answers.
  private returnPor(sms: SubmitRecord, userData: Uint8Array, handset: Handset): void {
    const fault = handset.fault;
    if (fault?.kind === 'lose-por' && (fault.count === undefined || handset.lost < fault.count)) {
      handset.lost++;
      this.porsLost++;
      return;
    }
    this.porsReturned++;
    const reference = ++this.porReference & 0xff;
    for (const part of responsePacketUserData(userData, reference))
      this.outbox.push({
        fields: {
          source_addr_ton: sms.destTon,
          source_addr_npi: sms.destNpi,
          source_addr: sms.destinationAddr,
          dest_addr_ton: sms.sourceTon,
          dest_addr_npi: sms.sourceNpi,
          destination_addr: sms.sourceAddr,
          esm_class: ESM_CLASS_UDHI,
          protocol_id: sms.protocolId,
          data_coding: sms.dcs,
          short_message: Buffer.from(part),
        },
      });
    this.flushOutbox();
  }

  // Each waiting message to a bound receiver, kept until its deliver_sm_resp (resent after a drop).
  private flushOutbox(): void {
    for (const message of this.outbox) {
      if (message.session) continue;
      const receivers = [...this.sessions].filter(
        ([session, state]) =>
          !state.silent &&
          (state.bound === 'receiver' || state.bound === 'transceiver') &&
          session.socket.writable,
      );
      if (receivers.length === 0) return;
      const receiver = receivers[this.nextReceiver++ % receivers.length]![0]; // round robin over binds
      message.session = receiver;
      receiver.send(new smpp.PDU('deliver_sm', message.fields), (response) => {
        if (response.command_status !== ESME.ROK) {
          // refused for now (ESME_RX_T_APPN…): offered again shortly, as an SMSC retries
          setTimeout(() => {
            delete message.session;
            this.flushOutbox();
          }, 100).unref();
          return;
        }
        this.outbox.splice(this.outbox.indexOf(message), 1);
      });
    }
  }

  /** Mobile-originated messages not yet acknowledged by an ESME. */
  get waitingMessages(): number {
    return this.outbox.length;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      for (const session of this.sessions.keys()) session.destroy();
      this.server.close(() => resolve());
    });
  }
}
