// The Transport seam: everything that carries APDUs to a card (memory, PC/SC, AT modem, SCP03 wrapper).
import { TYPICAL_SIM_CARD_MS, TYPICAL_SIM_DEFAULT_MS } from '@iotsafe/protocol';

export interface Transport {
  /** Sends one command APDU and returns the response APDU (data ‖ SW1 SW2). */
  transmit(command: Uint8Array): Promise<Uint8Array>;
  /** Resets the card and returns its ATR. */
  reset(): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Anything with a card's shape: a VirtualSim's `card`, or a test double. */
export interface CardLike {
  transmit(command: Uint8Array): Uint8Array | Promise<Uint8Array>;
  reset?(): Uint8Array | Promise<Uint8Array>;
}

/** The transport failed or was used after close (not a status word: the card never answered). */
export class TransportError extends Error {
  override name = 'TransportError';
}

/** Milliseconds a command takes on a real SIM behind a real link, given the command and its answer. */
export type LatencyModel = (command: Uint8Array, response: Uint8Array) => number;

/**
 * A SIM in a cellular modem (docs/hardware.md, "Timing"): per-INS card time (GENERATE KEY PAIR and
 * signatures are slow) plus AT+CSIM transfer at `baud` (hex doubles the bytes; 10 bits per character).
 */
export function modemSimLatency(baud = 115_200): LatencyModel {
  return (command, response) => {
    const characters = 2 * (command.length + response.length) + 40; // AT+CSIM=…, +CSIM: …, OK
    return (TYPICAL_SIM_CARD_MS[command[1]!] ?? TYPICAL_SIM_DEFAULT_MS) + (characters * 10 * 1000) / baud;
  };
}

/** An in-process card: no I/O, so tests and benchmarks measure the card and the client only. */
export class MemoryTransport implements Transport {
  private closed = false;

  /** `latency` delays each answer as a real SIM and link would (benchmarks, timeout tests). */
  constructor(
    private readonly card: CardLike,
    private readonly latency?: LatencyModel,
  ) {}

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    if (this.closed) throw new TransportError('transport is closed');
    const response = await this.card.transmit(command);
    if (this.latency) await new Promise((resolve) => setTimeout(resolve, this.latency!(command, response)));
    return response;
  }

  async reset(): Promise<Uint8Array> {
    if (this.closed) throw new TransportError('transport is closed');
    if (!this.card.reset) throw new TransportError('this card cannot be reset');
    return this.card.reset();
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
