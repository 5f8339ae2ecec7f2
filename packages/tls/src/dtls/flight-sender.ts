// A DTLS client's flights on the wire (RFC 6347 §4.2.4): each one sealed (fresh sequence numbers each
// time), its handshake messages fragmented to the PMTU (§4.2.3) and its records packed into as few
// datagrams as fit; the last flight kept to send again on a timeout, and, when ours ends the handshake
// (an abbreviated one), kept after it for when the server repeats its own.
import { CONTENT_TYPE } from '../constants.js';
import type { Flight } from '../record/flight.js';
import { DtlsError } from './errors.js';
import { fragmentHandshake } from './handshake-framing.js';
import type { DatagramLink } from './options.js';
import type { DatagramRecordLayer } from './record-layer.js';

/** A DTLS handshake message header: type, length, message_seq, fragment offset and length (RFC 6347 §4.2.2). */
const HANDSHAKE_HEADER = 12;

/** What datagrams a connection sent (counted into its handshake statistics). */
export interface DatagramCounts {
  datagramsSent: number;
  bytesSent: number;
}

export class FlightSender {
  /** The flight that waits for the server's answer (what a timeout sends again). */
  private flight?: Flight;
  /** Our flight that ended an abbreviated handshake: sent again when the server repeats its own. */
  private finalFlight?: Flight;

  constructor(
    private readonly records: DatagramRecordLayer,
    private readonly mtu: number,
    private readonly counts: DatagramCounts,
    private readonly link: () => DatagramLink | undefined,
  ) {}

  /** Sends a flight and keeps it for retransmission until the server's next flight answers it. */
  send(flight: Flight): void {
    this.flight = flight;
    this.transmit(flight);
  }

  /** A flight waits for the server's answer. */
  get pending(): boolean {
    return this.flight !== undefined;
  }

  /** Sends the kept flight again. */
  resend(): void {
    if (this.flight) this.transmit(this.flight);
  }

  /** The handshake is over: only an abbreviated one's last flight (ours) is kept (RFC 6347 §4.2.4). */
  handshakeDone(ourFlightWasLast: boolean): void {
    this.finalFlight = ourFlightWasLast ? this.flight : undefined;
    this.flight = undefined;
  }

  /** The server sent its last flight again: ours was lost, and goes again. */
  resendFinal(): void {
    if (this.finalFlight) this.transmit(this.finalFlight);
  }

  /** One datagram, counted. */
  datagram(datagram: Uint8Array): Promise<void> {
    const link = this.link();
    if (!link) return Promise.reject(new DtlsError('closed', 'the DTLS connection is closed'));
    this.counts.datagramsSent++;
    this.counts.bytesSent += datagram.length;
    return Promise.resolve(link.send(datagram));
  }

  /** Seals the flight again (fresh sequence numbers), fragments handshake messages and packs datagrams. */
  private transmit(flight: Flight): void {
    const datagrams: Buffer[] = [];
    let current: Buffer[] = [];
    let size = 0;
    const add = (record: Buffer) => {
      if (size + record.length > this.mtu && current.length > 0) {
        datagrams.push(Buffer.concat(current));
        current = [];
        size = 0;
      }
      current.push(record);
      size += record.length;
    };
    for (const r of flight.records) {
      if (r.type !== CONTENT_TYPE.HANDSHAKE) {
        add(this.records.seal(r.type, r.content, r.protection));
        continue;
      }
      const room = this.mtu - this.records.overhead(r.protection) - HANDSHAKE_HEADER;
      for (const fragment of fragmentHandshake(r.content, room))
        add(this.records.seal(r.type, fragment, r.protection));
    }
    if (current.length > 0) datagrams.push(Buffer.concat(current));
    for (const d of datagrams) this.datagram(d).catch(() => {});
  }
}
