// CoAP benchmark: requests/s over plain UDP on 127.0.0.1, against the in-process test server and
// against libcoap's coap-server, with a bare UDP round trip measured in the same run as the
// baseline; a Block2 download; requests through the lossy proxy at 0, 10 and 30 % loss; and CoAP over
// DTLS (PSK from a Type II SIM) against libcoap's coap-server-openssl, as a ratio to plain CoAP to the
// same server, with the handshake under the modem + SIM latency model.
import { createSocket } from 'node:dgram';
import { CoapClient, ResponseCode } from '@iotsafe/coap';
import { modemSimLatency } from '@iotsafe/device';
import { dtlsTransport } from '@iotsafe/tls';
import { startCoapTestServer } from '../test/helpers/coap-test-server.js';
import { FAST_RETRANSMIT, typeTwoPsk } from '../test/helpers/dtls.js';
import { libcoapAvailable, startLibcoapServer } from '../test/helpers/libcoap.js';
import { libcoapDtlsAvailable, startLibcoapDtlsServer } from '../test/helpers/libcoap-dtls.js';
import { startLossyUdpProxy } from '../test/helpers/lossy-udp-proxy.js';
import { measure, printTable, type Result } from './harness.js';

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ratio = (a: Result, b: Result) => `${(a.opsPerSecond / b.opsPerSecond).toFixed(2)}x`;

/** A UDP echo in this process and a client that waits for each echo: the floor under any request. */
async function bareUdpRoundTrip(): Promise<Result> {
  const echo = createSocket('udp4');
  await new Promise<void>((resolve) => echo.bind(0, '127.0.0.1', resolve));
  echo.on('message', (d, from) => echo.send(d, from.port, from.address));
  const client = createSocket('udp4');
  await new Promise<void>((resolve) => client.connect(echo.address().port, '127.0.0.1', resolve));
  let wake: (() => void) | undefined;
  client.on('message', () => wake?.());
  const datagram = Buffer.alloc(20); // about a GET with a token and a Uri-Path
  const result = await measure('bare UDP round trip, 20 bytes (baseline)', () => {
    const answered = new Promise<void>((resolve) => {
      wake = resolve;
    });
    client.send(datagram);
    return answered;
  });
  client.close();
  echo.close();
  return result;
}

/** Latency percentiles and completion of `count` sequential requests through a lossy link. */
async function throughLoss(target: number, loss: number, maxRetransmit: number, count: number) {
  const proxy = await startLossyUdpProxy({
    target: { host: '127.0.0.1', port: target },
    seed: 2026,
    toServer: { loss },
    toClient: { loss },
  });
  const client = await CoapClient.connect(`coap://127.0.0.1:${proxy.port}`, {
    transmission: { ackTimeout: 20, maxRetransmit },
  });
  const times: number[] = [];
  let completed = 0;
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    try {
      await client.get('/hello');
      completed++;
      times.push(performance.now() - t0);
    } catch {
      // counted as not completed
    }
  }
  const elapsed = (performance.now() - started) / 1000;
  await client.close();
  await proxy.close();
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? Number.NaN;
  return { completion: completed / count, p50: at(0.5), p99: at(0.99), perSecond: count / elapsed };
}

export async function coapBenchmarks(): Promise<void> {
  const body = Buffer.alloc(16 * 1024, 0x5a);
  const server = await startCoapTestServer({
    resources: {
      '/hello': { handle: () => ({ code: ResponseCode.Content, payload: 'world' }) },
      '/body': { handle: () => ({ code: ResponseCode.Content, payload: body }) },
    },
  });
  const client = await CoapClient.connect(`coap://127.0.0.1:${server.port}`);
  const bare = await bareUdpRoundTrip();
  const con = await measure('CoAP CON GET, piggybacked 2.05 (in-process server)', () => client.get('/hello'));
  const non = await measure('CoAP NON GET, NON 2.05 (in-process server)', () =>
    client.get('/hello', { confirmable: false }),
  );
  const block = await measure('CoAP GET 16 KiB in 16 Block2 blocks (in-process)', () => client.get('/body'));
  await client.close();
  const rows = [
    { name: bare.name, value: fmt(bare.opsPerSecond), unit: 'round trips/s', ratio: '1.00x' },
    { name: con.name, value: fmt(con.opsPerSecond), unit: 'requests/s', ratio: ratio(con, bare) },
    { name: non.name, value: fmt(non.opsPerSecond), unit: 'requests/s', ratio: ratio(non, bare) },
    {
      name: block.name,
      value: fmt((block.opsPerSecond * body.length) / 1024),
      unit: 'KiB/s',
      ratio: ratio({ ...block, opsPerSecond: block.opsPerSecond * 16 }, bare),
    },
  ];
  const available = libcoapAvailable();
  if (available === true) {
    const peer = await startLibcoapServer();
    const toLibcoap = await CoapClient.connect(`coap://127.0.0.1:${peer.port}`);
    // Not a CoAP ping as the baseline: libcoap 4.3.1 answers only the first one at once and the
    // next ones on their retransmission. The baseline is the bare UDP round trip above.
    const get = await measure('CoAP CON GET / to libcoap coap-server (136-byte body)', () =>
      toLibcoap.get('/'),
    );
    await toLibcoap.close();
    await peer.stop();
    rows.push({ name: get.name, value: fmt(get.opsPerSecond), unit: 'requests/s', ratio: ratio(get, bare) });
  } else
    rows.push({ name: 'libcoap coap-server', value: '-', unit: `not measured: ${available}`, ratio: '' });
  printTable('CoAP over UDP on 127.0.0.1 (one client, NSTART 1; ratio to the baseline above it)', rows);
  await coapOverDtls();

  const lossRows = [];
  for (const [loss, maxRetransmit] of [
    [0, 4],
    [0.1, 4],
    [0.3, 4],
    [0.3, 8],
  ] as const) {
    const r = await throughLoss(server.port, loss, maxRetransmit, loss === 0 ? 400 : 200);
    lossRows.push({
      name: `CON GET, ${loss * 100} % loss each way, MAX_RETRANSMIT ${maxRetransmit}`,
      value: `${(r.completion * 100).toFixed(1)} %`,
      unit: `completed; p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms; ${fmt(r.perSecond)} req/s`,
      target: '100 %',
    });
  }
  printTable(
    'CoAP through the seeded lossy proxy (ACK_TIMEOUT 20 ms; the RFC 7252 default is 2 s)',
    lossRows,
  );
  await server.close();
}

