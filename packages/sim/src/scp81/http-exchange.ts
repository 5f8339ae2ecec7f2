// The admin agent's side of the HTTP dialog (GP Amd B §3.4–3.5) over its TLS stream: one POST, one
// response, on the same connection until the server ends the session. Requests leave in writes of at
// most the card's record size, so no record the card sends is larger than its max_fragment_length.
import type { Duplex } from 'node:stream';
import {
  type AdminRequest,
  concatBytes,
  encodeAdminRequest,
  type HttpResponse,
  parseHttpResponse,
  type ResponseLimits,
} from '@iotsafe/protocol';

/** The server did not answer in time, or the connection ended or failed before a whole response came. */
export class AdminTransportError extends Error {
  override name = 'AdminTransportError';
}

export class HttpExchange {
  private buffer: Uint8Array = new Uint8Array(0);
  private ended = false;
  private failure?: Error;
  private waiter?: () => void;

  constructor(
    private readonly stream: Duplex,
    private readonly options: { recordSize: number; responseTimeoutMs: number; limits?: ResponseLimits },
  ) {
    stream.on('data', (chunk: Uint8Array) => {
      this.buffer = concatBytes(this.buffer, chunk);
      this.waiter?.();
    });
    stream.on('end', () => {
      this.ended = true;
      this.waiter?.();
    });
    stream.on('error', (error: Error) => {
      this.failure = error;
      this.waiter?.();
    });
    stream.on('close', () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  /** POSTs `request` and waits for its response; bytes after it stay for the next one. */
  async post(request: AdminRequest): Promise<HttpResponse> {
    const bytes = encodeAdminRequest(request);
    const size = this.options.recordSize;
    for (let at = 0; at < bytes.length; at += size) {
      if (this.failure || this.ended || this.stream.destroyed)
        throw new AdminTransportError(
          `the connection ended before the request went out: ${this.failure?.message ?? 'closed'}`,
        );
      this.stream.write(bytes.subarray(at, at + size));
    }
    return this.response();
  }

  private response(): Promise<HttpResponse> {
    return new Promise<HttpResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new AdminTransportError('the admin server did not answer in time'));
      }, this.options.responseTimeoutMs);
      const check = () => {
        try {
          const parsed = parseHttpResponse(
            this.buffer,
            this.ended || this.failure !== undefined,
            this.options.limits,
          );
          if (parsed) {
            this.buffer = this.buffer.slice(parsed.consumed);
            this.done(timer);
            resolve(parsed.response);
            return;
          }
        } catch (error) {
          this.done(timer);
          reject(error);
          return;
        }
        if (this.failure || this.ended) {
          this.done(timer);
          reject(
            new AdminTransportError(
              `the connection ended before a response: ${this.failure?.message ?? 'closed'}`,
            ),
          );
        }
      };
      this.waiter = check;
      check();
    });
  }

  private done(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.waiter = undefined;
  }
}
