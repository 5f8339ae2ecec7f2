// When a client handshake's steps happened, and the errors a connection's end or a broken stream turn
// into, by where the handshake stood: what the TLS client reports, and DTLS extends.
import { TlsError } from './errors.js';
import type { ConnectOptions } from './options.js';

/** When the steps of the handshake happened (performance.now() ms), and how long it took in all. */
export interface HandshakeStats {
  /** From connect() to 'secureConnect' (TCP connect, SIM operations and the server's verdict included). */
  milliseconds: number;
  startedAt: number;
  /** The stream was connected (TCP's handshake done). */
  connectedAt?: number;
  clientHelloSentAt?: number;
  serverHelloReadAt?: number;
  finishedSentAt?: number;
}

const MIN_VERDICT_WAIT = 250;
const MAX_VERDICT_WAIT = 5000;

/**
 * How long to wait for a TLS 1.3 server's verdict on our certificate after our Finished: twice the
 * round trip the ServerHello took (within 250 ms–5 s) unless the options say, and never past the
 * handshake's own deadline (50 ms before it).
 */
export function verdictWait(stats: HandshakeStats, options: ConnectOptions): number {
  const roundTrip = (stats.serverHelloReadAt ?? 0) - (stats.clientHelloSentAt ?? 0);
  const wait =
    options.clientAuthTimeout ?? Math.min(MAX_VERDICT_WAIT, Math.max(MIN_VERDICT_WAIT, 2 * roundTrip));
  const left = (options.handshakeTimeout ?? 30_000) - (performance.now() - stats.startedAt) - 50;
  return Math.min(wait, left);
}

/** Where the connection stood when its stream ended or broke. */
export type ConnectionPhase = 'handshake' | 'verdict' | 'secure';

/** The stream ended (FIN) without close_notify. */
export function closedError(phase: ConnectionPhase): TlsError {
  if (phase === 'secure')
    return new TlsError('handshake_failure', 'the server closed the connection without close_notify');
  if (phase === 'verdict')
    return new TlsError(
      'handshake_failure',
      'the server closed the connection after our Finished (it probably refused our certificate)',
    );
  return new TlsError('handshake_failure', 'the server closed the connection during the handshake');
}

/** A broken stream: a reset is named as one (and, awaiting the verdict, as a likely refusal). */
export function streamError(error: Error, phase: ConnectionPhase): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== 'ECONNRESET' && code !== 'EPIPE') return error;
  const refused = phase === 'verdict' ? '; it probably refused our certificate' : '';
  return new TlsError('internal_error', `the server reset the connection (${error.message})${refused}`);
}
