// SCP81 benchmark (GP Amd B admin sessions against our AdminServer, in its own process):
// - sessions per second at 1, 10 and 100 concurrent cards, each session a fresh SIM's whole dialog
//   (PSK-TLS handshake, first POST, its GET STATUS script, the result POSTed, 204, close_notify),
//   driven by Node's tls PSK client as the card; p50/p99 per session; the ratio against a bare Node
//   PSK-TLS handshake-and-close loop on the same suites, measured in the same run;
// - the whole chain at 1 and 10 concurrent cards: the trigger SMS (SCP80, through the local SMSC), the
//   virtual SIM's admin agent, the BIP terminal, the card's own PSK-TLS, the script run on the card;
// - one session's wall time under the modem + SIM latency model (modemSimLatency on the BIP terminal's
//   link to the card: every FETCH, TERMINAL RESPONSE, event ENVELOPE and STATUS poll), trigger SMS
//   submitted to the session's end (204), p50 of a few sessions one after another, with the APDUs the
//   card took; the same sessions without the model are the baseline; then with the SMS leg a real
//   network adds (TestNetwork.deliveryDelayMs, SMS_DELAY_MS each way), next to one SCP80 script's round
//   trip (command SMS, PoR SMS) with and without that delay;
// - the server's RSS with 1,000 sessions open (each mid-dialog, its script out).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { type LatencyModel, MemoryTransport, modemSimLatency, runBipTerminal } from '@iotsafe/device';
import { ADMIN_CIPHERS, OtaServer, OtaStore, SmppLink, TestNetwork } from '@iotsafe/ota';
import { encodeAdminTrigger, hexToBytes } from '@iotsafe/protocol';
import { scp80KeySet, VirtualSim } from '@iotsafe/sim';
import { connectCard } from '../packages/ota/test/admin-card.js';
import { TEST_PROFILE } from '../test/helpers/cards.js';
import { printTable } from './harness.js';
import { benchSim } from './scp81-keys.js';

const RESULT_OK = Uint8Array.of(0xaf, 0x80, 0x23, 0x02, 0x90, 0x00, 0x00, 0x00);
const SCRIPTED = [
  { concurrency: 1, sessions: 150 },
  { concurrency: 10, sessions: 600 },
  { concurrency: 100, sessions: 1500 },
];
const CHAIN = [
  { concurrency: 1, sessions: 5 },
  { concurrency: 10, sessions: 20 },
];
/** Sessions, one at a time, with and without the latency model. */
const LATENCY_SESSIONS = 5;
/** A typical SMS delivery (2–5 s on live networks), each way; sessions and round trips run with it. */
const SMS_DELAY_MS = 3000;
const DELAYED_SESSIONS = 3;
const GET_STATUS_ISD = hexToBytes('80F28002024F0000');
const OPEN = 1000;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

interface Run {
  perSecond: number;
  p50: number;
  p99: number;
}

async function run(concurrency: number, total: number, session: () => Promise<void>): Promise<Run> {
  const times: number[] = [];
  let left = total;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left > 0) {
        left--;
        const t = performance.now();
        await session();
        times.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return { perSecond: total / elapsed, p50: at(0.5), p99: at(0.99) };
}

/** One admin session as a card speaks it, start to close. */
async function scriptedSession(port: number, i: number): Promise<void> {
  const sim = benchSim(i);
  const card = await connectCard(port, { identity: sim.identity, key: sim.psk });
  const first = await card.post({ uri: `/ram?sim=${sim.iccid}` });
  if (first?.status !== 200) throw new Error(`SIM ${i}: the first POST got ${first?.status}`);
  const next = first.headers.get('x-admin-next-uri') ?? '';
  const last = await card.post({ uri: next, body: RESULT_OK, scriptStatus: 'ok' });
  if (last?.status !== 204) throw new Error(`SIM ${i}: the result POST got ${last?.status}`);
  const { closeNotify } = await card.closed;
  if (!closeNotify) throw new Error(`SIM ${i}: no close_notify`);
}

/** The baseline: a PSK-TLS handshake with the same suites, then the close. */
async function bareHandshake(port: number, i: number): Promise<void> {
  const sim = benchSim(i);
  const socket = connect({
    host: '127.0.0.1',
    port,
    pskCallback: () => ({ identity: sim.identity, psk: Buffer.from(sim.psk) }),
    ciphers: `${ADMIN_CIPHERS}:@SECLEVEL=0`,
    minVersion: 'TLSv1',
    maxVersion: 'TLSv1.2',
    checkServerIdentity: () => undefined,
  });
  socket.on('error', () => {});
  socket.resume();
  await once(socket, 'secureConnect');
  await once(socket, 'close');
}

