// The worker side of test/helpers/vicc-worker.ts: a virtual SIM built from workerData, inserted into
// vpcd, taken out and put back on request.
import { parentPort, workerData } from 'node:worker_threads';
import { type InsertedCard, insertIntoVpcd, TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { TEST_PROFILE } from './cards.js';
import type { WorkerViccOptions } from './vicc-worker.js';

const options = workerData as WorkerViccOptions;
const sim = VirtualSim.inMemory(options.profile === 'type1' ? TYPE1_PROFILE : TEST_PROFILE, {
  personality: options.personality ?? 'reference',
});
const insert = () =>
  insertIntoVpcd(sim.card, { path: options.path, ...(options.latency ? { latency: options.latency } : {}) });
let inserted: InsertedCard | undefined = insert();

parentPort!.on('message', async (message: 'insert' | 'remove') => {
  if (message === 'remove') {
    await inserted?.remove();
    inserted = undefined;
  } else inserted ??= insert();
  parentPort!.postMessage(message);
});
