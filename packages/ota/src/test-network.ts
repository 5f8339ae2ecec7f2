// A local network for OTA without an operator: an SMSC (SMPP server on 127.0.0.1) that routes each
// submit_sm to a virtual handset by MSISDN; the handset turns it into an SMS-DELIVER (PID 7F, class 2),
// gives it to its card in an ENVELOPE (SMS-PP data download), and sends the PoR the card answers back
// to the server as a deliver_sm, as a real handset's DELIVER-REPORT would reach the SMSC; a PoR the
// card sends as a proactive SEND SHORT MESSAGE (SPI2 b6) is fetched and sent on as a mobile-originated SMS.
import type { AddressInfo } from 'node:net';
import {
  DCS_8BIT_CLASS2,
  decodeSendShortMessage,
  decodeSmsSubmit,
  encodeSmsDeliver,
  encodeSmsPpDownload,
  PID_SIM_DATA_DOWNLOAD,
  parseResponseApdu,
} from '@iotsafe/protocol';
import smpp from 'smpp';
import { rawShortMessage } from './smpp-link.js';

/** What a handset needs of its SIM: the card's transmit (a VirtualSim's `card`, or a reader). */
export interface HandsetCard {
  transmit(command: Uint8Array): Uint8Array;
}

export interface TestNetworkOptions {
  systemId?: string;
  password?: string;
  /** SMPP port on 127.0.0.1 (default: a free one). */
  port?: number;
}

export class TestNetwork {
  private readonly handsets = new Map<string, HandsetCard>();
  /** SMS the SMSC could not deliver (no handset with that MSISDN). */
  undelivered = 0;
  /** SMS delivered to cards, and PoRs sent back. */
  delivered = 0;
  porsReturned = 0;

  private constructor(
    private readonly server: smpp.Server,
    readonly port: number,
  ) {}

  static async start(options: TestNetworkOptions = {}): Promise<TestNetwork> {
    const systemId = options.systemId ?? 'iotsafe';
    const password = options.password ?? 'iotsafe';
    let network: TestNetwork | undefined;
    const server = smpp.createServer((session) => {
      session.on('error', () => {});
      session.socket.setNoDelay(true); // one small PDU each way: Nagle would add ~40 ms per hop
      session.on('pdu', (pdu: smpp.Pdu) => network?.handle(session, pdu, systemId, password));
    });
    await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', () => resolve()));
    network = new TestNetwork(server, (server.address() as AddressInfo).port);
    return network;
  }

  /** Puts a SIM in a handset reachable at `msisdn`. */
  attach(msisdn: string, card: HandsetCard): void {
    this.handsets.set(msisdn, card);
  }

  detach(msisdn: string): void {
    this.handsets.delete(msisdn);
  }

  private handle(session: smpp.Session, pdu: smpp.Pdu, systemId: string, password: string): void {
    switch (pdu.command) {
      case 'bind_transceiver':
        session.send(
          pdu.response({
            command_status: pdu.system_id === systemId && pdu.password === password ? 0 : 0x0e,
          }),
        );
        return;
      case 'enquire_link':
        session.send(pdu.response());
        return;
      case 'unbind':
        session.send(pdu.response());
        return;
      case 'submit_sm':
        session.send(pdu.response({ message_id: String(pdu.sequence_number) }));
        this.deliver(
          session,
          String(pdu.source_addr),
          String(pdu.destination_addr),
          rawShortMessage(pdu.short_message),
        );
        return;
      default:
        if (!pdu.command.endsWith('_resp')) session.send(pdu.response({ command_status: 0x03 }));
    }
  }

  // The handset: SMS-DELIVER → ENVELOPE → card; a PoR in the response goes back as a deliver_sm.
  private deliver(session: smpp.Session, from: string, to: string, userData: Uint8Array): void {
    const card = this.handsets.get(to);
    if (!card || userData.length > 140) {
      this.undelivered++;
      return;
    }
    const tpdu = encodeSmsDeliver({
      originator: { digits: from.replace(/\D/g, '').slice(0, 20), toa: 0x81 },
      pid: PID_SIM_DATA_DOWNLOAD,
      dcs: DCS_8BIT_CLASS2,
      timestamp: Uint8Array.of(0x62, 0x11, 0x82, 0x00, 0x00, 0x00, 0x00),
      userData,
      userDataHeader: true,
    });
    let answer = parseResponseApdu(card.transmit(encodeSmsPpDownload(tpdu)));
    if (answer.sw >> 8 === 0x61)
      answer = parseResponseApdu(card.transmit(Uint8Array.of(0x00, 0xc0, 0, 0, answer.sw & 0xff)));
    this.delivered++;
    if (answer.sw >> 8 === 0x91) {
      this.fetchShortMessage(session, card, to, from, answer.sw & 0xff);
      return;
    }
    if (answer.data.length === 0) return;
    this.returnPor(session, to, from, answer.data);
  }

  // 91xx: the card has a proactive command. SEND SHORT MESSAGE carries a PoR as a mobile-originated SMS.
  private fetchShortMessage(
    session: smpp.Session,
    card: HandsetCard,
    msisdn: string,
    to: string,
    length: number,
  ): void {
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
    if (userData.length) this.returnPor(session, msisdn, to, userData);
  }

  private returnPor(session: smpp.Session, from: string, to: string, userData: Uint8Array): void {
    this.porsReturned++;
    session.send(
      new smpp.PDU('deliver_sm', {
        source_addr: from,
        destination_addr: to,
        esm_class: 0x40,
        protocol_id: PID_SIM_DATA_DOWNLOAD,
        data_coding: 0x04,
        short_message: Buffer.from(userData),
      }),
    );
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      for (const session of this.server.sessions) session.destroy();
      this.server.close(() => resolve());
    });
  }
}
