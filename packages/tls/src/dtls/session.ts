// DTLS 1.2 sessions (RFC 5246 §7.3 session IDs, with the extended master secret, RFC 7627 §5.3): what
// a full handshake leaves for an abbreviated one — no certificate, no signature, no SIM operation.
// The master secret is a host secret here: keep the session object as you would a key.
import { constantTimeEqual } from '@iotsafe/protocol';
import { parseCertificate } from '../certificates.js';
import { CONTENT_TYPE, HANDSHAKE_TYPE } from '../constants.js';
import { tlsFail } from '../errors.js';
import { type Established, expectMessage, type HandshakeConn, releaseKeyOps } from '../handshake-conn.js';
import type { ServerHello } from '../hello.js';
import type { Transcript } from '../key-schedule.js';
import { marshalFinished } from '../messages.js';
import { Flight } from '../record/flight.js';
import { prf, tls12KeyBlock } from '../tls12/key-block.js';
import type { Suite12 } from '../tls12/suites.js';

export interface DtlsSession {
  sessionId: Uint8Array;
  masterSecret: Uint8Array;
  cipherSuite: number;
  servername?: string;
  /** The server chain of the full handshake (DER), and whether it was checked then. */
  peerChain: Uint8Array[];
  authorized: boolean;
  createdAt: number;
}

/** The session a full handshake with a session ID leaves (none without one). */
export function keptSession(
  established: Established,
  servername: string | undefined,
): DtlsSession | undefined {
  const kept = established.tls12Session;
  if (!kept) return undefined;
  return {
    sessionId: kept.sessionId,
    masterSecret: kept.masterSecret,
    cipherSuite: established.cipher.code,
    ...(servername ? { servername } : {}),
    peerChain: established.peerChain.map((c) => new Uint8Array(c.raw)),
    authorized: established.authorized,
    createdAt: Date.now(),
  };
}

/** The server took our session (echoed its ID): its CCS and Finished come first (RFC 5246 §7.3). */
export async function resumeSession(
  conn: HandshakeConn,
  start: {
    transcript: Transcript;
    clientRandom: Uint8Array;
    hello: ServerHello;
    suite: Suite12;
    session: DtlsSession;
  },
): Promise<Established> {
  const { transcript, hello, suite, session } = start;
  if (hello.cipherSuite !== session.cipherSuite)
    tlsFail('illegal_parameter', 'the server resumed the session with another cipher suite');
  // RFC 7627 §5.3: a session of the extended master secret resumes only with it.
  if (!hello.extendedMasterSecret)
    tlsFail('handshake_failure', 'a resumption without the extended master secret');
  if (hello.renegotiationInfo?.length !== 0)
    tlsFail('handshake_failure', 'the server does not signal secure renegotiation (RFC 5746)');
  const master = session.masterSecret;
  const keys = tls12KeyBlock(suite, master, start.clientRandom, hello.random);
  await conn.expectChangeCipherSpec(keys.server);
  const finished = await expectMessage(conn, HANDSHAKE_TYPE.FINISHED, 'Finished');
  const expected = prf(suite.hash, master, 'server finished', transcript.digest(), 12);
  if (finished.body.length !== 12 || !constantTimeEqual(finished.body, expected))
    tlsFail('decrypt_error', 'the server Finished does not verify');
  transcript.add(finished.raw);
  const flight = new Flight();
  flight.add(CONTENT_TYPE.CHANGE_CIPHER_SPEC, Uint8Array.of(1), conn.writeProtection);
  conn.changeWriteCipher(keys.client);
  const verifyData = prf(suite.hash, master, 'client finished', transcript.digest(), 12);
  const message = conn.frameHandshake?.(marshalFinished(verifyData)) ?? marshalFinished(verifyData);
  transcript.add(message);
  flight.add(CONTENT_TYPE.HANDSHAKE, message, conn.writeProtection);
  conn.sendFlight(flight);
  releaseKeyOps(conn);
  return {
    version: 'TLSv1.2',
    cipher: { code: suite.code, name: suite.name },
    peerChain: session.peerChain.map((der) => parseCertificate(der)),
    authorized: session.authorized,
    sessionReused: true,
    verdictPending: false,
  };
}

/** The session ID of `session` matches what the server echoed. */
export const sessionTaken = (session: DtlsSession | undefined, hello: ServerHello): session is DtlsSession =>
  session !== undefined &&
  hello.sessionId.length > 0 &&
  Buffer.from(hello.sessionId).equals(Buffer.from(session.sessionId));
