// Sessions kept across runs (`--session-file`): a TLS 1.3 session (its resumption PSK) or a DTLS 1.2
// one (its master secret, RFC 5246 §7.3) is a secret, so the file holds it sealed with the storage key
// (AES-256-GCM, bound to a context string), is created owner-only (0600) and replaced atomically.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { bytesToHex, hexToBytes, seal, unseal, utf8 } from '@iotsafe/protocol';
import { type DtlsSession, sessionFromJson, sessionToJson, type TlsSession } from '@iotsafe/tls';
import { UsageError } from './usage.js';

/** The bytes a file keeps sealed in `context`; undefined when there is no file. Throws when it does not open. */
function readSealedFile(file: string, key: Uint8Array, context: string): Uint8Array | undefined {
  if (!existsSync(file)) return undefined;
  return unseal(key, readFileSync(file, 'utf8').trim(), context);
}

/** Seals `bytes` into `file`: written to a temporary file (0600), then renamed over it. */
function writeSealedFile(file: string, key: Uint8Array, context: string, bytes: Uint8Array): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${seal(key, bytes, context)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}

const TLS_CONTEXT = 'iotsafe tls session';
const DTLS_CONTEXT = 'iotsafe dtls session';

/** The TLS session a file keeps; none if absent; a usage error when it is not ours. */
export function readTlsSessionFile(file: string, key: Uint8Array): TlsSession | undefined {
  try {
    const bytes = readSealedFile(file, key, TLS_CONTEXT);
    return bytes && sessionFromJson(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new UsageError(
      `${file} does not hold a session sealed with this storage key (${(error as Error).message})`,
    );
  }
}

export function writeTlsSessionFile(file: string, key: Uint8Array, session: TlsSession): void {
  writeSealedFile(file, key, TLS_CONTEXT, utf8(sessionToJson(session)));
}

/** What a DTLS session file holds: the session and the server it was made with. */
interface DtlsSessionRecord {
  server: string;
  sessionId: string;
  masterSecret: string;
  cipherSuite: number;
  servername?: string;
  peerChain: string[];
  authorized: boolean;
  createdAt: number;
}

export function dtlsSessionToJson(server: string, session: DtlsSession): string {
  const record: DtlsSessionRecord = {
    server,
    sessionId: bytesToHex(session.sessionId),
    masterSecret: bytesToHex(session.masterSecret),
    cipherSuite: session.cipherSuite,
    ...(session.servername !== undefined ? { servername: session.servername } : {}),
    peerChain: session.peerChain.map((der) => bytesToHex(der)),
    authorized: session.authorized,
    createdAt: session.createdAt,
  };
  return JSON.stringify(record);
}

const isHex = (v: unknown): v is string => typeof v === 'string' && /^([0-9A-Fa-f]{2})*$/.test(v);

/** The session of a DTLS session file's JSON, and its server; a TypeError when a field is missing or wrong. */
export function dtlsSessionFromJson(text: string): { server: string; session: DtlsSession } {
  const r = JSON.parse(text) as Partial<DtlsSessionRecord>;
  if (
    typeof r.server !== 'string' ||
    !isHex(r.sessionId) ||
    r.sessionId.length < 2 ||
    r.sessionId.length > 64 || // RFC 5246 §7.4.1.2: at most 32 bytes
    !isHex(r.masterSecret) ||
    r.masterSecret.length !== 96 || // 48 bytes (RFC 5246 §8.1)
    !Number.isInteger(r.cipherSuite) ||
    !Array.isArray(r.peerChain) ||
    !r.peerChain.every(isHex) ||
    typeof r.authorized !== 'boolean' ||
    typeof r.createdAt !== 'number' ||
    (r.servername !== undefined && typeof r.servername !== 'string')
  )
    throw new TypeError('not a DTLS session record');
  return {
    server: r.server,
    session: {
      sessionId: hexToBytes(r.sessionId),
      masterSecret: hexToBytes(r.masterSecret),
      cipherSuite: r.cipherSuite!,
      ...(r.servername !== undefined ? { servername: r.servername } : {}),
      peerChain: r.peerChain.map((hex) => hexToBytes(hex)),
      authorized: r.authorized,
      createdAt: r.createdAt,
    },
  };
}

/**
 * The DTLS session kept for `server` (host:port), offered for an abbreviated handshake. A file that
 * does not open with this storage key (altered, another key), or holds another server's session, is
 * refused: `warn` hears why, and the handshake is a full one (whose session then replaces it).
 */
export function readDtlsSessionFile(
  file: string,
  key: Uint8Array,
  server: string,
  warn: (message: string) => void,
): DtlsSession | undefined {
  let bytes: Uint8Array | undefined;
  try {
    bytes = readSealedFile(file, key, DTLS_CONTEXT);
    if (!bytes) return undefined;
    const kept = dtlsSessionFromJson(new TextDecoder().decode(bytes));
    if (kept.server !== server) {
      warn(`${file} keeps a session with ${kept.server}, not ${server}: a full handshake`);
      return undefined;
    }
    return kept.session;
  } catch (error) {
    warn(
      `${file} refused: not a DTLS session sealed with this storage key (${(error as Error).message}); a full handshake`,
    );
    return undefined;
  } finally {
    bytes?.fill(0);
  }
}

export function writeDtlsSessionFile(
  file: string,
  key: Uint8Array,
  server: string,
  session: DtlsSession,
): void {
  const bytes = utf8(dtlsSessionToJson(server, session));
  try {
    writeSealedFile(file, key, DTLS_CONTEXT, bytes);
  } finally {
    bytes.fill(0);
  }
}