async function chainBenchmark(
  adminPort: number,
  first: number,
): Promise<{
  runs: { concurrency: number; result: Run }[];
  latency: { model: boolean; smsDelayMs: number; result: Run; apdus: number; porMs: number }[];
  scp80: { smsDelayMs: number; result: Run }[];
  close(): Promise<void>;
}> {
  const KIC = new Uint8Array(16).fill(0x61);
  const KID = new Uint8Array(16).fill(0x62);
  const store = await OtaStore.open(':memory:', new Uint8Array(32).fill(0x5c));
  const network = await TestNetwork.start({ systemId: 'bench', password: 'bench' });
  const link = await SmppLink.connect({
    host: '127.0.0.1',
    port: network.port,
    systemId: 'bench',
    password: 'bench',
  });
  const ota = new OtaServer(store, link, { timeoutMs: 30_000, worker: { idleMs: 5 } });
  const stops: (() => Promise<void>)[] = [];
  let next = first;
  /** A card on the network and behind its BIP terminal; `apdus` counts what reaches it both ways. */
  const card = async (latency?: LatencyModel) => {
    const { iccid, identity, psk } = benchSim(next++);
    const msisdn = `4917${iccid.slice(-8)}`;
    let ended: (() => void) | undefined;
    const sim = VirtualSim.inMemory(TEST_PROFILE, {
      scp81: {
        onSessionEnd: () => ended?.(),
        keys: { psk, dek: new Uint8Array(16).fill(0x44) },
        parameters: {
          address: '127.0.0.1',
          port: adminPort,
          host: 'admin.bench',
          agentId: `//se-id/iccid/${iccid}`,
          uri: `/ram?sim=${iccid}`,
          pskIdentity: identity,
          retry: { counter: 0, delaySeconds: 0 },
        },
      },
    });
    sim.isd.keySets.push(scp80KeySet(1, { kic: KIC, kid: KID }));
    /** APDUs in all, and how many before the trigger's SMS-PP download (the terminal's idle polls). */
    const counted = { apdus: 0, beforeTrigger: undefined as number | undefined };
    const counting = {
      transmit: (command: Uint8Array) => {
        if (command[1] === 0xc2 && counted.beforeTrigger === undefined) counted.beforeTrigger = counted.apdus;
        counted.apdus++;
        return sim.card.transmit(command);
      },
    };
    // the handset's SMS-PP download: counted, outside the latency model (the network's delay is the SMS's)
    network.attach(msisdn, counting);
    const terminal = await runBipTerminal(new MemoryTransport(counting, latency), {
      wake: (notify) => sim.card.toolkit.onPending(notify),
      pollIntervalMs: 50,
    });
    stops.push(() => terminal.stop());
    await store.sims.add({ iccid, msisdn });
    await store.sims.putKeySet(iccid, { kvn: 1, kicByte: 0x12, kidByte: 0x12, kic: KIC, kid: KID });
    const nextEnd = () => new Promise<void>((resolve) => (ended = resolve));
    return { iccid, sim, counted, nextEnd };
  };
  const session = async ({ iccid, sim }: Awaited<ReturnType<typeof card>>) => {
    const trigger = await ota.send({
      sim: iccid,
      tar: '000000',
      script: encodeAdminTrigger(),
      spi: '1619',
    });
    if (trigger.por?.status !== 0) throw new Error(`the trigger to ${iccid} got ${trigger.por?.status}`);
    await sim.admin.idle();
    const session = sim.admin.sessions.at(-1);
    if (session?.outcome !== 'completed') throw new Error(`${iccid}: ${session?.outcome} ${session?.error}`);
  };
  /** Trigger submitted → the session's end (204), and → the trigger's PoR back at the server. */
  const timedSession = async (one: Awaited<ReturnType<typeof card>>) => {
    const end = one.nextEnd();
    const t = performance.now();
    let porMs = 0;
    const trigger = ota
      .send({ sim: one.iccid, tar: '000000', script: encodeAdminTrigger(), spi: '1619' })
      .finally(() => (porMs = performance.now() - t));
    await end;
    const sessionMs = performance.now() - t;
    const apdus = one.counted.apdus - (one.counted.beforeTrigger ?? 0); // from the trigger's ENVELOPE to 204
    const { por } = await trigger;
    if (por?.status !== 0) throw new Error(`the trigger to ${one.iccid} got ${por?.status}`);
    const record = one.sim.admin.sessions.at(-1);
    if (record?.outcome !== 'completed') throw new Error(`${one.iccid}: ${record?.outcome} ${record?.error}`);
    return { sessionMs, porMs, apdus };
  };
  const runs = [];
  for (const { concurrency, sessions } of CHAIN) {
    const cards = await Promise.all(Array.from({ length: sessions }, () => card()));
    const result = await run(concurrency, sessions, () => session(cards.pop()!));
    runs.push({ concurrency, result });
  }
  const latency = [];
  for (const [model, smsDelayMs, sessions] of [
    [false, 0, LATENCY_SESSIONS],
    [true, 0, LATENCY_SESSIONS],
    [true, SMS_DELAY_MS, DELAYED_SESSIONS],
  ] as const) {
    network.deliveryDelayMs = smsDelayMs;
    const times: number[] = [];
    const pors: number[] = [];
    const apdus: number[] = [];
    for (let i = 0; i < sessions; i++) {
      const one = await card(model ? modemSimLatency() : undefined);
      const timed = await timedSession(one);
      times.push(timed.sessionMs);
      pors.push(timed.porMs);
      apdus.push(timed.apdus);
    }
    const p50 = median(times);
    latency.push({
      model,
      smsDelayMs,
      result: { perSecond: 1000 / p50, p50, p99: Math.max(...times) },
      apdus: median(apdus),
      porMs: median(pors),
    });
  }
  // SCP80 alone: one RAM script (GET STATUS of the ISD) to the same kind of SIM, its PoR back by SMS
  const scp80 = [];
  const one = await card();
  for (const smsDelayMs of [0, SMS_DELAY_MS]) {
    network.deliveryDelayMs = smsDelayMs;
    const times: number[] = [];
    for (let i = 0; i < DELAYED_SESSIONS; i++) {
      const t = performance.now();
      const { por } = await ota.send({ sim: one.iccid, tar: '000000', script: GET_STATUS_ISD, spi: '1619' });
      times.push(performance.now() - t);
      if (por?.status !== 0) throw new Error(`GET STATUS over SCP80 got ${por?.status}`);
    }
    const p50 = median(times);
    scp80.push({ smsDelayMs, result: { perSecond: 1000 / p50, p50, p99: Math.max(...times) } });
  }
  network.deliveryDelayMs = 0;
  return {
    runs,
    latency,
    scp80,
    async close() {
      await ota.close();
      await link.close();
      for (const stop of stops) await stop();
      await network.stop();
      await store.close();
    },
  };
}

