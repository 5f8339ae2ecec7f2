// The Transport seam: everything that carries APDUs to a card (memory, PC/SC, AT modem, SCP03 wrapper).

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

/** An in-process card: no I/O, so tests and benchmarks measure the card and the client only. */
export class MemoryTransport implements Transport {
  private closed = false;

  constructor(private readonly card: CardLike) {}

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    if (this.closed) throw new TransportError('transport is closed');
    return this.card.transmit(command);
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
