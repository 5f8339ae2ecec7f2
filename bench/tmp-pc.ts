import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoTSafe, PcscTransport } from '@iotsafe/device';
import { insertIntoVpcd, TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { startIsolatedPcscd } from '../test/helpers/peers.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-dbg-'));
const daemon = await startIsolatedPcscd(mkdtempSync(join(dir, 'pcscd-')));
process.env.PCSCLITE_CSOCK_NAME = daemon.socket;
const inserted = insertIntoVpcd(VirtualSim.inMemory(TYPE1_PROFILE).card, { path: daemon.vpcd });
let transport: PcscTransport | undefined;
let failures = 0;
for (let i = 0; i < 50 && !transport; i++) {
  transport = await PcscTransport.open({ reader: 0 }).catch(() => {
    failures++;
    return undefined;
  });
  if (!transport) await new Promise((r) => setTimeout(r, 100));
}
const client = await IoTSafe.connect(transport!);
for (let i = 0; i < 5; i++) await client.random(16);
await client.close();
await transport!.close();
console.error('closed after', failures, 'failures');
await inserted.remove();
await daemon.stop();
