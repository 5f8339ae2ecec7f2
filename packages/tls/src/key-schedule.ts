// The TLS 1.3 key schedule (RFC 8446 §7.1): HKDF-Expand-Label, Derive-Secret, traffic keys, Finished.
// The Extract steps go through KeyOps, so a SIM can run them (GSMA IoT.05 COMPUTE HKDF; docs/tls.md).
import { createHash, createHmac } from 'node:crypto';
import { concatBytes, type HashAlgorithm, hkdfExpand, utf8 } from '@iotsafe/protocol';
import { u16, vec8 } from './wire.js';

export const HASH_LENGTH: Record<'sha256' | 'sha384', number> = { sha256: 32, sha384: 48 };

/** HKDF-Expand-Label(Secret, Label, Context, Length) with the "tls13 " prefix (§7.1). */
export function expandLabel(
  hash: HashAlgorithm,
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  const info = concatBytes(u16(length), vec8(utf8(`tls13 ${label}`)), vec8(context));
  return hkdfExpand(hash, secret, info, length);
}

/** Derive-Secret(Secret, Label, Messages) = Expand-Label(Secret, Label, Transcript-Hash(Messages), Hash.length). */
export function deriveSecret(
  hash: HashAlgorithm,
  secret: Uint8Array,
  label: string,
  transcriptHash: Uint8Array,
): Uint8Array {
  return expandLabel(hash, secret, label, transcriptHash, transcriptHash.length);
}

export function emptyHash(hash: HashAlgorithm): Uint8Array {
  return new Uint8Array(createHash(hash).digest());
}

export interface TrafficKeys {
  key: Uint8Array;
  iv: Uint8Array;
}

export function trafficKeys(hash: HashAlgorithm, secret: Uint8Array, keyLength: number): TrafficKeys {
  return {
    key: expandLabel(hash, secret, 'key', new Uint8Array(0), keyLength),
    iv: expandLabel(hash, secret, 'iv', new Uint8Array(0), 12),
  };
}

/** verify_data = HMAC(finished_key, Transcript-Hash) with finished_key = Expand-Label(base, "finished", "", H) (§4.4.4). */
export function finishedVerifyData(
  hash: HashAlgorithm,
  baseKey: Uint8Array,
  transcriptHash: Uint8Array,
): Uint8Array {
  const finishedKey = expandLabel(hash, baseKey, 'finished', new Uint8Array(0), transcriptHash.length);
  return new Uint8Array(createHmac(hash, finishedKey).update(transcriptHash).digest());
}

/** The running transcript hash (§4.4.1); a HelloRetryRequest replaces ClientHello1 by message_hash. */
export class Transcript {
  private messages: Uint8Array[] = [];

  constructor(public hash: HashAlgorithm = 'sha256') {}

  add(message: Uint8Array): void {
    this.messages.push(message);
  }

  digest(): Uint8Array {
    return this.digestWith(new Uint8Array(0));
  }

  /** The hash of the transcript followed by `extra` (a PSK binder covers a partial ClientHello). */
  digestWith(extra: Uint8Array): Uint8Array {
    const h = createHash(this.hash);
    for (const m of this.messages) h.update(m);
    h.update(extra);
    return new Uint8Array(h.digest());
  }

  /** Every message so far, in order (a TLS 1.2 CertificateVerify signs them, RFC 5246 §7.4.8). */
  concatenated(): Uint8Array {
    const total = this.messages.reduce((n, m) => n + m.length, 0);
    const out = new Uint8Array(total);
    let offset = 0;
    for (const m of this.messages) {
      out.set(m, offset);
      offset += m.length;
    }
    return out;
  }

  /** After a HelloRetryRequest: ClientHello1 becomes message_hash(Hash(ClientHello1)). */
  replaceWithMessageHash(): void {
    const first = this.messages[0];
    if (!first) return;
    const hash = new Uint8Array(createHash(this.hash).update(first).digest());
    this.messages = [concatBytes(Uint8Array.of(254, 0, 0, hash.length), hash), ...this.messages.slice(1)];
  }
}
