// NSTART (RFC 7252 §4.7): at most that many interactions outstanding with a peer; the others wait
// their turn, in order, and can be aborted while waiting.
import { CoapAbortError } from './errors.js';

export class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async acquire(signal?: AbortSignal): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(turn), 1);
        reject(new CoapAbortError('request aborted', { cause: signal?.reason }));
      };
      const turn = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(turn);
    });
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }

  /** Lets every waiter go (the client is closing: each then finds it closed). */
  releaseAll(): void {
    for (const turn of this.waiting.splice(0)) turn();
  }
}
