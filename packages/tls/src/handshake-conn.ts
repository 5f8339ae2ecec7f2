// The seam between a connection and one handshake (Go's Conn vs clientHandshakeState): what the
// handshake steps may ask of the connection, what a finished handshake hands back, and the checks of
// the server's identity that both versions make.
import type { X509Certificate } from 'node:crypto';
import { parseCertificate, trustAnchors, verifyServerChain } from './certificates.js';
import { type NamedGroup, schemeName } from './constants.js';
import type { HandshakeDiagnostics } from './diagnostics.js';

export type { HandshakeDiagnostics };

import { tlsFail } from './errors.js';
import type { KeyOps } from './keyops.js';
import { type ConnectOptions, serverName, type TlsVersionName } from './options.js';
import type { Flight } from './record/flight.js';
import type { HalfConnection } from './record/half-conn.js';
import type { HandshakeMessage } from './record/handshake-buffer.js';
import type { RecordCipher } from './record/protection.js';
import type { CipherSuiteInfo } from './suites.js';

export interface HandshakeConn {
  readonly options: ConnectOptions;
  readonly keyOps: KeyOps;
  /** Set once the ServerHello has chosen: TLS 1.3 drops a ChangeCipherSpec, TLS 1.2 does not (§5). */
  version?: TlsVersionName;
  /** The next handshake message; records are pulled as needed, alerts become errors. */
  nextHandshake(): Promise<HandshakeMessage>;
  /** No handshake bytes are waiting beyond the messages read so far. */
  readonly handshakeDrained: boolean;
  /** The half-connection records queued now are protected by. */
  readonly writeProtection: HalfConnection;
  /** Installs new read keys; `trafficSecret` is kept for TLS 1.3 KeyUpdate. */
  changeReadCipher(cipher: RecordCipher, trafficSecret?: Uint8Array): void;
  /** Installs new write keys and returns the half-connection they protect. */
  changeWriteCipher(cipher: RecordCipher, trafficSecret?: Uint8Array): HalfConnection;
  /**
   * DTLS: a TLS-framed handshake message in the connection's own framing (RFC 6347 §4.2.2, with the
   * next message_seq), which the transcript hashes and the flight carries. TLS: absent (as it is).
   */
  frameHandshake?(message: Uint8Array): Uint8Array;
  /** Seals a flight's records and sends them as one write. */
  sendFlight(flight: Flight): void;
  /** TLS 1.2: waits for the server's ChangeCipherSpec, then reads with `cipher` (RFC 5246 §7.1). */
  expectChangeCipherSpec(cipher: RecordCipher): Promise<void>;
  keylog(line: string): void;
  /** Notes when a step happened (handshakeStats): what the benchmark and --json report. */
  mark(event: HandshakeEvent): void;
  /** What an error from the server later should be explained with (set by the handshake). */
  readonly diagnostics: HandshakeDiagnostics;
}

export type HandshakeEvent = 'connected' | 'clientHelloSent' | 'serverHelloRead' | 'finishedSent';

/** What a finished handshake leaves to the connection. */
export interface Established {
  version: TlsVersionName;
  cipher: { code: number; name: string };
  alpn?: string;
  peerChain: X509Certificate[];
  /** The server proved its identity (certificate checked, or a PSK). */
  authorized: boolean;
  sessionReused: boolean;
  /** The key exchange group (none for TLS 1.2 PSK and TLS 1.3 psk_ke). */
  group?: NamedGroup;
  /** The scheme of our CertificateVerify, when we sent one. */
  clientScheme?: number;
  /**
   * TLS 1.3 with a CertificateRequest: the server judges our certificate after our Finished, so its
   * verdict (a ticket, data, or an alert) is worth waiting for before calling the connection up.
   */
  verdictPending: boolean;
  /** KeyOps.afterFlight's work (closing SIM sessions), running while the server answers. */
  keyOpsReleased?: Promise<void>;
  /** TLS 1.2 with keepSession: the server's session ID and the master secret, for an abbreviated handshake. */
  tls12Session?: { sessionId: Uint8Array; masterSecret: Uint8Array };
  /** TLS 1.3: what tickets after the handshake turn into sessions with (§4.6.1). */
  resumption?: { suite: CipherSuiteInfo; resumptionMaster: Uint8Array };
}

/** Parses the server chain and, unless told not to, checks it against the trust anchors and the name. */
export function authenticateServer(
  options: ConnectOptions,
  chain: readonly Uint8Array[],
): { peerChain: X509Certificate[]; authorized: boolean } {
  const peerChain = chain.map((der) => parseCertificate(der));
  if (!(options.rejectUnauthorized ?? true)) return { peerChain, authorized: false };
  if (!options.ca) tlsFail('internal_error', 'no trust anchors: pass ca, or rejectUnauthorized: false');
  verifyServerChain(peerChain, trustAnchors(options.ca!), options.servername ?? options.host);
  return { peerChain, authorized: true };
}

/** Checks a received message's type. */
export async function expectMessage(
  conn: HandshakeConn,
  type: number,
  name: string,
): Promise<HandshakeMessage> {
  const m = await conn.nextHandshake();
  if (m.type !== type)
    tlsFail('unexpected_message', `handshake message ${m.type} where ${name} (${type}) was expected`);
  return m;
}

/** Starts KeyOps.afterFlight once the client's Finished has been written; its failure is not the handshake's. */
export function releaseKeyOps(conn: HandshakeConn): Promise<void> | undefined {
  conn.mark('finishedSent');
  return conn.keyOps.afterFlight?.().catch(() => {});
}

/** The subject and issuer of our certificate, for explaining a refusal (names only, no key material). */
export function describeClientCertificate(
  chain: readonly Uint8Array[],
): { subject: string; issuer: string } | undefined {
  const leaf = chain[0];
  if (!leaf) return undefined;
  let names = describedCertificates.get(leaf);
  if (!names) {
    const cert = parseCertificate(leaf);
    const oneLine = (name: string) => name.replace(/\n/g, ', ');
    names = { subject: oneLine(cert.subject), issuer: oneLine(cert.issuer) };
    describedCertificates.set(leaf, names);
  }
  return names;
}

/** The client's certificate is the same for every handshake of a KeyOps: parsed once. */
const describedCertificates = new WeakMap<Uint8Array, { subject: string; issuer: string }>();

/** Records why no certificate went to a server that asked for one: said again if the server then refuses. */
export function noteClientAuthMismatch(
  conn: HandshakeConn,
  ours: readonly number[],
  theirs: readonly number[],
  also?: string,
): void {
  if (conn.keyOps.certificateChain.length === 0) return;
  const names = (list: readonly number[]) => list.map(schemeName).join(', ');
  conn.diagnostics.clientAuth = `no client certificate sent: our key signs with ${names(ours)}; the server accepts ${names(theirs)}${also ? ` (${also})` : ''}`;
}

export { serverName };
