// What outlives a handshake on the connection, and the handshake messages that come after it: the
// TLS 1.3 application traffic secrets that KeyUpdate moves forward (RFC 8446 §4.6.3, §7.2),
// NewSessionTicket turned into a session a later connect() resumes (§4.6.1), and TLS 1.2's HelloRequest
// answered with no_renegotiation (RFC 5746 §4.2).
import type { ClientStream } from './client-stream.js';
import { ALERT, CONTENT_TYPE, HANDSHAKE_TYPE } from './constants.js';
import { tlsFail } from './errors.js';
import type { Established } from './handshake-conn.js';
import { cipherFor, nextTrafficSecret } from './handshake-tls13.js';
import { marshalKeyUpdate, unmarshalKeyUpdate, unmarshalNewSessionTicket } from './messages.js';
import type { HandshakeMessage } from './record/handshake-buffer.js';
import type { RecordCipher } from './record/protection.js';
import { resumptionPsk, type TlsSession } from './session.js';
import { unmarshalEmpty } from './tls12/messages.js';

/** The connection's keys after the handshake, and what it does with post-handshake messages. */
export class PostHandshake {
  /** TLS 1.3 traffic secrets of the application keys, for KeyUpdate (§7.2). */
  readonly readSecret = new TrafficSecret();
  readonly writeSecret = new TrafficSecret();

  constructor(
    private readonly io: ClientStream,
    private readonly servername: string | undefined,
    /** A resumable session came (emitted apart from record processing by the caller). */
    private readonly onSession: (session: TlsSession) => void,
  ) {}

  /** A handshake message after the handshake: NewSessionTicket, KeyUpdate (§4.6), HelloRequest. */
  handle(message: HandshakeMessage, established: Established): void {
    if (established.version !== 'TLSv1.3') {
      // No renegotiation (RFC 5746 §4.2): a HelloRequest gets a no_renegotiation warning.
      if (message.type !== HANDSHAKE_TYPE.HELLO_REQUEST)
        tlsFail('unexpected_message', `post-handshake message ${message.type}`);
      unmarshalEmpty(message.body, 'HelloRequest');
      this.io.send(CONTENT_TYPE.ALERT, Uint8Array.of(1, ALERT.no_renegotiation));
      return;
    }
    if (message.type === HANDSHAKE_TYPE.NEW_SESSION_TICKET) {
      const session = sessionFromTicket(message.body, established, this.servername);
      if (session) this.onSession(session);
      return;
    }
    if (message.type !== HANDSHAKE_TYPE.KEY_UPDATE)
      tlsFail('unexpected_message', `post-handshake message ${message.type}`);
    const { requestUpdate } = unmarshalKeyUpdate(message.body);
    this.io.records.changeReadCipher(this.readSecret.next(established));
    if (requestUpdate) this.keyUpdate(established, false);
  }

  /** Sends KeyUpdate and moves to the next client traffic secret (§4.6.3). */
  keyUpdate(established: Established, requestPeer: boolean): void {
    this.io.send(CONTENT_TYPE.HANDSHAKE, marshalKeyUpdate(requestPeer));
    this.io.records.changeWriteCipher(this.writeSecret.next(established));
  }
}

/** One direction's TLS 1.3 application traffic secret, and the next keys KeyUpdate installs. */
export class TrafficSecret {
  constructor(private secret?: Uint8Array) {}

  set(secret: Uint8Array | undefined): void {
    this.secret = secret;
  }

  /** The next generation's record cipher (§7.2); the secret moves on with it. */
  next(established: Established): RecordCipher {
    const suite = established.resumption!.suite;
    this.secret = nextTrafficSecret(suite, this.secret!);
    return cipherFor(suite, this.secret);
  }
}

/** The session a NewSessionTicket stands for; none when it cannot be resumed (lifetime 0, no keys). */
export function sessionFromTicket(
  body: Uint8Array,
  established: Established,
  servername: string | undefined,
): TlsSession | undefined {
  const ticket = unmarshalNewSessionTicket(body);
  const resumption = established.resumption;
  if (!resumption || ticket.lifetimeSeconds === 0) return undefined;
  const { suite, resumptionMaster } = resumption;
  return {
    cipherSuite: suite.code,
    hash: suite.hash,
    ticket: ticket.ticket,
    psk: resumptionPsk(suite.hash, resumptionMaster, ticket.nonce),
    ageAdd: ticket.ageAdd,
    lifetimeSeconds: ticket.lifetimeSeconds,
    receivedAt: Date.now(),
    ...(servername ? { servername } : {}),
    peerChain: established.peerChain.map((c) => new Uint8Array(c.raw)),
  };
}
