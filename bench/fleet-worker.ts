// One OTA worker process of the fleet bench (forked by bench/fleet.ts, IPC channel): opens the store
// (a SQLite file or a PostgreSQL URL), binds to the bench's SMSC, runs a job worker over paced binds,
// and samples its own memory while it works. Reports 'ready'; on 'stop' closes everything, reports
// what it ran and its peak memory, and exits. It exits too when the parent goes away. It sets V8's
// heap growth as `iotsafe ota worker` does (moderateHeapGrowth) unless told to keep V8's own. With
// BENCH_HEAP_PROMOTED=dir it writes a sampling heap profile of what it allocated from ready to stop
// that outlived the young generation's collections (live at the end, or freed by a full collection
// only): the garbage that fills the old generation, by allocating function (Chrome DevTools opens it).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { moderateHeapGrowth, OtaServer, OtaStore, PacedSmsLink, SmppLink } from '@iotsafe/ota';
import { hexToBytes } from '@iotsafe/protocol';
import { CREDENTIALS } from '../packages/ota/test/rig.js';

export interface WorkerStart {
  store: string;
  storageKey: string;
  port: number;
  /** Submits per second over this worker's bind (undefined: no limit). */
  tps?: number;
  /** SMS the pacer may send back to back to catch up (PacingOptions.burst; default 1). */
  burst?: number;
  window: number;
  concurrency: number;
  /** Items the job has (for the live-heap probes; 0: no probe). */
  sims: number;
  /** moderateHeapGrowth's percent (0: V8's own growth; undefined: its default, as the CLI runs). */
  heapGrowingPercent?: number;
}

export interface WorkerDone {
  type: 'done';
  items: number;
  steps: number;
  submitted: number;
  throttled: number;
  /** CPU time of this process (user + system) from ready to stop, ms. */
  cpuMs: number;
  /** SQL statements, transactions and commits this worker's store ran from ready to stop. */
  statements: number;
  transactions: number;
  commits: number;
  /** Peak over the run (its first 90 %, see liveHeapDelta) less the size when ready, bytes. */
  peakRssDelta: number;
  peakHeapDelta: number;
  /**
   * What the worker holds while it runs, not the garbage V8 lets pile up between collections: the
   * heap over ready right after a full GC forced 90 % of `sims` items in, bytes. The peaks above are
   * sampled up to that point.
   */
  liveHeapDelta: number;
  /** The heap growing percent in force (0: V8's own). */
  heapGrowingPercent: number;
}

// Samples every 4 KiB allocated, leaving out what a scavenge freed (it never reached the old space).
async function profilePromoted(): Promise<(file: string) => Promise<void>> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: false,
  } as { samplingInterval: number });
  return async (file) => {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}

if (process.send) {
  process.on('disconnect', () => process.exit(0));
  process.once('message', async (start: WorkerStart) => {
    const heapGrowingPercent = moderateHeapGrowth(start.heapGrowingPercent);
    const store = await OtaStore.open(start.store, hexToBytes(start.storageKey));
    const bind = await SmppLink.connect({ host: '127.0.0.1', port: start.port, ...CREDENTIALS });
    const paced = new PacedSmsLink([bind], {
      window: start.window,
      ...(start.tps === undefined ? {} : { tps: start.tps }),
      ...(start.burst === undefined ? {} : { burst: start.burst }),
    });
    const server = new OtaServer(store, paced, {
      timeoutMs: 10_000,
      worker: { idleMs: 5, concurrency: start.concurrency },
    });
    global.gc?.();
    const base = process.memoryUsage();
    let peakRss = base.rss;
    let peakHeap = base.heapUsed;
    let liveHeap = 0;
    let probed = start.sims === 0;
    const sampler = setInterval(() => {
      if (probed) return;
      const now = process.memoryUsage();
      peakRss = Math.max(peakRss, now.rss);
      peakHeap = Math.max(peakHeap, now.heapUsed);
      // the forced GC would hide the garbage the peak is made of: the peaks stop here
      if (server.worker!.stats.items >= start.sims * 0.9) {
        probed = true;
        global.gc?.();
        liveHeap = process.memoryUsage().heapUsed - base.heapUsed;
      }
    }, 20);
    const promotedDir = process.env.BENCH_HEAP_PROMOTED;
    const stopProfile = promotedDir ? await profilePromoted() : undefined;
    const cpu = process.cpuUsage();
    const sql = { ...store.engine.stats };
    process.send?.({ type: 'ready' });
    process.on('message', async (message: { type: 'stop' }) => {
      if (message.type !== 'stop') return;
      clearInterval(sampler);
      const used = process.cpuUsage(cpu);
      await stopProfile?.(join(promotedDir!, `promoted-${process.pid}.heapprofile`));
      const ran = store.engine.stats;
      const stats = server.worker!.stats;
      await server.close();
      await paced.close();
      await store.close();
      const done: WorkerDone = {
        type: 'done',
        items: stats.items,
        steps: stats.steps,
        submitted: paced.stats.submitted,
        throttled: paced.stats.throttled,
        cpuMs: (used.user + used.system) / 1000,
        statements: ran.statements - sql.statements,
        transactions: ran.transactions - sql.transactions,
        commits: ran.commits - sql.commits,
        peakRssDelta: peakRss - base.rss,
        peakHeapDelta: peakHeap - base.heapUsed,
        liveHeapDelta: liveHeap,
        heapGrowingPercent,
      };
      process.send?.(done, () => process.exit(0));
    });
  });
}