/** Each case measured `rounds` times in turn (1/rounds of the bench's seconds each); the median round of each. */
async function interleaved(cases: [string, () => unknown][], rounds: number): Promise<Result[]> {
  const seconds = Number(process.env.BENCH_SECONDS ?? 1) / rounds;
  const runs: Result[][] = cases.map(() => []);
  for (let r = 0; r < rounds; r++)
    for (const [i, [name, run]] of cases.entries()) runs[i]!.push(await measure(name, run, seconds));
  return runs.map((each) => each.sort((a, b) => a.opsPerSecond - b.opsPerSecond)[Math.floor(rounds / 2)]!);
}

/**
 * CoAP over DTLS vs plain CoAP, one coap-server-openssl process (plain on PORT, DTLS on PORT + 1): GET /
 * requests/s each way (the record protection's cost), and new associations (handshake + GET) with the
 * Type II SIM behind the modem + SIM latency model (one COMPUTE PRF each).
 */
async function coapOverDtls(): Promise<void> {
  const available = libcoapDtlsAvailable('openssl');
  if (available !== true) {
    printTable('CoAP over DTLS (PSK, Type II SIM) vs plain CoAP', [
      { name: 'coap-server-openssl', value: '-', unit: `not measured: ${available}`, ratio: '' },
    ]);
    return;
  }
  const sim = await typeTwoPsk({ printable: true });
  const modem = await typeTwoPsk({ printable: true, latency: modemSimLatency() });
  const rows = [];
  for (const [label, card] of [
    ['in-process SIM', sim],
    ['modem SIM latency', modem],
  ] as const) {
    const server = await startLibcoapDtlsServer('openssl', { kind: 'psk', key: card.pskText });
    try {
      const coaps = (keyOps = card.keyOps) =>
        CoapClient.connect(`coaps://127.0.0.1:${server.dtlsPort}`, {
          secureTransport: dtlsTransport({ keyOps, retransmit: FAST_RETRANSMIT }),
        });
      if (label === 'in-process SIM') {
        const plain = await CoapClient.connect(`coap://127.0.0.1:${server.dtlsPort - 1}`);
        const secure = await coaps();
        // Interleaved rounds, the median of each: one second of each, back to back, on a shared
        // machine measured the load as much as the protocol (0.22x one run, 0.6x the next).
        const [udp, dtls] = await interleaved(
          [
            ['CoAP CON GET / over UDP (coap-server-openssl, baseline)', () => plain.get('/')],
            ['CoAP CON GET / over DTLS, PSK-AES128-CCM8 (same server)', () => secure.get('/')],
          ],
          5,
        );
        await plain.close();
        await secure.close();
        rows.push(
          { name: udp.name, value: fmt(udp.opsPerSecond), unit: 'requests/s', ratio: '1.00x' },
          {
            name: dtls.name,
            value: fmt(dtls.opsPerSecond),
            unit: 'requests/s',
            ratio: ratio(dtls, udp),
            target: '>= 0.5x',
          },
        );
      }
      const before = card.client.apduCount;
      let handshakes = 0;
      const fresh = await measure(`new association (handshake + GET /), ${label}`, async () => {
        const client = await coaps();
        await client.get('/');
        await client.close();
        handshakes++;
      });
      rows.push({
        name: fresh.name,
        value: `${fresh.microseconds / 1000 < 10 ? (fresh.microseconds / 1000).toFixed(2) : fmt(fresh.microseconds / 1000)}`,
        unit: `ms each; ${((card.client.apduCount - before) / handshakes).toFixed(1)} APDUs per handshake`,
      });
    } finally {
      await server.stop();
    }
  }
  await sim.client.close();
  await modem.client.close();
  printTable('CoAP over DTLS (PSK in a Type II SIM, COMPUTE PRF) vs plain CoAP, 127.0.0.1', rows);
}
