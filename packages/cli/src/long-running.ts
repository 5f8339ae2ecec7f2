// What the commands that run until interrupted set up for themselves.
import { moderateHeapGrowth } from '@iotsafe/ota';
import { UsageError } from './session.js';

/**
 * For the commands that run jobs until interrupted (ota serve, ota worker, campaign start --smsc):
 * V8's old generation grown by half between full collections, so that the process's peak follows what
 * it holds rather than V8's headroom (moderateHeapGrowth; $IOTSAFE_HEAP_GROWING_PERCENT, 0: V8's own).
 */
export function moderateLongRunningHeap(): void {
  try {
    moderateHeapGrowth();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
