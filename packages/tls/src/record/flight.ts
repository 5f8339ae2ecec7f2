// A flight (RFC 6347 §4.2.4's unit, used for TLS too): the records one side sends before it waits for
// the other, each with the half-connection that protects it. It is sealed when sent, as one write, and
// can be sealed and sent again (what DTLS retransmission needs), each time with fresh sequence numbers.
import type { HalfConnection } from './half-conn.js';

export interface FlightRecord {
  type: number;
  content: Uint8Array;
  protection: HalfConnection;
}

export class Flight {
  readonly records: FlightRecord[] = [];

  add(type: number, content: Uint8Array, protection: HalfConnection): void {
    this.records.push({ type, content, protection });
  }

  get length(): number {
    return this.records.length;
  }
}
