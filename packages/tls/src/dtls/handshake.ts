// The DTLS 1.2 client handshake up to the ServerHello (RFC 6347 §4.2): what to offer, the ClientHello
// with its cookie field, the HelloVerifyRequest exchange (bounded), and the ServerHello's checks. The
// rest is the TLS 1.2 handshake itself (handshake-tls12.ts), run over the DTLS connection: the same
// steps, key schedule and KeyOps calls, with DTLS framing and flights that are retransmitted.
import { randomBytes } from 'node:crypto';
import { SERVER_SIGNATURE_SCHEMES } from '../certificates.js';
import { CONTENT_TYPE, GROUP_CODE, HANDSHAKE_TYPE, type NamedGroup } from '../constants.js';
import { describeOffer } from '../diagnostics.js';
import { tlsFail } from '../errors.js';
import { type Established, type HandshakeConn, serverName } from '../handshake-conn.js';
import { Tls12ClientHandshake } from '../handshake-tls12.js';
import { marshalClientHello, type ServerHello, unmarshalServerHello } from '../hello.js';
import { Transcript } from '../key-schedule.js';
import { Flight } from '../record/flight.js';
import { isSignedKeyExchange } from '../tls12/messages.js';
import { type Suite12, suite12ByCode } from '../tls12/suites.js';
import { DtlsError } from './errors.js';
import { unmarshalHelloVerifyRequest } from './messages.js';
import { DEFAULT_MAX_HELLO_VERIFY, type DtlsConnectOptions } from './options.js';
import { DTLS12 } from './record-layer.js';
import { type DtlsSession, resumeSession, sessionTaken } from './session.js';

/**
 * The suites offered by default, best first: the RFC 7925 mandatory CCM_8 suites (§4.2, §5.3), their
 * GCM siblings, then ECDHE-PSK (RFC 8442 CCM_8 and GCM, RFC 7905 ChaCha20, which OpenSSL has).
 */
export const DTLS_DEFAULT_SUITES: readonly number[] = [
  0xc0ae, 0xc02b, 0xc0a8, 0x00a8, 0xd003, 0xd001, 0xccac,
];

export interface DtlsHandshakeConn extends HandshakeConn {
  readonly options: DtlsConnectOptions;
  /** Counts a HelloVerifyRequest (for the statistics). */
  noteHelloVerifyRequest(): void;
  /** RFC 9146: the CIDs agreed, used from the first protected epoch on. */
  useConnectionIds(ours: Uint8Array, theirs: Uint8Array): void;
}

/** The CID we ask the server to put on records to us (RFC 9146 §3), from the connectionId option. */
function ourConnectionId(option: DtlsConnectOptions['connectionId']): Uint8Array | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true) return new Uint8Array(randomBytes(8));
  if (option.length > 255) tlsFail('internal_error', 'a connection ID is at most 255 bytes');
  return option;
}

export class DtlsClientHandshake {
  private readonly transcript = new Transcript();
  private readonly clientRandom = new Uint8Array(randomBytes(32));
  private readonly connectionId: Uint8Array | undefined;
  /** The session offered for resumption: for this server, of a suite the options allow. */
  private readonly session: DtlsSession | undefined;

  constructor(private readonly conn: DtlsHandshakeConn) {
    this.connectionId = ourConnectionId(conn.options.connectionId);
    const session = conn.options.dtlsSession;
    const allowed =
      !conn.options.cipherSuites || conn.options.cipherSuites.includes(session?.cipherSuite ?? -1);
    this.session =
      session && allowed && session.servername === serverName(conn.options) ? session : undefined;
  }

  async run(): Promise<Established> {
    const offer = this.decideOffer();
    const hello = await this.exchangeHellos(offer);
    const suite = suite12ByCode(hello.cipherSuite)!;
    this.conn.version = 'TLSv1.2';
    const start = { transcript: this.transcript, clientRandom: this.clientRandom, hello, suite };
    if (sessionTaken(this.session, hello))
      return resumeSession(this.conn, { ...start, session: this.session });
    return new Tls12ClientHandshake(this.conn, {
      ...start,
      offeredGroups: offer.groups,
      keepSession: true,
    }).run();
  }

