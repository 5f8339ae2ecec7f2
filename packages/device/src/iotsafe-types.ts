// The IoT SAFE client's options, inputs, results and errors (GSMA IoT.05), apart from the client itself.
import {
  type ClassKind,
  type HashAlgorithm,
  hexToBytes,
  type ObjectRef,
  type SignMode,
  StatusWordError,
  SW,
} from '@iotsafe/protocol';
import type { GetResponseClass } from './apdu-pump.js';
import type { TraceSink } from './trace.js';

/** Addresses an object by its ID (hex text or bytes). */
export const byId = (id: string | Uint8Array): ObjectRef => ({
  id: typeof id === 'string' ? hexToBytes(id) : id,
});
/** Addresses an object by its label. */
export const byLabel = (label: string): ObjectRef => ({ label });

export interface SessionNumbers {
  sign: number;
  verify: number;
  putPublicKey: number;
}

export interface IoTSafeOptions {
  /** AIDs to try in order; defaults to the GSMA AID, then the Thales MVP and the early vendor AID. */
  aids?: readonly Uint8Array[];
  /** Open a logical channel (falls back to the basic channel when the card refuses). Default true. */
  logicalChannel?: boolean;
  /** CLA family for IoT SAFE commands: 8N, 0N, or 8N falling back to 0N on 6E00 ('auto', default). */
  classes?: ClassKind | 'auto';
  getResponseClass?: GetResponseClass;
  /** Session numbers per command family (ZARIOT: 01 sign, 02 verify). */
  sessions?: Partial<SessionNumbers>;
  /** Le for READ FILE (lower it for modems that truncate long answers; Orange uses 50). */
  readChunk?: number;
  /** Data bytes per UPDATE APDU. */
  updateChunk?: number;
  /** Length encoding of full-text data (tag 9B): BER (default) or a fixed 3 bytes (Kigen). */
  fullTextLength?: 'ber' | 'fixed3';
  /** Close a numbered session before opening it (Orange/Kigen style); default: only after a 6985. */
  closeBeforeOpen?: boolean;
  /**
   * How a session ends after a successful operation (docs/personalities.md; IoT.05 is not public on this):
   * - 'close' (default): INIT close after the final UPDATE, as the Orange, Kigen and wolfSSL clients do;
   * - 'lastUpdate': the final UPDATE ends it, as the Thales middleware assumes — one APDU less per
   *   operation. If the card then refuses an INIT open, the sessions left open are closed, the open is
   *   retried, and this client falls back to 'close' for good.
   */
  sessionEnd?: 'close' | 'lastUpdate';
  /** Longest answer the link carries intact (Sequans modems cut longer ones): see PumpOptions. */
  maxResponseData?: number;
  /** Curve size in bytes, for signature lengths (32 for P-256 and brainpoolP256r1). */
  curveSize?: number;
  /**
   * 6984 (GSMA IoT.05: objects being updated by a remote administration session, e.g. a credential
   * rotation): the command is sent again after `intervalMs` (doubling, at most 1 s) until `timeoutMs`
   * have passed, then a CardBusyError. Default 15 s and 100 ms; false: 6984 is answered at once.
   */
  busyWait?: { timeoutMs?: number; intervalMs?: number } | false;
  trace?: TraceSink;
}

/** The applet stayed busy (6984: a remote administration session updating it) past IoTSafeOptions.busyWait. */
export class CardBusyError extends StatusWordError {
  override name = 'CardBusyError';
  constructor(
    commandName: string,
    readonly waitedMs: number,
  ) {
    super(SW.REFERENCED_DATA_INVALIDATED, commandName);
    this.message = `${commandName}: the applet is being updated by a remote administration session (6984) and stayed so for ${waitedMs} ms`;
  }
}

export interface SignOptions {
  hash?: HashAlgorithm;
  /** padAndSign (default; the host hashes), fullText (the card hashes everything), lastBlock. */
  mode?: SignMode;
  /**
   * Leave the session's INIT close for later (endDeferredSessions, or before the next operation): the
   * signature is back one APDU sooner, as a TLS client wants while a handshake waits on it.
   */
  deferSessionEnd?: boolean;
  /** A session IoTSafe.openSignature opened ahead: used when key, hash and mode match, else closed. */
  opened?: OpenedSignature;
}

/** A COMPUTE SIGNATURE session whose INIT has gone ahead of its UPDATE (IoTSafe.openSignature). */
export interface OpenedSignature {
  readonly key: ObjectRef;
  readonly hash: HashAlgorithm;
  readonly mode: SignMode;
}

export type SignPayload = { message: Uint8Array } | { digest: Uint8Array };

export type PrfInput =
  | { mode: 'general'; secret: Uint8Array; label: string | Uint8Array; seed: Uint8Array; length: number }
  | { mode: 'psk'; secret: ObjectRef; label: string | Uint8Array; seed: Uint8Array; length: number }
  | {
      mode: 'ecdhePsk';
      secret: ObjectRef;
      otherSecret: Uint8Array;
      label: string | Uint8Array;
      seed: Uint8Array;
      length: number;
    };

export type HkdfInput =
  | { ikm: Uint8Array; salt: Uint8Array; hash?: HashAlgorithm }
  | { secret: ObjectRef; salt: Uint8Array; hash?: HashAlgorithm };

export interface GeneratedKeyPair {
  /** Where the applet put the halves: it may change the public key ID (docs/personalities.md). */
  privateKey: ObjectRef;
  publicKey: ObjectRef;
  /** Uncompressed point 04 ‖ X ‖ Y. */
  point: Uint8Array;
}

/** No IoT SAFE applet answered SELECT on any of the AIDs tried. */
export class AppletNotFoundError extends StatusWordError {
  override name = 'AppletNotFoundError';
}
