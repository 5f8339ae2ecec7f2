// What connectDtls() takes: the TLS options that mean the same over datagrams, and the DTLS ones —
// the path MTU, the retransmission timers, the cookie bound, the replay window — each with its source.
import type { ConnectOptions } from '../options.js';
import type { RetransmitOptions } from './retransmit.js';
import type { DtlsSession } from './session.js';

/** A datagram socket to run DTLS over: the CoAP package's UdpTransport is one, as is any object so shaped. */
export interface DatagramLink {
  send(datagram: Uint8Array): Promise<void> | void;
  on(event: 'message', listener: (datagram: Uint8Array) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'message', listener: (datagram: Uint8Array) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
  close(): Promise<void> | void;
  readonly remote?: { address: string; port: number };
}

export interface DtlsConnectOptions
  extends Pick<
    ConnectOptions,
    | 'host'
    | 'port'
    | 'servername'
    | 'ca'
    | 'rejectUnauthorized'
    | 'keyOps'
    | 'alpnProtocols'
    | 'cipherSuites'
    | 'groups'
    | 'keylog'
  > {
  /** A datagram transport already connected to the server; default a `dgram` socket to host:port. */
  transport?: DatagramLink;
  /**
   * The largest datagram (UDP payload) we send, in bytes: handshake messages are fragmented to fit, and
   * maxDatagramSize is what is left for application data. Default 1,152 (RFC 7925 §11 guidance, safe
   * for cellular links).
   */
  mtu?: number;
  /** Flight retransmission (RFC 6347 §4.2.4); defaults from RFC 7925 §11. */
  retransmit?: RetransmitOptions;
  /** Wall-clock deadline of the whole handshake in ms (default 300,000: every retransmission fits). */
  handshakeTimeout?: number;
  /** HelloVerifyRequests answered before the handshake fails as a storm (default 3; one is normal). */
  maxHelloVerifyRequests?: number;
  /** Anti-replay window width in records (RFC 6347 §4.1.2.6; default 64). */
  replayWindow?: number;
  /**
   * Connection ID (RFC 9146): true asks the server for an 8-byte random CID on its records to us, bytes
   * ask for those; the server's CID goes on ours when it sends one. The association then survives our
   * address changing (a NAT rebinding). Default off.
   */
  connectionId?: boolean | Uint8Array;
  /**
   * A session from an earlier association's 'session' event: offered by its ID (RFC 5246 §7.3); when
   * the server takes it, the handshake is abbreviated (no certificate, no signature, no SIM operation).
   */
  dtlsSession?: DtlsSession;
}

export const DEFAULT_MTU = 1152;
export const DEFAULT_HANDSHAKE_TIMEOUT = 300_000;
export const DEFAULT_MAX_HELLO_VERIFY = 3;
