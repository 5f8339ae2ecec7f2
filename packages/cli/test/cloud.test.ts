// Cloud endpoint profiles, reproduced on 127.0.0.1 with the device key or PSK in the SIM:
// - AWS IoT Core's MQTT over 443: an RSA-2048 chain with an intermediate, TLS 1.2 only with
//   ECDHE-RSA-AES128-GCM-SHA256, ALPN x-amzn-mqtt-ca, a client certificate required (openssl s_server);
// - an ECC endpoint: a P-384 chain, TLS 1.3 only (openssl s_server);
// - brokers: mosquitto with an RSA server chain (TLS 1.2 suites of Azure IoT Hub and AWS), mosquitto
//   with the P-384 chain over TLS 1.3, and mosquitto's PSK listener (psk_hint, psk_file) held to
//   TLS 1.2 — each with an MQTT round trip (subscribe, publish, receive our own message);
// - `iotsafe connect --json` against the AWS-style server: the negotiated parameters and chain.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { byId, byLabel, IoTSafe, IoTSafeKeyOps, MemoryTransport } from '@iotsafe/device';
import { hexToBytes, utf8 } from '@iotsafe/protocol';
import { type Profile, TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { type ConnectOptions, connect, type TlsClientSocket } from '@iotsafe/tls';
import mqtt from 'mqtt';
import { runCliAsync } from '../../../test/helpers/cli.js';
import { peerAvailable, startMosquittoListener, startOpensslServer } from '../../../test/helpers/peers.js';
import { serverChain, testPki } from '../../../test/helpers/pki.js';
import { certifySimKey } from '../../../test/helpers/sim-tls.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-cloud-'));
const homes: string[] = [];
after(() => {
  for (const d of [dir, ...homes]) rmSync(d, { recursive: true, force: true });
});
const STORAGE_KEY = '6c'.repeat(32);
const openssl = peerAvailable('openssl');
const mosquitto = peerAvailable('mosquitto', ['-h']);

const deviceCa = testPki().ca;
const rsa = serverChain({ root: 'rsa2048', intermediate: 'rsa2048', leaf: 'rsa2048' });
const ecc = serverChain({ root: 'p384', intermediate: 'p384', leaf: 'p384' });
const PSK_HEX = '4b'.repeat(32);

/** A SIM directory (Type I key certified by the device CA in 02, plus a PSK), opened here and by the CLI. */
let simDir: string;
before(async () => {
  simDir = join(dir, 'sim');
  const profile: Profile = {
    containers: [
      ...TYPE1_PROFILE.containers,
      { class: 'secret', id: '10', label: 'broker-psk', value: { hex: PSK_HEX } },
    ],
  };
  const sim = VirtualSim.create(simDir, profile, { storageKey: hexToBytes(STORAGE_KEY) });
  await certifySimKey(sim, deviceCa, 'cloud-device');
  sim.close();
  writeFileSync(join(dir, 'rsa-root.pem'), rsa.root.certificatePem);
});

/** SIMs this process has open: one process at a time owns a SIM directory, so each test closes its own. */
const openSims: VirtualSim[] = [];
function closeSims(): void {
  for (const sim of openSims.splice(0)) sim.close();
}
afterEach(closeSims);

async function simClient() {
  const sim = VirtualSim.open(simDir, { storageKey: hexToBytes(STORAGE_KEY) });
  openSims.push(sim);
  return IoTSafe.connect(new MemoryTransport(sim.card));
}

const certificateKeyOps = async (client: IoTSafe) =>
  IoTSafeKeyOps.create(client, { privateKey: byId('01'), certificateChain: [byId('02')], offload: 'sign' });

/** A broker's directory outside the test's private one (mosquitto drops to its own user). */
function brokerHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'iotsafe-cloud-broker-'));
  homes.push(home);
  return home;
}

/** MQTT 5 over our TLS socket: subscribe, publish, and receive our own message. */
async function mqttRoundTrip(socket: TlsClientSocket, topic: string, message: string): Promise<string> {
  const m = new mqtt.MqttClient(() => socket, { protocolVersion: 5, reconnectPeriod: 0 });
  await new Promise<void>((resolve, reject) => {
    m.once('connect', () => resolve());
    m.once('error', reject);
  });
  await m.subscribeAsync(topic, { qos: 1 });
  const received = new Promise<string>((resolve) =>
    m.once('message', (_t, payload) => resolve(payload.toString())),
  );
  await m.publishAsync(topic, message, { qos: 1 });
  const text = await received;
  await m.endAsync();
  return text;
}

