// TLS 1.3 session resumption (RFC 8446 §4.6.1, §2.2): a NewSessionTicket becomes a session the next
// connection offers as a PSK. A resumed handshake needs no signature and no certificate: with the key
// in a SIM, reconnecting costs no APDU at all in sign offload.
import { bytesToHex, concatBytes, FormatError, type HashAlgorithm, hexToBytes } from '@iotsafe/protocol';
import { expandLabel } from './key-schedule.js';

/**
 * What a client keeps to resume: the ticket and the resumption PSK (a secret: store it as one), with
 * what the first handshake established. Plain data, so it can be saved and restored.
 */
export interface TlsSession {
  /** The cipher suite of the first handshake: the PSK is bound to its hash. */
  cipherSuite: number;
  hash: HashAlgorithm;
  ticket: Uint8Array;
  psk: Uint8Array;
  /** ticket_age_add and the lifetime the server gave (seconds, at most 7 days). */
  ageAdd: number;
  lifetimeSeconds: number;
  /** When the ticket arrived (ms since the epoch): the base of obfuscated_ticket_age. */
  receivedAt: number;
  /** The name the server was authenticated for, and its chain (DER, leaf first). */
  servername?: string;
  peerChain: Uint8Array[];
}

/** PSK = HKDF-Expand-Label(resumption_master_secret, "resumption", ticket_nonce, Hash.length) (§4.6.1). */
export function resumptionPsk(
  hash: HashAlgorithm,
  resumptionMaster: Uint8Array,
  nonce: Uint8Array,
): Uint8Array {
  return expandLabel(hash, resumptionMaster, 'resumption', nonce, resumptionMaster.length);
}

const MAX_LIFETIME_SECONDS = 604_800; // §4.6.1: servers must not use more than 7 days

/** Whether a session may be offered to `servername` at `now`: unexpired, and for the same name. */
export function sessionUsable(session: TlsSession, servername: string | undefined, now: number): boolean {
  const lifetime = Math.min(session.lifetimeSeconds, MAX_LIFETIME_SECONDS) * 1000;
  return (
    session.servername === servername && now >= session.receivedAt && now < session.receivedAt + lifetime
  );
}

/** obfuscated_ticket_age = (age in ms + ticket_age_add) mod 2^32 (§4.2.11.1). */
export function obfuscatedTicketAge(session: TlsSession, now: number): number {
  return (now - session.receivedAt + session.ageAdd) >>> 0;
}

/** A copy whose byte arrays are fresh, so a caller's later changes cannot reach the connection. */
export function copySession(session: TlsSession): TlsSession {
  return {
    ...session,
    ticket: concatBytes(session.ticket),
    psk: concatBytes(session.psk),
    peerChain: session.peerChain.map((c) => concatBytes(c)),
  };
}

/**
 * The session as JSON text (byte arrays in hex), to keep it across restarts. It holds the resumption
 * PSK: encrypt it at rest (the CLI seals it with the storage key).
 */
export function sessionToJson(session: TlsSession): string {
  return JSON.stringify({
    ...session,
    ticket: bytesToHex(session.ticket),
    psk: bytesToHex(session.psk),
    peerChain: session.peerChain.map((c) => bytesToHex(c)),
  });
}

/** Reads sessionToJson's text back; anything else is a FormatError. */
export function sessionFromJson(text: string): TlsSession {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new FormatError('a TLS session is JSON');
  }
  const isHex = (v: unknown): v is string => typeof v === 'string' && /^([0-9a-fA-F]{2})+$/.test(v);
  const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
  if (
    !isCount(o.cipherSuite) ||
    (o.hash !== 'sha256' && o.hash !== 'sha384') ||
    !isHex(o.ticket) ||
    !isHex(o.psk) ||
    !isCount(o.ageAdd) ||
    !isCount(o.lifetimeSeconds) ||
    !isCount(o.receivedAt) ||
    (o.servername !== undefined && typeof o.servername !== 'string') ||
    !Array.isArray(o.peerChain) ||
    !o.peerChain.every(isHex)
  )
    throw new FormatError('not a TLS session');
  return {
    cipherSuite: o.cipherSuite,
    hash: o.hash,
    ticket: hexToBytes(o.ticket),
    psk: hexToBytes(o.psk),
    ageAdd: o.ageAdd,
    lifetimeSeconds: o.lifetimeSeconds,
    receivedAt: o.receivedAt,
    ...(o.servername !== undefined ? { servername: o.servername } : {}),
    peerChain: o.peerChain.map((c) => hexToBytes(c)),
  };
}
