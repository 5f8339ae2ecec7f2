// What connect() takes: where to connect, whom to trust, what to offer, and the KeyOps that hold the
// client's keys.
import type { Duplex } from 'node:stream';
import type { NamedGroup } from './constants.js';
import type { KeyOps } from './keyops.js';
import type { TlsSession } from './session.js';

/** TLS 1.0 and 1.1 only with the PSK suites (RFC 4279, RFC 5487): what SIM cards' admin agents speak. */
export type TlsVersionName = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

/** Versions in order, with their wire codes. */
export const VERSION_CODES: Record<TlsVersionName, number> = {
  TLSv1: 0x0301,
  'TLSv1.1': 0x0302,
  'TLSv1.2': 0x0303,
  'TLSv1.3': 0x0304,
};

export function versionName(code: number): TlsVersionName | undefined {
  return (Object.keys(VERSION_CODES) as TlsVersionName[]).find((name) => VERSION_CODES[name] === code);
}

/**
 * A ClientHello shaped like a constrained TLS 1.2-and-below client's (a SIM's admin agent, GP Amd B):
 * what the defaults add for modern servers can be left out. TLS 1.3 cannot be offered with it.
 */
export interface LegacyClientHello {
  /** The record-layer version of the ClientHello's record (default 0x0303; many clients write 0x0301). */
  recordVersion?: number;
  /** An empty session_id instead of 32 random bytes (default false). */
  emptySessionId?: boolean;
  /**
   * Leave out supported_groups, signature_algorithms, ec_point_formats, extended_master_secret and
   * renegotiation_info (default false): PSK suites only. Then a ServerHello without the extended master
   * secret and secure renegotiation is accepted, and the master secret is the RFC 5246 §8.1 one.
   */
  minimalExtensions?: boolean;
}

export interface ConnectOptions {
  host?: string;
  port?: number;
  /** An already connected stream to run TLS over (then host/port are not used). */
  socket?: Duplex;
  /** SNI and the name the server certificate must carry; defaults to host unless it is an IP. */
  servername?: string;
  /** Trust anchors: PEM text, or a list of PEM/DER certificates (a CA read from a SIM file, say). */
  ca?: string | readonly (string | Uint8Array)[];
  /** Default true: a server that does not authenticate is refused. */
  rejectUnauthorized?: boolean;
  keyOps?: KeyOps;
  alpnProtocols?: readonly string[];
  cipherSuites?: readonly number[];
  groups?: readonly NamedGroup[];
  /** Receives NSS key log lines (SSLKEYLOGFILE format) for Wireshark/tshark; off by default. */
  keylog?: (line: string) => void;
  /** Handshake deadline in ms (default 30 s). */
  handshakeTimeout?: number;
  /** Lowest and highest versions to offer (default TLS 1.2 to TLS 1.3, negotiated in one ClientHello). */
  minVersion?: TlsVersionName;
  maxVersion?: TlsVersionName;
  /**
   * max_fragment_length to ask for (RFC 6066 §4): 512, 1024, 2048 or 4096 bytes of plaintext per record.
   * The server must echo it (else illegal_parameter); if it does not answer, records stay at 2^14.
   */
  maxFragmentLength?: 512 | 1024 | 2048 | 4096;
  /** A ClientHello without what modern servers expect: see LegacyClientHello. */
  legacyClientHello?: LegacyClientHello;
  /** With a PSK in KeyOps: psk_dhe_ke (PSK + ECDHE, default) or psk_ke (PSK only), RFC 8446 §4.2.9. */
  pskMode?: 'psk_dhe_ke' | 'psk_ke';
  /**
   * A TLS 1.3 session from an earlier connection's 'session' event, offered for resumption: no
   * certificate, no signature (§2.2). Ignored when expired or for another server name.
   */
  session?: TlsSession;
  /**
   * Work that does not depend on the server starts at once, while TCP connects: the offer, a PSK's
   * Early Secret and the first key share (SIM operations in full offload); and KeyOps.afterFlight
   * (closing SIM sessions) runs while the server answers our Finished. Default true.
   */
  pipelining?: boolean;
  /**
   * TLS 1.3 with a CertificateRequest: the server judges our certificate after our Finished. The
   * client waits this long (ms) for its verdict — a ticket or data accepts, an alert refuses — before
   * 'secureConnect', so a refusal is an 'error' instead of a connection that dies later. Default:
   * twice the round trip the ServerHello took, at least 250 ms and at most 5 s; 0 emits 'secureConnect'
   * at once (a refusal still arrives as an 'error' event, with the first data read).
   */
  clientAuthTimeout?: number;
}

/** SNI, and the name the server certificate must carry: the servername option, else a host name. */
export function serverName(options: ConnectOptions): string | undefined {
  const host = options.host;
  return options.servername ?? (host && !/^[\d.:]+$/.test(host) ? host : undefined);
}
