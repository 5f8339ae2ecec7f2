// Every failure of the CoAP client is a CoapError; the subclasses say what went wrong and carry the
// response code where a server sent one. Each error's name is its class's (set once, in CoapError).

export class CoapError extends Error {
  /** The response code (class << 5 | detail) when a server answered, e.g. 0x84 for 4.04. */
  readonly responseCode?: number;

  constructor(message: string, options: { responseCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    if (options.responseCode !== undefined) this.responseCode = options.responseCode;
  }
}

/** A datagram that is not a well-formed CoAP message (RFC 7252 §3, "message format error"). */
export class CoapFormatError extends CoapError {
  /**
   * The header was readable (version 1, 4 bytes): a Confirmable message with this Message ID can be
   * rejected with a Reset (RFC 7252 §4.2); otherwise the datagram is silently ignored.
   */
  readonly header?: { type: number; messageId: number };

  constructor(message: string, header?: { type: number; messageId: number }, cause?: unknown) {
    super(message, { cause });
    if (header) this.header = header;
  }
}

/** A Confirmable message was not acknowledged within MAX_RETRANSMIT retransmissions (RFC 7252 §4.2). */
export class CoapTimeoutError extends CoapError {}

/** The peer answered with a Reset (RFC 7252 §4.2, §4.3). */
export class CoapResetError extends CoapError {}

/** A response (or the part of a block-wise transfer) carried an error code. */
export class CoapResponseError extends CoapError {}

/** A block-wise transfer could not be completed consistently (RFC 7959). */
export class CoapBlockwiseError extends CoapError {}

/** A URI that is not a valid coap: or coaps: URI (RFC 7252 §6). */
export class CoapUriError extends CoapError {}

/** coaps:// needs a DTLS transport, which the caller provides (RFC 7252 §9). */
export class CoapsTransportRequiredError extends CoapError {}

/** The client was closed, or the request aborted, before the exchange ended. */
export class CoapAbortError extends CoapError {}
