// A rotation server process for the kill test: loads everything, says "loaded", and on "go" (stdin)
// binds to the SMSC and runs the job worker on the shared store — until it is SIGKILLed. A spare
// waits loaded so that a kill is followed by a takeover without the cost of a start.
import { createInterface } from 'node:readline';
import { OtaServer, OtaStore, RotationService, SmppLink } from '@iotsafe/ota';
import { CertificateAuthority } from '@iotsafe/pki';
import { hexToBytes } from '@iotsafe/protocol';
import { rotationWorker } from './rotation-rig.js';

const [storePath, caDir, port, keyHex] = process.argv.slice(2) as [string, string, string, string];
const storageKey = hexToBytes(keyHex);
const lines = createInterface({ input: process.stdin });
process.stdout.write('loaded\n');
lines.once('line', async () => {
  const store = await OtaStore.open(storePath, storageKey);
  const ca = await CertificateAuthority.open(caDir, storageKey);
  const link = await SmppLink.connect({
    host: '127.0.0.1',
    port: Number(port),
    systemId: 'iotsafe',
    password: 'iotsafe',
  });
  const server = new OtaServer(store, link, { worker: false });
  const service = new RotationService(store, storageKey, { ca, pollMs: 10 });
  rotationWorker(store, [server.scp80, service.kind(server.scp80)], { leaseMs: 300 });
  process.stdout.write('running\n');
});
// the parent's end is the child's end (stdin closed: the test is over)
lines.once('close', () => process.exit(0));
