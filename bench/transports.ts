// Transport benchmark: round-trip time and APDUs/s of one IoT SAFE GET RANDOM(16) through each
// transport (memory, TCP, PC/SC via pcscd+vpcd, the emulated modem on a pty), against memory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AtModemTransport,
  IoTSafe,
  MemoryTransport,
  PcscTransport,
  TcpTransport,
  type Transport,
} from '@iotsafe/device';
import { type LatencyOptions, serveModem, serveTcp, TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { startIsolatedPcscd } from '../test/helpers/peers.js';
import { insertIntoVpcdInWorker } from '../test/helpers/vicc-worker.js';
import { measure, printTable, type Result } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-bench-transports-'));
const card = () => VirtualSim.inMemory(TYPE1_PROFILE).card;

async function throughClient(name: string, transport: Transport): Promise<Result> {
  const client = await IoTSafe.connect(transport);
  try {
    return await measure(name, () => client.random(16));
  } finally {
    await client.close();
    await transport.close();
  }
}

async function overModem(name: string, mode: 'csim' | 'cgla', latency?: LatencyOptions): Promise<Result> {
  const served = await serveModem(card(), mkdtempSync(join(dir, 'pty-')), latency ? { latency } : {});
  try {
    return await throughClient(name, await AtModemTransport.open(served.devicePath, { mode }));
  } finally {
    await served.stop();
  }
}

async function overPcsc(): Promise<Result | string> {
  let daemon: Awaited<ReturnType<typeof startIsolatedPcscd>>;
  try {
    daemon = await startIsolatedPcscd(mkdtempSync(join(dir, 'pcscd-')));
  } catch (error) {
    return `not measured: ${(error as Error).message.split('\n')[0]}`;
  }
  process.env.PCSCLITE_CSOCK_NAME = daemon.socket;
  // The card answers from a worker thread: PC/SC's synchronous calls would deadlock with it on this one.
  const inserted = insertIntoVpcdInWorker({ path: daemon.vpcd, profile: 'type1' });
  try {
    let transport: PcscTransport | undefined;
    for (let i = 0; i < 50 && !transport; i++) {
      transport = await PcscTransport.open({ reader: 0 }).catch(() => undefined); // pcscd polls for the card
      if (!transport) await new Promise((r) => setTimeout(r, 100));
    }
    if (!transport) return 'not measured: the card never appeared in the vpcd reader';
    return await throughClient('PC/SC through pcscd + vpcd', transport);
  } finally {
    await inserted.stop();
    await daemon.stop();
  }
}

export async function transportBenchmarks(): Promise<void> {
  const memory = await throughClient('memory (in process)', new MemoryTransport(card()));
  const served = await serveTcp(card());
  const tcp = await throughClient(
    'TCP 127.0.0.1 (vpcd framing)',
    new TcpTransport({ host: '127.0.0.1', port: served.port }),
  );
  await served.stop();
  const pcsc = await overPcsc();
  const csim = await overModem('pty modem AT+CSIM, no link model', 'csim');
  const csim115 = await overModem('pty modem AT+CSIM at 115200 baud', 'csim', { baud: 115_200 });
  const cgla115 = await overModem('pty modem AT+CGLA at 115200 baud', 'cgla', { baud: 115_200 });
  rmSync(dir, { recursive: true, force: true });

  const rtt = (r: Result) =>
    r.microseconds >= 1000 ? `${(r.microseconds / 1000).toFixed(2)} ms` : `${r.microseconds.toFixed(1)} µs`;
  const row = (r: Result) => ({
    name: r.name,
    value:
      r.opsPerSecond >= 1000 ? Math.round(r.opsPerSecond).toLocaleString('en-US') : r.opsPerSecond.toFixed(1),
    unit: `APDU/s (RTT ${rtt(r)})`,
    ratio: `${(r.microseconds / memory.microseconds).toFixed(1)}x`,
  });
  printTable('Transports (GET RANDOM(16) through the IoT SAFE client; ratio = RTT against memory)', [
    row(memory),
    row(tcp),
    typeof pcsc === 'string' ? { name: 'PC/SC through pcscd + vpcd', value: '-', unit: pcsc } : row(pcsc),
    row(csim),
    row(csim115),
    row(cgla115),
  ]);
}