  /** The suites the options allow and the KeyOps can serve (a PSK suite needs a PSK of its hash). */
  private decideOffer(): { suites: number[]; groups: NamedGroup[] } {
    const { options, keyOps } = this.conn;
    const psk = keyOps.psk;
    const certificates = !psk || options.ca !== undefined || options.rejectUnauthorized === false;
    const pskFor12 = psk !== undefined && (psk.versions?.tls12 ?? true);
    const suites = (options.cipherSuites ?? DTLS_DEFAULT_SUITES)
      .map((code) => suite12ByCode(code))
      .filter((s): s is Suite12 => s !== undefined)
      .filter((s) => (isSignedKeyExchange(s.keyExchange) ? certificates : pskFor12 && psk!.hash === s.hash));
    if (suites.length === 0 && !this.session)
      tlsFail('internal_error', 'no DTLS cipher suite to offer with these keys');
    const groups = (options.groups ?? keyOps.groups).filter((g) => keyOps.groups.includes(g));
    const needsGroups = suites.some((s) => s.keyExchange !== 'psk');
    if (needsGroups && groups.length === 0) tlsFail('internal_error', 'no ECDHE group to offer');
    this.conn.diagnostics.offered = describeOffer({
      versions: ['DTLS 1.2'],
      suites: suites.map((s) => s.name),
      groups,
      ...(keyOps.groupsLimitedBy ? { groupsLimitedBy: keyOps.groupsLimitedBy } : {}),
      schemes: SERVER_SIGNATURE_SCHEMES,
    });
    const codes = suites.map((s) => s.code);
    // The session's suite is offered even when these keys could not do a full handshake with it.
    if (this.session && !codes.includes(this.session.cipherSuite)) codes.unshift(this.session.cipherSuite);
    return { suites: codes, groups };
  }

  /**
   * ClientHello, answered by a HelloVerifyRequest (then the same hello again with its cookie) or by the
   * ServerHello. The first hello and the HelloVerifyRequest stay out of the transcript (§4.2.1).
   */
  private async exchangeHellos(offer: { suites: number[]; groups: NamedGroup[] }): Promise<ServerHello> {
    const { suites } = offer;
    const { options } = this.conn;
    const maxCookies = options.maxHelloVerifyRequests ?? DEFAULT_MAX_HELLO_VERIFY;
    let cookie: Uint8Array = new Uint8Array(0);
    for (let cookies = 0; ; ) {
      const clientHello = this.sendClientHello(offer, cookie);
      const m = await this.conn.nextHandshake();
      if (m.type === HANDSHAKE_TYPE.HELLO_VERIFY_REQUEST) {
        if (++cookies > maxCookies)
          throw new DtlsError(
            'hello_verify_storm',
            `the server answered ${cookies} ClientHellos with a HelloVerifyRequest (at most ${maxCookies} are accepted)`,
          );
        cookie = unmarshalHelloVerifyRequest(m.body).cookie;
        this.conn.noteHelloVerifyRequest();
        continue;
      }
      if (m.type !== HANDSHAKE_TYPE.SERVER_HELLO)
        tlsFail('unexpected_message', `handshake message ${m.type} where ServerHello was expected`);
      this.conn.mark('serverHelloRead');
      const hello = unmarshalServerHello(m.body);
      this.conn.diagnostics.serverHelloRead = true;
      if (hello.legacyVersion !== DTLS12 || hello.supportedVersion !== undefined)
        tlsFail('protocol_version', 'the server does not speak DTLS 1.2');
      const suite = suite12ByCode(hello.cipherSuite);
      if (!suite || !suites.includes(hello.cipherSuite))
        tlsFail('illegal_parameter', 'the server chose a cipher suite that was not offered');
      if (hello.connectionId !== undefined) {
        if (!this.connectionId) tlsFail('unsupported_extension', 'a connection_id that was not offered');
        this.conn.useConnectionIds(this.connectionId!, hello.connectionId);
      }
      this.transcript.hash = suite!.hash;
      this.transcript.add(clientHello);
      this.transcript.add(m.raw);
      return hello;
    }
  }

  private sendClientHello(
    { suites, groups }: { suites: number[]; groups: NamedGroup[] },
    cookie: Uint8Array,
  ): Uint8Array {
    const { options } = this.conn;
    const name = serverName(options);
    const bytes = this.conn.frameHandshake!(
      marshalClientHello({
        legacyVersion: DTLS12,
        random: this.clientRandom,
        sessionId: this.session?.sessionId ?? new Uint8Array(0),
        dtlsCookie: cookie,
        cipherSuites: suites,
        ...(name !== undefined ? { serverName: name } : {}),
        supportedGroups: groups.map((g) => GROUP_CODE[g]),
        signatureAlgorithms: SERVER_SIGNATURE_SCHEMES,
        // Uncompressed points (RFC 8422 §5.1.2), the extended master secret (RFC 7627), and no
        // renegotiation, said with an empty renegotiated_connection (RFC 5746 §3.4).
        ecPointFormats: [0],
        extendedMasterSecret: true,
        renegotiationInfo: new Uint8Array(0),
        ...(options.alpnProtocols ? { alpn: options.alpnProtocols } : {}),
        ...(this.connectionId ? { connectionId: this.connectionId } : {}),
      }),
    );
    const flight = new Flight();
    flight.add(CONTENT_TYPE.HANDSHAKE, bytes, this.conn.writeProtection);
    this.conn.sendFlight(flight);
    this.conn.mark('clientHelloSent');
    return bytes;
  }
}
