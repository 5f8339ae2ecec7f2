// A rotation server process for the kill test: loads everything and opens the shared store and the CA,
// says "loaded", and on "go" (stdin) binds to the SMSC and runs the job worker — until it is SIGKILLed.
// A spare waits loaded so that a kill is followed by a takeover without the cost of a start. It imports
// the modules it runs, not the package's index (which brings the HTTP API's server and schemas): the
// kill test starts one of these per kill.
import { createInterface } from 'node:readline';
import { CertificateAuthority } from '@iotsafe/pki';
import { hexToBytes } from '@iotsafe/protocol';
import { JobWorker } from '../src/jobs/worker.js';
import { RotationService } from '../src/rotation/service.js';
import { OtaServer } from '../src/server.js';
import { SmppLink } from '../src/smpp-link.js';
import { OtaStore } from '../src/storage/store.js';

const [storePath, caDir, port, keyHex] = process.argv.slice(2) as [string, string, string, string];
const storageKey = hexToBytes(keyHex);
const lines = createInterface({ input: process.stdin });
// the parent's end is the child's end (stdin closed: the test is over)
lines.once('close', () => process.exit(0));
const store = await OtaStore.open(storePath, storageKey);
const ca = await CertificateAuthority.open(caDir, storageKey);
const service = new RotationService(store, storageKey, { ca, pollMs: 10 });
process.stdout.write('loaded\n');
lines.once('line', async () => {
  const link = await SmppLink.connect({
    host: '127.0.0.1',
    port: Number(port),
    systemId: 'iotsafe',
    password: 'iotsafe',
  });
  const server = new OtaServer(store, link, { worker: false });
  // a short lease: a killed worker's item is taken over 300 ms after its last renewal
  const kinds = [server.scp80, service.kind(server.scp80)];
  new JobWorker(store, kinds, { idleMs: 10, sweepMs: 50, leaseMs: 300 }).start();
  process.stdout.write('running\n');
});
