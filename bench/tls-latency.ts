// TLS on a cellular device: where the SIM's work falls in time. A handshake is split at TCP connected,
// the ServerHello and our Finished; APDUs are counted by when they start. Pipelining (the key share made
// while TCP connects, in sign offload the signature's INIT sent with the ClientHello, the signature session
// closed after our Finished; for a SIM client made per connection, its setup while DNS and TCP run) is
// measured on vs off in the same run, under the modem + SIM latency model and a cellular network model: every segment delayed by half
// the round trip, and a connect that costs DNS plus TCP (two round trips). The cost of reaching the
// applet through SCP03 is measured the same way.
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import {
  byId,
  IoTSafe,
  IoTSafeKeyOps,
  MemoryTransport,
  modemSimLatency,
  type OffloadLevel,
} from '@iotsafe/device';
import { connect, type KeyOps, type TlsClientSocket } from '@iotsafe/tls';
import { testPki } from '../test/helpers/pki.js';
import { simKeyOps } from '../test/helpers/sim-tls.js';
import { printTable } from './harness.js';

const pki = testPki();
/** Round trips of the network model (ms): an LTE-M link in good coverage, and a slow NB-IoT one. */
const ROUND_TRIPS = (process.env.BENCH_RTT_MS ?? '100,600').split(',').map(Number);

