// Duplicate detection (RFC 7252 §4.5): a message ID seen from a peer within EXCHANGE_LIFETIME
// (Confirmable) or NON_LIFETIME (Non-confirmable) is a duplicate; for a Confirmable one the reply
// sent the first time (ACK or RST) is sent again instead of processing it twice.

interface Entry {
  expires: number;
  reply?: Uint8Array;
}

export class DuplicateCache<Key = number> {
  private readonly entries = new Map<Key, Entry>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** The entry of a message seen before and not yet expired. */
  lookup(key: Key): { reply?: Uint8Array } | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  remember(key: Key, lifetime: number, reply?: Uint8Array): void {
    const now = this.now();
    this.entries.delete(key); // keep insertion order = expiry order for equal lifetimes
    this.entries.set(key, reply ? { expires: now + lifetime, reply } : { expires: now + lifetime });
    // Sweep expired entries from the oldest end, a few at a time, so memory stays bounded.
    let swept = 0;
    for (const [k, entry] of this.entries) {
      if (entry.expires > now || swept++ > 8) break;
      this.entries.delete(k);
    }
  }

  /** Sets the reply of a remembered message (the ACK of a response accepted later). */
  setReply(key: Key, reply: Uint8Array): void {
    const entry = this.entries.get(key);
    if (entry) entry.reply = reply;
  }

  get size(): number {
    return this.entries.size;
  }
}
