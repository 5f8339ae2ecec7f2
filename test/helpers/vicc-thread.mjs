// Worker entry for vicc-worker.ts: Node 20 workers do not run the parent's --import hooks, so tsx is
// registered in this thread before the TypeScript side loads.
import { register } from 'tsx/esm/api';

register();
await import('./vicc-thread.ts');
