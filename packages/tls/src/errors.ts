import { ALERT, type AlertName, describeAlert } from './constants.js';

/** A TLS failure: carries the alert sent (or received) and a message that names the cause. */
export class TlsError extends Error {
  override name = 'TlsError';
  constructor(
    readonly alert: AlertName,
    message: string,
    /** True when the peer sent the alert; false when we did. */
    readonly fromPeer = false,
    /** The code received, when the peer sent one this library has no name for. */
    readonly receivedCode?: number,
  ) {
    // A peer's alert without an explanation still says which alert it was.
    super(fromPeer && !message ? `the server sent ${describeAlert(receivedCode ?? ALERT[alert])}` : message);
  }

  get alertCode(): number {
    return ALERT[this.alert];
  }
}

export const tlsFail = (alert: AlertName, message: string): never => {
  throw new TlsError(alert, message);
};
