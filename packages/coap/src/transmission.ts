// Transmission parameters and the times derived from them (RFC 7252 §4.8, §4.8.2), and the
// retransmission of a Confirmable message with exponential back-off (§4.2).

export interface TransmissionParameters {
  /** ACK_TIMEOUT in milliseconds (default 2,000). */
  ackTimeout: number;
  /** ACK_RANDOM_FACTOR, at least 1 (default 1.5). */
  ackRandomFactor: number;
  /** MAX_RETRANSMIT (default 4). */
  maxRetransmit: number;
  /** NSTART: outstanding interactions at once (default 1). */
  nstart: number;
  /** MAX_LATENCY in milliseconds (default 100,000). */
  maxLatency: number;
}

export const DEFAULT_TRANSMISSION: Readonly<TransmissionParameters> = {
  ackTimeout: 2_000,
  ackRandomFactor: 1.5,
  maxRetransmit: 4,
  nstart: 1,
  maxLatency: 100_000,
};

export function transmissionParameters(
  overrides: Partial<TransmissionParameters> = {},
): Readonly<TransmissionParameters> {
  const p = { ...DEFAULT_TRANSMISSION, ...overrides };
  if (!(p.ackTimeout > 0)) throw new RangeError(`ackTimeout must be positive (got ${p.ackTimeout})`);
  if (!(p.ackRandomFactor >= 1)) throw new RangeError('ackRandomFactor must be at least 1 (RFC 7252 §4.8)');
  if (!Number.isInteger(p.maxRetransmit) || p.maxRetransmit < 0)
    throw new RangeError(`maxRetransmit must be a whole number (got ${p.maxRetransmit})`);
  if (!Number.isInteger(p.nstart) || p.nstart < 1) throw new RangeError('nstart must be at least 1');
  if (!(p.maxLatency >= 0)) throw new RangeError('maxLatency must not be negative');
  return p;
}

/** RFC 7252 §4.8.2, in milliseconds. PROCESSING_DELAY is ACK_TIMEOUT. */
export function derivedTimes(p: Readonly<TransmissionParameters>) {
  const maxTransmitSpan = p.ackTimeout * (2 ** p.maxRetransmit - 1) * p.ackRandomFactor;
  const maxTransmitWait = p.ackTimeout * (2 ** (p.maxRetransmit + 1) - 1) * p.ackRandomFactor;
  return {
    maxTransmitSpan,
    maxTransmitWait,
    maxRtt: 2 * p.maxLatency + p.ackTimeout,
    exchangeLifetime: maxTransmitSpan + 2 * p.maxLatency + p.ackTimeout,
    nonLifetime: maxTransmitSpan + p.maxLatency,
  };
}

export interface Retransmission {
  /** Stops the timer (the ACK or RST came, or the exchange was abandoned). */
  stop(): void;
}

/**
 * Sends now, then again after a random initial timeout in [ACK_TIMEOUT, ACK_TIMEOUT ×
 * ACK_RANDOM_FACTOR], doubling each time, MAX_RETRANSMIT times; calls `giveUp` when the last
 * timeout ends without stop() (RFC 7252 §4.2).
 */
export function retransmit(
  p: Readonly<TransmissionParameters>,
  send: (attempt: number) => void,
  giveUp: () => void,
  random: () => number = Math.random,
): Retransmission {
  let timeout = p.ackTimeout * (1 + random() * (p.ackRandomFactor - 1));
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer = setTimeout(() => {
      if (attempt >= p.maxRetransmit) {
        timer = undefined;
        giveUp();
        return;
      }
      attempt++;
      timeout *= 2;
      send(attempt);
      arm();
    }, timeout);
  };
  send(0);
  arm();
  return {
    stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
