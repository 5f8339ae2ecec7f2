// The memory a socket we open reads into, reused read after read: what is left of a record at the end
// of a read is moved to the front and the next read lands right behind it, so every record is framed
// and opened in place, whole, with no buffer allocated and no record copied piecewise.
import { MAX_PLAINTEXT } from '../constants.js';

/** A record's header and its longest body, MAC-then-encrypt's 2^14 + 2048 (RFC 5246 §6.2.3). */
const MAX_RECORD = 5 + MAX_PLAINTEXT + 2048;

export class ReadArena {
  private readonly memory: Uint8Array;
  /** Bytes at the front kept from the last read (the start of a record). */
  private kept = 0;

  constructor(private readonly readLength: number) {
    this.memory = new Uint8Array(readLength + MAX_RECORD);
  }

  /** Where the next read lands: right behind what was kept (net.connect's onread.buffer). */
  next(): Uint8Array {
    return this.memory.subarray(this.kept, this.kept + this.readLength);
  }

  /**
   * Keeps `rest` (a view of this memory: the unframed tail of the last reads) by moving it to the
   * front; returns it there, or undefined when it is not this memory's or too long to keep (the caller
   * copies it then, and the next read starts at the front).
   */
  keep(rest: Uint8Array): Uint8Array | undefined {
    this.kept = 0;
    if (rest.buffer !== this.memory.buffer || rest.length > MAX_RECORD) return undefined;
    const from = rest.byteOffset - this.memory.byteOffset;
    this.memory.copyWithin(0, from, from + rest.length);
    this.kept = rest.length;
    return this.memory.subarray(0, rest.length);
  }
}