export async function scp81Benchmarks(): Promise<void> {
  const scripted = SCRIPTED.reduce((n, r) => n + r.sessions, 0);
  // every card of the chain takes a SIM of its own (the SCP80 one too)
  const chained = CHAIN.reduce((n, r) => n + r.sessions, 0) + 2 * LATENCY_SESSIONS + DELAYED_SESSIONS + 1;
  const sims = scripted + chained + OPEN;
  const server = spawn(
    process.execPath,
    [
      '--conditions=development',
      '--expose-gc',
      '--import',
      'tsx',
      fileURLToPath(new URL('./scp81-server.ts', import.meta.url)),
    ],
    { env: { ...process.env, SCP81_SIMS: String(sims) }, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines: string[] = [];
  let waiting: (() => void) | undefined;
  let partial = '';
  server.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    waiting?.();
  });
  const line = async () => {
    while (lines.length === 0) await new Promise<void>((resolve) => (waiting = resolve));
    return lines.shift()!;
  };
  const rss = async () => {
    server.stdin!.write('rss\n');
    return JSON.parse(await line()) as { rss: number; open: number };
  };
  const ports = JSON.parse(await line()) as { admin: number; bare: number };
  const rows = [];
  const ms = (n: number) => n.toFixed(1);
  try {
    let sim = 0;
    for (const { concurrency, sessions } of SCRIPTED) {
      const bare = await run(concurrency, sessions, () => bareHandshake(ports.bare, 0));
      const admin = await run(concurrency, sessions, () => scriptedSession(ports.admin, sim++));
      rows.push({
        name: `bare PSK-TLS handshake, ${concurrency} concurrent (baseline)`,
        value: bare.perSecond.toFixed(0),
        unit: `/s (p50 ${ms(bare.p50)} ms, p99 ${ms(bare.p99)} ms)`,
      });
      rows.push({
        name: `admin session, ${concurrency} concurrent card(s)`,
        value: admin.perSecond.toFixed(0),
        unit: `/s (p50 ${ms(admin.p50)} ms, p99 ${ms(admin.p99)} ms)`,
        ratio: `${(admin.perSecond / bare.perSecond).toFixed(2)}×`,
        ...(concurrency === 100 ? { target: '≥ 100/s' } : {}),
      });
    }
    const chain = await chainBenchmark(ports.admin, sim);
    sim += chained;
    for (const { concurrency, result } of chain.runs)
      rows.push({
        name: `trigger SMS → agent → BIP → session, ${concurrency} concurrent virtual SIM(s)`,
        value: result.perSecond.toFixed(1),
        unit: `/s (p50 ${ms(result.p50)} ms, p99 ${ms(result.p99)} ms)`,
      });
    const baseline = chain.latency[0]!.result.p50;
    for (const { model, smsDelayMs, result, apdus, porMs } of chain.latency) {
      const sessions = smsDelayMs ? DELAYED_SESSIONS : LATENCY_SESSIONS;
      const conditions = !model
        ? 'no latency model, SMS at once (baseline)'
        : smsDelayMs
          ? `modem + SIM latency model, SMS delivered in ${smsDelayMs / 1000} s`
          : 'modem + SIM latency model, SMS at once';
      rows.push({
        name: `SCP81: one session, trigger SMS → BIP → PSK-TLS → GET STATUS → 204: ${conditions}`,
        value: ms(result.p50),
        unit: `ms p50 of ${sessions} (max ${ms(result.p99)} ms; the trigger's PoR back at ${ms(porMs)} ms), ${apdus} APDUs on the card`,
        ...(model ? { ratio: `${(result.p50 / baseline).toFixed(1)}×` } : {}),
      });
    }
    const scp80Baseline = chain.scp80[0]!.result.p50;
    const scp81Delayed = chain.latency.find((l) => l.smsDelayMs > 0)!.result.p50;
    for (const { smsDelayMs, result } of chain.scp80)
      rows.push({
        name: `SCP80: one script, command SMS → card → PoR SMS (GET STATUS): ${smsDelayMs ? `SMS delivered in ${smsDelayMs / 1000} s each way` : 'SMS at once (baseline)'}`,
        value: ms(result.p50),
        unit: `ms p50 of ${DELAYED_SESSIONS} (max ${ms(result.p99)} ms)${smsDelayMs ? `; the SCP81 session above, same delay: ${(scp81Delayed / result.p50).toFixed(2)}× this` : ''}`,
        ...(smsDelayMs ? { ratio: `${(result.p50 / scp80Baseline).toFixed(1)}×` } : {}),
      });
    await chain.close();

    const idle = await rss();
    const cards = [];
    for (let i = 0; i < OPEN; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, OPEN - i) }, async (_, k) => {
          const s = benchSim(sim + i + k);
          const card = await connectCard(ports.admin, { identity: s.identity, key: s.psk });
          const first = await card.post({ uri: `/ram?sim=${s.iccid}` }); // its script out, no answer yet
          if (first?.status !== 200) throw new Error(`open session ${i + k}: ${first?.status}`);
          return card;
        }),
      );
      cards.push(...batch);
    }
    const loaded = await rss();
    if (loaded.open < OPEN) throw new Error(`only ${loaded.open} sessions open`);
    for (const card of cards) card.close();
    const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
    rows.push({ name: 'admin server RSS, idle (after the runs above)', value: mib(idle.rss), unit: 'MiB' });
    rows.push({
      name: `admin server RSS, ${OPEN} sessions open`,
      value: mib(loaded.rss),
      unit: `MiB (${((loaded.rss - idle.rss) / OPEN / 1024).toFixed(1)} KiB per session)`,
      target: '≤ 200 MB',
    });
  } finally {
    server.stdin!.end();
    await once(server, 'exit');
  }
  printTable('SCP81 admin server (GP Amd B over PSK-TLS, server in its own process)', rows);
}
