// The server side of the SCP81 benchmark, in its own process so that its memory and CPU are its own:
// our AdminServer on a SQLite store of SCP81_SIMS SIMs (each with its TLS-PSK, sealed, and one GET
// STATUS script queued, so every session is a fresh SIM's), and beside it a bare Node PSK-TLS server
// with the same suites that only handshakes and closes (the baseline). TEST keys only. The ports go to
// stdout as one JSON line; each line on stdin is answered with the process's RSS in bytes.
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import tls from 'node:tls';
import { ADMIN_CIPHERS, AdminServer, OtaStore } from '@iotsafe/ota';
import { encodeExpandedScript, hexToBytes } from '@iotsafe/protocol';

import { benchSim } from './scp81-keys.js';

const sims = Number(process.env.SCP81_SIMS ?? 1000);
const GET_STATUS = encodeExpandedScript([hexToBytes('80F24002024F0000')], true);

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-bench-scp81-'));
const store = await OtaStore.open(join(dir, 'ota.db'), new Uint8Array(32).fill(0x5c), { create: true });
const entries = Array.from({ length: sims }, (_, i) => benchSim(i)).map((s) => ({
  sim: { iccid: s.iccid, pskIdentity: s.identity },
  psk: s.psk,
}));
for (let i = 0; i < entries.length; i += 500) await store.sims.addMany(entries.slice(i, i + 500));
for (const { sim } of entries) await store.admin.push(sim.iccid, { script: GET_STATUS });
const admin = await AdminServer.start(store, { keyReloadMs: 3_600_000, idleTimeoutMs: 600_000 });

const bare = tls.createServer(
  {
    pskCallback: (_socket, identity) => {
      const i = Number(/^bench-(\d+)$/.exec(identity)?.[1] ?? Number.NaN);
      return Number.isInteger(i) ? Buffer.from(benchSim(i).psk) : null;
    },
    ciphers: `${ADMIN_CIPHERS}:@SECLEVEL=0`,
    minVersion: 'TLSv1',
    maxVersion: 'TLSv1.2',
  },
  (socket) => {
    socket.on('error', () => {});
    socket.end();
  },
);
bare.on('tlsClientError', () => {});
await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
process.stdout.write(
  `${JSON.stringify({ admin: admin.port, bare: (bare.address() as AddressInfo).port })}\n`,
);

const lines = createInterface({ input: process.stdin });
lines.on('line', () => {
  globalThis.gc?.();
  process.stdout.write(`${JSON.stringify({ rss: process.memoryUsage().rss, open: admin.stats.open })}\n`);
});
lines.on('close', async () => {
  bare.close();
  await admin.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