async function tlsTo(port: number, options: Partial<ConnectOptions>) {
  const socket = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    handshakeTimeout: 10_000,
    ...options,
  });
  await once(socket, 'secureConnect');
  return socket;
}

describe('AWS IoT Core on 443: RSA-2048 chain, TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256, ALPN x-amzn-mqtt-ca', {
  skip: openssl === true ? false : openssl,
}, () => {
  let server: Awaited<ReturnType<typeof startOpensslServer>>;
  before(async () => {
    const home = mkdtempSync(join(dir, 'aws-'));
    writeFileSync(join(home, 'intermediate.pem'), rsa.intermediate.certificatePem);
    server = await startOpensslServer(
      home,
      { cert: rsa.leaf.certificatePem, key: rsa.leaf.keyPem, ca: deviceCa.certificatePem },
      [
        '-cert_chain',
        join(home, 'intermediate.pem'),
        '-tls1_2',
        '-cipher',
        'ECDHE-RSA-AES128-GCM-SHA256',
        '-alpn',
        'x-amzn-mqtt-ca',
        '-Verify',
        '1',
        '-verify_return_error',
        '-www',
      ],
    );
  });
  after(() => server?.stop());

  test('the library: the suite, the ALPN protocol, the chain, and our certificate verified by the server', async () => {
    const client = await simClient();
    const socket = await tlsTo(server.port, {
      keyOps: await certificateKeyOps(client),
      ca: rsa.root.certificatePem,
      alpnProtocols: ['x-amzn-mqtt-ca'],
    });
    assert.equal(socket.getProtocol(), 'TLSv1.2');
    assert.equal(socket.getCipher()?.name, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
    assert.equal(socket.alpnProtocol, 'x-amzn-mqtt-ca');
    assert.equal(socket.getPeerX509Chain().length, 2);
    socket.write('GET / HTTP/1.0\r\n\r\n');
    let reply = '';
    for await (const chunk of socket) reply += chunk;
    assert.match(reply, /CN ?= ?cloud-device/);
  });

  test('iotsafe --json connect: version, suite, group, client scheme, ALPN, the chain with its expiry, APDUs, time', async () => {
    const { code, stdout, stderr } = await runCliAsync(
      [
        '--sim',
        simDir,
        '--json',
        'connect',
        `tls://127.0.0.1:${server.port}`,
        '--servername',
        'localhost',
        '--ca',
        join(dir, 'rsa-root.pem'),
        '--alpn',
        'x-amzn-mqtt-ca',
        '--ciphers',
        'ECDHE-RSA-AES128-GCM-SHA256',
        '--tls-version',
        '1.2',
        '--groups',
        'P-256:x25519',
      ],
      { IOTSAFE_STORAGE_KEY: STORAGE_KEY },
      'GET / HTTP/1.0\r\n\r\n',
    );
    assert.equal(code, 0, stderr);
    const summary = JSON.parse(stderr.trim().split('\n')[0]!);
    assert.deepEqual(
      {
        version: summary.version,
        suite: summary.suite,
        group: summary.group,
        clientScheme: summary.clientScheme,
        alpn: summary.alpn,
        subjects: summary.peerChain.map((c: { subject: string }) => c.subject),
        apdus: summary.apdus,
      },
      {
        version: 'TLSv1.2',
        suite: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
        group: 'secp256r1',
        clientScheme: 'ecdsa_secp256r1_sha256',
        alpn: 'x-amzn-mqtt-ca',
        subjects: ['CN=localhost', 'CN=test intermediate CA rsa2048 (test key)'],
        apdus: 3,
      },
    );
    assert.ok(new Date(summary.peerChain[0].notAfter).getTime() > Date.now());
    assert.equal(typeof summary.handshakeMs, 'number');
    assert.match(stdout, /HTTP\/1\.0 200 ok/);
  });
});

describe('an ECC endpoint: a P-384 chain, TLS 1.3 only', { skip: openssl === true ? false : openssl }, () => {
  test('s_server -tls1_3 with the P-384 chain: its chain and signature verified, our P-256 key accepted', async () => {
    const home = mkdtempSync(join(dir, 'ecc-'));
    writeFileSync(join(home, 'intermediate.pem'), ecc.intermediate.certificatePem);
    const server = await startOpensslServer(
      home,
      { cert: ecc.leaf.certificatePem, key: ecc.leaf.keyPem, ca: deviceCa.certificatePem },
      [
        '-cert_chain',
        join(home, 'intermediate.pem'),
        '-tls1_3',
        '-Verify',
        '1',
        '-verify_return_error',
        '-www',
      ],
    );
    try {
      const client = await simClient();
      const socket = await tlsTo(server.port, {
        keyOps: await certificateKeyOps(client),
        ca: ecc.root.certificatePem,
      });
      assert.equal(socket.getProtocol(), 'TLSv1.3');
      assert.equal(socket.getPeerX509Chain()[0]?.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
      socket.write('GET / HTTP/1.0\r\n\r\n');
      let reply = '';
      for await (const chunk of socket) reply += chunk;
      assert.match(reply, /CN ?= ?cloud-device/);
    } finally {
      await server.stop();
    }
  });
});

describe('MQTT brokers', { skip: mosquitto === true ? false : mosquitto }, () => {
  for (const [name, chain, tlsVersion, ciphers, maxVersion] of [
    [
      'an RSA-2048 chain, TLS 1.2 ECDHE-RSA-AES256/128-GCM (Azure IoT Hub, AWS IoT)',
      rsa,
      'tlsv1.2',
      'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256',
      'TLSv1.2',
    ],
    ['the P-384 chain, TLS 1.3', ecc, 'tlsv1.3', undefined, 'TLSv1.3'],
  ] as const)
    test(`mosquitto with ${name}, a client certificate required: an MQTT round trip`, async () => {
      const broker = await startMosquittoListener(brokerHome(), {
        tlsVersion,
        ...(ciphers ? { ciphers } : {}),
        certificates: { cert: chain.chainPem, key: chain.leaf.keyPem, ca: deviceCa.certificatePem },
        requireCertificate: true,
      });
      try {
        const client = await simClient();
        const socket = await tlsTo(broker.port, {
          keyOps: await certificateKeyOps(client),
          ca: chain.root.certificatePem,
          maxVersion,
        });
        assert.equal(socket.getProtocol(), maxVersion);
        assert.equal(await mqttRoundTrip(socket, 'cloud/telemetry', 'temperature 21.5'), 'temperature 21.5');
        assert.match(broker.log(), /as cloud-device|u'cloud-device'/);
      } finally {
        await broker.stop();
      }
    });

  test('mosquitto PSK listener (psk_hint, psk_file), TLS 1.2: an MQTT round trip, one APDU (COMPUTE PRF)', async () => {
    const broker = await startMosquittoListener(brokerHome(), {
      tlsVersion: 'tlsv1.2',
      psk: { hint: 'iotsafe-broker', identities: { 'cloud-device': PSK_HEX } },
    });
    try {
      const client = await simClient();
      const keyOps = await IoTSafeKeyOps.create(client, {
        offload: 'sign',
        psk: { identity: utf8('cloud-device'), secret: byLabel('broker-psk') },
      });
      const before = client.apduCount;
      const socket = await tlsTo(broker.port, { keyOps, maxVersion: 'TLSv1.2' });
      assert.equal(client.apduCount - before, 1);
      assert.match(socket.getCipher()?.name ?? '', /PSK/);
      assert.equal(await mqttRoundTrip(socket, 'cloud/psk', 'over a PSK'), 'over a PSK');
      assert.match(broker.log(), /as cloud-device|u'cloud-device'/);
      closeSims();
      // The CLI as Azure IoT Hub wants its CONNECT: a client ID, a user name, MQTT 3.1.1.
      const { code, stderr } = await runCliAsync(
        [
          '--sim',
          simDir,
          'mqtt',
          'pub',
          `mqtts://127.0.0.1:${broker.port}`,
          '--psk-label',
          'broker-psk',
          '--psk-identity',
          'cloud-device',
          '--tls-version',
          '1.2',
          '--client-id',
          'thing-0001',
          '--username',
          'hub.example/thing-0001/?api-version=2021-04-12',
          '--mqtt-version',
          '3.1.1',
          '--topic',
          'devices/thing-0001/messages/events/',
          '--message',
          'from the CLI',
        ],
        { IOTSAFE_STORAGE_KEY: STORAGE_KEY },
      );
      assert.equal(code, 0, stderr);
      assert.match(broker.log(), /as thing-0001 \(p2,/);
    } finally {
      await broker.stop();
    }
  });
});
