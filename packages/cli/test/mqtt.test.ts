// MQTT over our TLS 1.3 client with the key in the SIM, through mosquitto requiring client
// certificates: a library round trip, and the iotsafe mqtt sub/pub commands.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { byId, encodeP256PublicKeyInfo, IoTSafe, IoTSafeKeyOps, MemoryTransport } from '@iotsafe/device';
import { TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import mqtt from 'mqtt';
import { runCli, startCli } from '../../../test/helpers/cli.js';
import { freePort, peerAvailable, startMosquitto } from '../../../test/helpers/peers.js';
import { connectToTestServer, issue, serverPems, testPki } from '../../../test/helpers/pki.js';
import { checkJson } from './json-schemas.js';

const available = peerAvailable('mosquitto', ['-h']);
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-mqtt-'));
const pki = testPki();
let broker: Awaited<ReturnType<typeof startMosquitto>> | undefined;
after(async () => {
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('MQTT through mosquitto (require_certificate) with the SIM key', {
  skip: available === true ? false : available,
}, () => {
  before(async () => {
    broker = await startMosquitto(dir, serverPems(pki));
  });

  test('publish and receive our own message; the broker names us by the SIM certificate', async () => {
    const sim = VirtualSim.inMemory(TYPE1_PROFILE);
    const client = await IoTSafe.connect(new MemoryTransport(sim.card));
    const { point } = await client.generateKeyPair(byId('01'));
    sim.writeFile(
      byId('02'),
      issue({ commonName: 'sim-mqtt-device', issuer: pki.ca, publicKeySpki: encodeP256PublicKeyInfo(point) })
        .certificateDer,
    );
    const keyOps = await IoTSafeKeyOps.create(client, {
      privateKey: byId('01'),
      certificateChain: [byId('02')],
      offload: 'full',
    });
    const socket = connectToTestServer(pki, broker!.port, {
      keyOps,
    });
    const m = new mqtt.MqttClient(() => socket, { protocolVersion: 5, reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      m.once('connect', () => resolve());
      m.once('error', reject);
    });
    await m.subscribeAsync('iotsafe/test', { qos: 1 });
    const received = new Promise<string>((resolve) =>
      m.once('message', (_t, payload) => resolve(payload.toString())),
    );
    await m.publishAsync('iotsafe/test', 'temperature 21.5', { qos: 1 });
    assert.equal(await received, 'temperature 21.5');
    await m.endAsync();
    assert.match(broker!.log(), /as sim-mqtt-device|u'sim-mqtt-device'/);
  });

  test('iotsafe mqtt sub and pub with a SIM directory', async () => {
    const env = { IOTSAFE_STORAGE_KEY: '77'.repeat(32) };
    const run = (args: string[]) => runCli(args, env);
    const simDir = join(dir, 'sim');
    assert.equal(run(['sim', 'create', simDir, '--profile', 'type1']).code, 0);
    const spki = run(['--sim', simDir, 'pubkey', '--id', '01', '--pem']).stdout;
    const der = Buffer.from(spki.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const cert = issue({ commonName: 'cli-mqtt-device', issuer: pki.ca, publicKeySpki: new Uint8Array(der) });
    writeFileSync(join(dir, 'device.pem'), cert.certificatePem);
    assert.equal(
      run(['--sim', simDir, 'sim', 'write-file', '--id', '02', '--in', join(dir, 'device.pem')]).code,
      0,
    );
    const url = `mqtts://127.0.0.1:${broker!.port}`;
    const common = ['--ca', join(dir, 'ca.pem'), '--servername', 'localhost', '--topic', 'iotsafe/cli'];
    // Two processes share the SIM through `sim serve` (a SIM directory has one owner at a time).
    const port = await freePort();
    const served = await startCli(
      ['sim', 'serve', simDir, '--tcp', String(port), '--insecure-no-auth'],
      env,
      /serving on tcp/,
    );
    const card = ['--tcp', `127.0.0.1:${port}`];
    try {
      const sub = await startCli([...card, 'mqtt', 'sub', url, ...common, '--count', '1'], env, /subscribed/);
      const pub = run([...card, 'mqtt', 'pub', url, ...common, '--message', 'from the CLI']);
      assert.equal(pub.code, 0, pub.stderr);
      assert.equal(await sub.exited, 0, sub.output());
      assert.match(sub.output(), /iotsafe\/cli from the CLI/);
      // --json: one document on stdout with the TLS summary
      const subJson = await startCli(
        ['--json', ...card, 'mqtt', 'sub', url, ...common, '--count', '1'],
        env,
        /subscribed/,
      );
      const pubJson = run(['--json', ...card, 'mqtt', 'pub', url, ...common, '--message', 'as JSON']);
      assert.equal(pubJson.code, 0, pubJson.stderr);
      assert.equal((checkJson('mqtt pub', pubJson.stdout) as { topic: string }).topic, 'iotsafe/cli');
      assert.equal(await subJson.exited, 0, subJson.output());
      const received = checkJson('mqtt sub', subJson.stdout()) as { messages: { payload: string }[] };
      assert.deepEqual(
        received.messages.map((m) => m.payload),
        ['as JSON'],
      );
    } finally {
      await served.stop();
    }
  });
});
