// A virtual SIM in vpcd's reader, answered from a worker thread: for PC/SC clients in this process.
// libpcsclite's synchronous calls (SCardDisconnect, SCardListReaders, SCardReleaseContext) block the
// calling thread until pcscd answers, and pcscd may first be polling the card for presence under the
// reader lock; a card answering from that blocked thread never answers, and both wait for ever. In a
// worker the card keeps its own event loop.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { LatencyOptions } from '@iotsafe/sim';

export interface WorkerViccOptions {
  /** vpcd's Unix socket (from startIsolatedPcscd). */
  path: string;
  profile?: 'test' | 'type1';
  personality?: string;
  latency?: LatencyOptions;
}

export interface WorkerVicc {
  remove(): Promise<void>;
  insert(): Promise<void>;
  /** Takes the card out and ends the worker. */
  stop(): Promise<void>;
}

export function insertIntoVpcdInWorker(options: WorkerViccOptions): WorkerVicc {
  // The worker resolves packages to their sources as this process does (the development condition).
  const worker = new Worker(new URL('./vicc-thread.mjs', import.meta.url), {
    workerData: options,
    execArgv: ['--conditions=development'],
  });
  worker.on('error', () => {});
  const ask = async (message: 'insert' | 'remove') => {
    const answered = once(worker, 'message');
    worker.postMessage(message);
    await answered;
  };
  return {
    remove: () => ask('remove'),
    insert: () => ask('insert'),
    stop: async () => {
      await ask('remove');
      await worker.terminate();
    },
  };
}