async function echoServer(): Promise<{ port: number; close: () => void }> {
  const server = tls.createServer(
    {
      key: pki.server.keyPem,
      cert: pki.server.certificatePem,
      ca: pki.ca.certificatePem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
    },
    (s) => {
      s.on('error', () => {});
      s.on('data', (d) => s.write(d));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

/**
 * The network model: a proxy that delays each segment by rtt / 2 either way, and a socket whose
 * 'connect' comes two round trips after it is asked for (a DNS lookup, then TCP's handshake).
 */
async function cellularNetwork(target: number, rtt: number) {
  const later = (f: () => void) => setTimeout(f, rtt / 2);
  const proxy = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    client.on('data', (d) => later(() => upstream.write(d)));
    upstream.on('data', (d) => later(() => client.write(d)));
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) s.on('close', close).on('error', close);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as AddressInfo).port;
  return {
    socket(): net.Socket {
      const socket = net.connect(port, '127.0.0.1');
      // The TLS client waits for 'connect' on a connecting socket; the model holds that event back, and
      // the socket says it is connecting until then (a client made later must wait for it too).
      let held = true;
      let connecting = socket.connecting;
      Object.defineProperty(socket, 'connecting', {
        get: () => held || connecting,
        set: (value: boolean) => {
          connecting = value;
        },
      });
      const emit = socket.emit.bind(socket);
      socket.emit = ((event: string, ...args: unknown[]) => {
        if (event !== 'connect') return emit(event, ...args);
        setTimeout(() => {
          held = false;
          emit('connect', ...args);
        }, 2 * rtt);
        return true;
      }) as typeof socket.emit;
      return socket;
    },
    close: () => proxy.close(),
  };
}

interface Timed {
  ms: number;
  /** APDUs by phase: before TCP connected, up to our Finished, after it. */
  beforeConnected: number;
  critical: number;
  afterFinished: number;
  total: number;
}

/** One mTLS handshake and round trip; when each APDU started relative to the handshake's steps. */
async function timedHandshake(
  open: () => net.Socket | undefined,
  port: number,
  keyOps: KeyOps,
  starts: number[],
  pipelining: boolean,
): Promise<Timed> {
  starts.length = 0;
  const started = performance.now();
  const socket: TlsClientSocket = connect({
    socket: open() ?? net.connect(port, '127.0.0.1'),
    servername: 'localhost',
    ca: pki.ca.certificatePem,
    minVersion: 'TLSv1.3',
    keyOps,
    pipelining,
  });
  await once(socket, 'secureConnect');
  const ms = performance.now() - started;
  socket.write('x');
  await once(socket, 'data');
  socket.destroy();
  const { connectedAt = 0, finishedSentAt = 0 } = socket.handshakeStats;
  const phase = (from: number, to: number) => starts.filter((t) => t >= from && t < to).length;
  return {
    ms,
    beforeConnected: phase(0, connectedAt),
    critical: phase(connectedAt, finishedSentAt),
    afterFinished: phase(finishedSentAt, Number.POSITIVE_INFINITY),
    total: starts.length,
  };
}

async function client(offload: OffloadLevel, pipelining: boolean, starts: number[], scp03Level?: number) {
  const { keyOps } = await simKeyOps(pki.ca, offload, {
    latency: modemSimLatency(),
    onTransmit: () => starts.push(performance.now()),
    deferSessionEnd: pipelining,
    // TLS 1.3 only is offered: the signature's hash is the curve's (RFC 8446 §4.2.3).
    earlySignatureInit: pipelining ? 'likely' : 'off',
    ...(scp03Level !== undefined ? { scp03Level } : {}),
  });
  return keyOps;
}

/** Full offload with the key share made ahead; `idle` waits until the SIM has made it (the device between connections). */
async function preparedClient(starts: number[]) {
  const { client, keyOps } = await simKeyOps(pki.ca, 'full', {
    latency: modemSimLatency(),
    onTransmit: () => starts.push(performance.now()),
    prepareKeyShare: true,
  });
  return { keyOps, idle: () => client.random(1) };
}

/**
 * Sign offload from "connect now" to secureConnect with the SIM client made for the connection (select,
 * key info, the certificate read from the SIM: what a device that keeps nothing between connections, and
 * the CLI, does). 'off': the setup, then connect, no pipelining; 'overlap': the socket asked for first and
 * the setup while DNS and TCP run, pipelining without the early INIT; 'on': that and the early INIT.
 */
async function setupAndHandshake(
  sim: Awaited<ReturnType<typeof simKeyOps>>['sim'],
  network: Awaited<ReturnType<typeof cellularNetwork>>,
  mode: 'off' | 'overlap' | 'on',
): Promise<number> {
  const started = performance.now();
  const early = mode !== 'off' ? network.socket() : undefined;
  const client = await IoTSafe.connect(new MemoryTransport(sim.card, modemSimLatency()));
  const keyOps = await IoTSafeKeyOps.create(client, {
    privateKey: byId('01'),
    certificateChain: [byId('02')],
    offload: 'sign',
    deferSessionEnd: mode !== 'off',
    earlySignatureInit: mode === 'on' ? 'likely' : 'off',
  });
  const socket = connect({
    socket: early ?? network.socket(),
    servername: 'localhost',
    ca: pki.ca.certificatePem,
    minVersion: 'TLSv1.3',
    keyOps,
    pipelining: mode !== 'off',
  });
  await once(socket, 'secureConnect');
  const ms = performance.now() - started;
  socket.destroy();
  await client.close();
  return ms;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function tlsLatencyBenchmarks(): Promise<void> {
  const server = await echoServer();
  try {
    // APDUs by phase (the network does not change them; no model needed).
    const phaseRows = [];
    for (const offload of ['sign', 'full'] as const)
      for (const pipelining of [false, true]) {
        const starts: number[] = [];
        const network = await cellularNetwork(server.port, 20);
        const keyOps = await client(offload, pipelining, starts);
        await timedHandshake(() => network.socket(), server.port, keyOps, starts, pipelining);
        const t = await timedHandshake(() => network.socket(), server.port, keyOps, starts, pipelining);
        network.close();
        phaseRows.push({
          name: `TLS 1.3 mTLS, ${offload} offload, INIT close, pipelining ${pipelining ? 'on' : 'off'}`,
          value: `${t.beforeConnected} / ${t.critical} / ${t.afterFinished}`,
          unit: `APDUs (total ${t.total})`,
          target: pipelining ? (offload === 'sign' ? 'critical <= 2' : 'critical 7') : '',
        });
      }
    printTable(
      'APDUs by phase: before TCP connected / from connected to our Finished (the critical path) / after it',
      phaseRows,
    );

    // Wall time, pipelining off vs on, per network model.
    const wallRows = [];
    for (const rtt of ROUND_TRIPS) {
      const network = await cellularNetwork(server.port, rtt);
      for (const offload of ['sign', 'full'] as const) {
        const times: Record<'off' | 'on', number[]> = { off: [], on: [] };
        const starts: number[] = [];
        const keyOps = { off: await client(offload, false, starts), on: await client(offload, true, starts) };
        for (let round = 0; round < 3; round++)
          for (const mode of ['off', 'on'] as const)
            times[mode].push(
              (await timedHandshake(() => network.socket(), server.port, keyOps[mode], starts, mode === 'on'))
                .ms,
            );
        const off = median(times.off);
        const on = median(times.on);
        const prepared: number[] = [];
        if (offload === 'full') {
          const ahead = await preparedClient(starts);
          for (let round = 0; round < 3; round++) {
            await ahead.idle();
            prepared.push(
              (await timedHandshake(() => network.socket(), server.port, ahead.keyOps, starts, true)).ms,
            );
          }
        }
        wallRows.push(
          {
            name: `RTT ${rtt} ms, ${offload} offload, pipelining off (baseline)`,
            value: off.toFixed(0),
            unit: 'ms/handshake',
            ratio: '1.00x',
          },
          {
            name: `RTT ${rtt} ms, ${offload} offload, pipelining on`,
            value: on.toFixed(0),
            unit: 'ms/handshake',
            ratio: `${(on / off).toFixed(2)}x`,
            target: '<= 0.8x',
          },
          ...(prepared.length
            ? [
                {
                  name: `RTT ${rtt} ms, ${offload} offload, pipelining on, key share made ahead`,
                  value: median(prepared).toFixed(0),
                  unit: 'ms/handshake',
                  ratio: `${(median(prepared) / off).toFixed(2)}x`,
                  target: '<= 0.8x',
                },
              ]
            : []),
        );
      }
      network.close();
    }
    printTable(
      'TLS 1.3 mTLS wall time, connect() to secureConnect: modem + SIM latency model, cellular network model (median of 3)',
      wallRows,
    );

    // Sign offload with the SIM client made per connection: its setup before TCP, or while TCP connects.
    const { sim } = await simKeyOps(pki.ca, 'sign');
    const setupRows = [];
    for (const rtt of ROUND_TRIPS) {
      const network = await cellularNetwork(server.port, rtt);
      const times: Record<'off' | 'overlap' | 'on', number[]> = { off: [], overlap: [], on: [] };
      for (let round = 0; round < 3; round++)
        for (const mode of ['off', 'overlap', 'on'] as const)
          times[mode].push(await setupAndHandshake(sim, network, mode));
      network.close();
      const off = median(times.off);
      const row = (mode: 'overlap' | 'on', what: string) => ({
        name: `RTT ${rtt} ms, sign offload, ${what}`,
        value: median(times[mode]).toFixed(0),
        unit: 'ms',
        ratio: `${(median(times[mode]) / off).toFixed(2)}x`,
        target: '<= 0.8x',
      });
      setupRows.push(
        {
          name: `RTT ${rtt} ms, sign offload, SIM setup then connect, pipelining off (baseline)`,
          value: off.toFixed(0),
          unit: 'ms',
          ratio: '1.00x',
        },
        row('overlap', 'SIM setup while DNS + TCP run, session closed after Finished, INIT not early'),
        row('on', 'SIM setup while DNS + TCP run, INIT with the ClientHello, close after Finished'),
      );
    }
    printTable(
      'Sign offload, SIM client made per connection (select, key info, certificate read: 6 APDUs): from the decision to connect to secureConnect (median of 3)',
      setupRows,
    );

    // SCP03 to the applet: the same handshakes with every command wrapped (level 33), and the channel's opening.
    const scpRows = [];
    for (const offload of ['sign', 'full'] as const)
      for (const level of [undefined, 0x33]) {
        const starts: number[] = [];
        const opened = performance.now();
        const keyOps = await client(offload, true, starts, level);
        const setupMs = performance.now() - opened;
        const setupApdus = starts.length;
        const times: number[] = [];
        let apdus = 0;
        for (let round = 0; round < 3; round++) {
          const t = await timedHandshake(() => undefined, server.port, keyOps, starts, true);
          times.push(t.ms);
          apdus = t.total;
        }
        scpRows.push({
          name: `${offload} offload, ${level === undefined ? 'plain APDUs (baseline)' : 'SCP03 level 33'}: per handshake`,
          value: `${apdus} APDUs, ${median(times).toFixed(0)}`,
          unit: 'ms',
        });
        scpRows.push({
          name: `${offload} offload, ${level === undefined ? 'plain' : 'SCP03 level 33'}: client setup (select${level === undefined ? '' : ', INITIALIZE UPDATE, EXTERNAL AUTHENTICATE'}, key info, certificate)`,
          value: `${setupApdus} APDUs, ${setupMs.toFixed(0)}`,
          unit: 'ms',
        });
      }
    printTable(
      'SCP03 between the TLS client and the applet (modem + SIM latency model, 127.0.0.1 server)',
      scpRows,
    );
  } finally {
    server.close();
  }
}
