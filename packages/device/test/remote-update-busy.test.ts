// IoT.05's 6984 during a remote administration: while an SCP81 session updates the applet's objects
// (a credential rotation writing a certificate), the applet answers 6984 to the device; the client waits
// and sends the command again within its bound (CardBusyError past it), and a TLS connection already up
// goes on: its keys are on the host once the handshake is done.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  byId,
  CardBusyError,
  IoTSafe,
  IoTSafeKeyOps,
  MemoryTransport,
  runBipTerminal,
} from '@iotsafe/device';
import {
  buildInstallForPersonalization,
  buildStoreData,
  encodeCommandApdu,
  encodeExpandedScript,
  encodePersoScript,
  hexToBytes,
  IOTSAFE_AID,
  StatusWordError,
  utf8,
} from '@iotsafe/protocol';
import { TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { startAdminServer } from '../../../test/helpers/admin-server.js';
import { startNodeTlsServer } from '../../../test/helpers/peers.js';
import { connectToTestServer, mutualTlsOptions, testPki } from '../../../test/helpers/pki.js';
import { certifySimKey } from '../../../test/helpers/sim-tls.js';

const PSK = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i); // TEST key
const IDENTITY = 'test-sim-busy';
const NEW_CERTIFICATE = utf8('the rotated certificate, written over SCP81');
const WRITE_FILE = encodeExpandedScript(
  [
    encodeCommandApdu(buildInstallForPersonalization(IOTSAFE_AID)),
    encodeCommandApdu(
      buildStoreData(
        0,
        true,
        encodePersoScript([
          {
            op: 'content',
            objectClass: 'file',
            ref: { id: Uint8Array.of(0x03) },
            content: { kind: 'file', content: NEW_CERTIFICATE },
          },
        ]),
      ),
    ),
  ],
  true,
);
const GET_STATUS_ISD = encodeExpandedScript([hexToBytes('80F28002024F0000')], true);

describe('6984 while a remote administration session updates the applet', () => {
  test('the device waits and retries within its bound; a TLS connection that is up is not broken', async () => {
    const pki = testPki();
    let duringSession: () => Promise<void> = async () => {};
    const server = await startAdminServer({
      keys: new Map([[IDENTITY, PSK]]),
      scripts: new Map([[IDENTITY, [{ body: WRITE_FILE }, { body: GET_STATUS_ISD }]]]),
      beforeStep: (step) => (step === 1 ? duringSession() : Promise.resolve()),
    });
    const sim = VirtualSim.inMemory(TYPE1_PROFILE, {
      scp81: {
        keys: { psk: PSK, dek: new Uint8Array(16).fill(0x44) },
        parameters: {
          address: '127.0.0.1',
          port: server.port,
          host: 'admin.test',
          uri: '/admin',
          pskIdentity: IDENTITY,
          retry: { counter: 0, delaySeconds: 0 },
          background: false,
        },
        timeouts: { handshakeMs: 5000, responseMs: 15_000, terminalResponseMs: 5000 },
      },
    });
    await certifySimKey(sim, pki.ca);
    // the device's application: mutual TLS with the SIM key, up before the rotation starts
    const cloud = await startNodeTlsServer(mutualTlsOptions(pki), (socket) => socket.pipe(socket));
    const device = await IoTSafe.connect(new MemoryTransport(sim.card));
    const keyOps = await IoTSafeKeyOps.create(device, {
      privateKey: byId('01'),
      certificateChain: [byId('02')],
      offload: 'sign',
    });
    const tls = connectToTestServer(pki, cloud.port, { keyOps });
    await new Promise<void>((resolve, reject) => tls.once('secureConnect', resolve).once('error', reject));
    const echo = (text: string) =>
      new Promise<string>((resolve) => {
        tls.once('data', (d: Buffer) => resolve(d.toString()));
        tls.write(text);
      });
    assert.equal(await echo('before'), 'before');

    const terminal = await runBipTerminal(new MemoryTransport(sim.card), {
      wake: (notify) => sim.card.toolkit.onPending(notify),
      pollIntervalMs: 50,
    });
    const seen: Record<string, unknown> = {};
    let retried = 0;
    let waiting: Promise<Uint8Array> | undefined;
    duringSession = async () => {
      // the certificate is written; the session goes on (its next script has not come)
      const impatient = await IoTSafe.connect(new MemoryTransport(sim.card), { busyWait: false });
      seen.noWait = await impatient.random(8).catch((e: unknown) => e);
      const bounded = await IoTSafe.connect(new MemoryTransport(sim.card), {
        busyWait: { timeoutMs: 150, intervalMs: 20 },
      });
      seen.bounded = await bounded.random(8).catch((e: unknown) => e);
      seen.tls = await echo('during');
      const patient = await IoTSafe.connect(new MemoryTransport(sim.card), {
        busyWait: { timeoutMs: 10_000, intervalMs: 20 },
        trace: (line) => {
          if (line.includes('6984')) retried++;
        },
      });
      waiting = patient.sign(byId('01'), { message: utf8('signed after the rotation') });
      await new Promise((resolve) => setTimeout(resolve, 100)); // it is retrying while the session is open
    };
    try {
      sim.requestAdminSession();
      await sim.admin.idle();
      assert.equal(sim.admin.sessions.at(-1)?.outcome, 'completed', sim.admin.sessions.at(-1)?.error);
      assert.ok(seen.noWait instanceof StatusWordError && seen.noWait.sw === 0x6984, String(seen.noWait));
      assert.ok(seen.bounded instanceof CardBusyError, String(seen.bounded));
      assert.match((seen.bounded as Error).message, /remote administration/);
      assert.equal(seen.tls, 'during', 'the TLS connection carried data during the rotation');
      const signature = await waiting!;
      assert.equal(signature.length, 64);
      assert.ok(retried > 0, 'the signature waited for the session to end');
      assert.equal((await device.random(4)).length, 4, 'the applet answers again after the session');
      assert.equal(await echo('after'), 'after');
      const file = sim.containers().find((c) => c.objectClass === 'file' && c.id[0] === 3);
      assert.deepEqual(file?.objectClass === 'file' && [...(file.content ?? [])], [...NEW_CERTIFICATE]);
    } finally {
      tls.destroy();
      await terminal.stop();
      await server.close();
      await cloud.close();
    }
  });
});
