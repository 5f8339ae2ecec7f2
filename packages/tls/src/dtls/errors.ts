// DTLS failures that are not a TLS alert's: a handshake the network never let finish, a server that
// only ever answers with cookies. They are TlsErrors (the alert we would send, if any, is in `alert`).
import { TlsError } from '../errors.js';

export type DtlsErrorCode =
  | 'retransmissions_exhausted'
  | 'handshake_timeout'
  | 'hello_verify_storm'
  | 'closed'
  | 'datagram_too_large';

export class DtlsError extends TlsError {
  override name = 'DtlsError';
  constructor(
    readonly code: DtlsErrorCode,
    message: string,
  ) {
    super(code === 'hello_verify_storm' ? 'handshake_failure' : 'user_canceled', message);
  }
}
