// A local network for OTA without an operator: an SMSC (SMPP 3.4 server on 127.0.0.1) that checks each
// PDU as a strict SMSC does and answers with the command_status SMPP 3.4 gives, then routes each
// submit_sm to a virtual handset by MSISDN (handset.ts), and sends the PoRs handsets give back to a
// bound ESME as deliver_sm (concatenated parts when long: concatenated-por.ts). Mobile-originated
// messages wait in a queue until a bound ESME acknowledges them (store and forward).
// Faults for tests: a dropped connection around a submit_sm, an SMSC that stops answering, a submit
// rate limit answered with ESME_RTHROTTLED (token-bucket.ts), a full queue, and faulty handsets.
import type { AddressInfo } from 'node:net';
import smpp from 'smpp';
import { ESM_CLASS_UDHI, ESME, refusalOf, SMPP_INTERFACE_VERSION_34, shortMessageOf } from '../smpp-pdu.js';
import { checkBind, checkSubmitSm, type DataCodingPolicy, deliveredDcs } from '../smsc-checks.js';
import { responsePacketUserData } from './concatenated-por.js';
import { Handset, type HandsetCard, type HandsetEvents, type HandsetFault } from './handset.js';
import type { BindRecord, SubmitFault, SubmitRecord } from './records.js';
import { TokenBucket } from './token-bucket.js';

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
  /** How long each SMS takes through the network, both ways (see TestNetwork.deliveryDelayMs). */
  deliveryDelayMs?: DeliveryDelay;
}

/** Milliseconds, fixed or drawn for each SMS (a draw may reorder the parts of a concatenated SMS). */
export type DeliveryDelay = number | (() => number);

interface SessionState {
  bound?: 'transmitter' | 'receiver' | 'transceiver';
  silent: boolean;
}

interface MobileOriginated {
  fields: Record<string, unknown>;
  session?: smpp.Session;
}

const BIND_MODES = {
  bind_transmitter: 'transmitter',
  bind_receiver: 'receiver',
  bind_transceiver: 'transceiver',
} as const;

export class TestNetwork {
  private readonly handsets = new Map<string, Handset>();
  private readonly bucket: TokenBucket;
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
  /**
   * The store-and-forward time of each SMS (the SMSC forwards what it accepted, TS 23.040): after
   * submit_sm_resp, before the handset gets it; and from the handset's PoR to its deliver_sm. 0, the
   * default, delivers at once, in the same turn as the submit; real networks take seconds (2–5 s).
   */
  deliveryDelayMs: DeliveryDelay;
  /** SMS on their way (a delivery delay), cleared by stop(). */
  private readonly inTransit = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: smpp.Server,
    readonly port: number,
    private readonly options: TestNetworkOptions &
      Required<Pick<TestNetworkOptions, 'systemId' | 'password' | 'dataCoding'>>,
  ) {
    this.bucket = new TokenBucket(options.maxSubmitsPerSecond, options.throttleBurst);
    this.deliveryDelayMs = options.deliveryDelayMs ?? 0;
  }

  /** Runs `forward` after the delivery delay, or at once when there is none. */
  private inTransitFor(forward: () => void): void {
    const delay = this.deliveryDelayMs;
    const ms = typeof delay === 'number' ? delay : delay();
    if (!(ms > 0)) {
      forward();
      return;
    }
    const timer = setTimeout(() => {
      this.inTransit.delete(timer);
      forward();
    }, ms);
    this.inTransit.add(timer);
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
    this.handsets.set(msisdn, new Handset(card, this.handsetEvents, fault));
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
      this.flushOutbox(); // to another bind, as a real SMSC redelivers what a lost one never acknowledged
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
    if (status === ESME.ROK && !this.bucket.take()) {
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

  // What handsets tell the SMSC: counts, and the PoRs to send back.
  private readonly handsetEvents: HandsetEvents = {
    unreachable: () => this.undelivered++,
    toInbox: () => this.inbox++,
    toCard: () => this.delivered++,
    porLost: () => this.porsLost++,
    por: (sms, userData) => this.inTransitFor(() => this.returnPor(sms, userData)),
  };

  private deliver(sms: SubmitRecord): void {
    this.inTransitFor(() => {
      const handset = this.handsets.get(sms.destinationAddr);
      if (!handset) this.undelivered++;
      else handset.receive(sms);
    });
  }

  // The PoR goes from the handset back to the submitter, with the PID and DCS of the SMS it answers.
  private returnPor(sms: SubmitRecord, userData: Uint8Array): void {
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
    for (const timer of this.inTransit) clearTimeout(timer);
    this.inTransit.clear();
    return new Promise((resolve) => {
      for (const session of this.sessions.keys()) session.destroy();
      this.server.close(() => resolve());
    });
  }
}
