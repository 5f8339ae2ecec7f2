// Records out over a byte stream, with the stream's backpressure passed on to the writer. Application
// data is sealed straight into output buffers that are reused once the socket has handed them to the
// kernel (no buffer allocated per write, no copy beyond the cipher's output); a stream that may keep
// what it is given (a Transform, a TLS socket under us) gets fresh buffers instead.
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { StreamRecordLayer } from './stream-layer.js';

type Done = (error?: Error | null) => void;
/** What a write of a batch hears back: the batch's last write reports for all. */
const ignore: Done = () => {};

/** Records per output buffer: 4 full records take one 64 KiB write, what a socket takes at once. */
const RECORDS_PER_WRITE = 4;
/** Free output buffers kept for reuse; more are allocated while the socket holds these. */
const POOL_SIZE = 4;

export class RecordWriter {
  private readonly free: Buffer[] = [];
  /** The socket copies what it writes (into the kernel): its buffers may be reused after the callback. */
  private readonly reusable: boolean;

  constructor(
    private readonly stream: Duplex,
    private readonly records: StreamRecordLayer,
  ) {
    this.reusable = stream.constructor === Socket;
  }

  /** Writes records already sealed (a flight, an alert); `done` follows the socket's backpressure. */
  writeSealed(bytes: Buffer, done?: Done): void {
    if (this.closed(done)) return;
    const room = this.stream.write(bytes);
    if (done) this.settle(room, done);
  }

  /** Seals `content` as application data records and writes them, RECORDS_PER_WRITE to a write. */
  writeData(type: number, content: Uint8Array, done: Done): void {
    if (this.closed(done)) return;
    const step = RECORDS_PER_WRITE * this.records.maxFragment;
    let room = true;
    let from = 0;
    do {
      const part = content.subarray(from, from + step);
      from += step;
      const length = this.records.sealedLength(part.length);
      const out = this.take(length);
      const end = this.records.sealInto(type, part, out, 0);
      room = this.reusable ? this.writePooled(out.subarray(0, end), out) : this.stream.write(out);
    } while (from < content.length);
    this.settle(room, done);
  }

  /**
   * Writes a view of a pooled buffer and returns the buffer to the pool once the socket is done with
   * it: at once when the socket wrote everything it holds (nothing left pending), else when its write
   * completes.
   */
  private writePooled(view: Buffer, buffer: Buffer): boolean {
    let returned = false;
    const back = () => {
      if (returned) return;
      returned = true;
      this.give(buffer);
    };
    const room = this.stream.write(view, (error) => {
      if (!error) back();
    });
    if (this.stream.writableLength === 0) back();
    return room;
  }

  /**
   * Writes buffered together (behind a busy or corked socket): runs of small chunks are joined into
   * full records, a chunk of a record or more is sealed as it is; `done` reports the batch.
   */
  writeBatch(type: number, chunks: Buffer[], done: Done): void {
    const parts: Buffer[] = [];
    let run: Buffer[] = [];
    const flush = () => {
      if (run.length > 0) parts.push(run.length === 1 ? run[0]! : Buffer.concat(run));
      run = [];
    };
    for (const chunk of chunks) {
      if (chunk.length >= this.records.maxFragment) {
        flush();
        parts.push(chunk);
      } else run.push(chunk);
    }
    flush();
    const last = parts.pop() ?? Buffer.alloc(0);
    for (const part of parts) this.writeData(type, part, ignore);
    this.writeData(type, last, done);
  }

  private take(length: number): Buffer {
    if (!this.reusable) return Buffer.allocUnsafe(length);
    const pooled = this.free.pop();
    if (pooled && pooled.length >= length) return pooled;
    // Sized for a whole write of full records, so that one buffer fits every later write.
    const full = this.records.sealedLength(RECORDS_PER_WRITE * this.records.maxFragment);
    return Buffer.allocUnsafeSlow(Math.max(length, full));
  }

  private give(buffer: Buffer): void {
    if (this.free.length < POOL_SIZE) this.free.push(buffer);
  }

  private closed(done?: Done): boolean {
    if (!this.stream.destroyed) return false;
    done?.(new Error('the connection is closed'));
    return true;
  }

  /** The writer hears back at once while the socket has room, else once it drains. */
  private settle(room: boolean, done: Done): void {
    if (room) {
      done();
      return;
    }
    const settle = (error?: Error | null) => {
      this.stream.off('drain', settle);
      this.stream.off('close', closed);
      done(error);
    };
    const closed = () => settle(new Error('the connection closed before the data was sent'));
    this.stream.once('drain', settle);
    this.stream.once('close', closed);
  }
}
