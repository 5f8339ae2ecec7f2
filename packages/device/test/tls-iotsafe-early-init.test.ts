// Sign offload, earlySignatureInit: COMPUTE SIGNATURE INIT goes with the ClientHello, before the
// server's flight is read; the UPDATE with the digest follows it (RFC 8446 §4.4.3). An early session not
// used (no certificate asked, a failed handshake) is closed; a TLS 1.2 key with several hashes waits for
// the CertificateRequest's choice (RFC 5246 §7.4.4), as without early INIT.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { byId, type EarlySignatureInit, IoTSafe, IoTSafeKeyOps, MemoryTransport } from '@iotsafe/device';
import { INS } from '@iotsafe/protocol';
import { type Profile, TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { type ConnectOptions, connect } from '@iotsafe/tls';
import { type NodeTlsServer, startNodeTlsServer } from '../../../test/helpers/peers.js';
import { mutualTlsOptions, testPki } from '../../../test/helpers/pki.js';
import { certifySimKey } from '../../../test/helpers/sim-tls.js';

const pki = testPki();
const other = testPki();

/** A SIM whose key 01 hashes with `hashes`; every APDU and the server's first bytes logged in order. */
async function loggedKeyOps(
  hashes: ('sha256' | 'sha384')[] = ['sha256'],
  earlySignatureInit: EarlySignatureInit = 'certain',
) {
  const profile: Profile = {
    containers: TYPE1_PROFILE.containers.map((c) =>
      c.class === 'privateKey' && c.id === '01' ? { ...c, hashes } : c,
    ),
  };
  const sim = VirtualSim.inMemory(profile);
  await certifySimKey(sim, pki.ca);
  const log: string[] = [];
  const memory = new MemoryTransport(sim.card);
  const client = await IoTSafe.connect({
    transmit: (command) => {
      log.push(name(command));
      return memory.transmit(command);
    },
    reset: () => memory.reset(),
    close: () => memory.close(),
  });
  const keyOps = await IoTSafeKeyOps.create(client, {
    privateKey: byId('01'),
    certificateChain: [byId('02')],
    offload: 'sign',
    earlySignatureInit,
  });
  log.length = 0;
  return { client, keyOps, log };
}

function name(command: Uint8Array): string {
  if (command[1] === INS.COMPUTE_SIGNATURE_INIT) {
    if (command[2] === 0x01) return 'INIT close';
    // The hash algorithm tag of the INIT's data (GSMA IoT.05: 91 02 <2-byte bitmask>).
    const data = Buffer.from(command.subarray(5));
    const at = data.indexOf(Buffer.from([0x91, 0x02]));
    return `INIT ${at >= 0 ? { 1: 'sha256', 2: 'sha384', 4: 'sha512' }[data[at + 3]!] : '?'}`;
  }
  if (command[1] === INS.COMPUTE_SIGNATURE_UPDATE) return 'UPDATE';
  return `INS ${command[1]!.toString(16)}`;
}

/** A handshake whose socket logs 'server flight' when the server's first bytes arrive. */
async function handshake(port: number, log: string[], options: Partial<ConnectOptions>) {
  const socket = net.connect(port, '127.0.0.1');
  socket.once('data', () => log.push('server flight'));
  const tls = connect({ socket, servername: 'localhost', ca: pki.ca.certificatePem, ...options });
  try {
    await once(tls, 'secureConnect');
    return tls.getProtocol();
  } finally {
    tls.destroy();
  }
}

describe('early COMPUTE SIGNATURE INIT (sign offload)', () => {
  const servers: Record<string, NodeTlsServer> = {};
  before(async () => {
    servers.tls13 = await startNodeTlsServer({ ...mutualTlsOptions(pki), minVersion: 'TLSv1.3' }, () => {});
    servers.tls12 = await startNodeTlsServer({ ...mutualTlsOptions(pki), maxVersion: 'TLSv1.2' }, () => {});
    servers.noClientAuth = await startNodeTlsServer(
      { key: pki.server.keyPem, cert: pki.server.certificatePem, minVersion: 'TLSv1.3' },
      () => {},
    );
  });
  after(async () => {
    for (const server of Object.values(servers)) await server.close();
  });

  test('TLS 1.3: the INIT goes before the server flight is read, the UPDATE after it', async () => {
    const { keyOps, log } = await loggedKeyOps();
    assert.equal(await handshake(servers.tls13!.port, log, { keyOps }), 'TLSv1.3');
    assert.deepEqual(log, ['INIT sha256', 'server flight', 'UPDATE', 'INIT close']);
  });

  test("'off' (a resumption): the INIT waits for the server flight, as before", async () => {
    const { keyOps, log } = await loggedKeyOps(['sha256'], 'off');
    await handshake(servers.tls13!.port, log, { keyOps });
    assert.deepEqual(log, ['server flight', 'INIT sha256', 'UPDATE', 'INIT close']);
  });

  test('no certificate asked: the early session is closed after our Finished, and the next one opens', async () => {
    const { client, keyOps, log } = await loggedKeyOps();
    await handshake(servers.noClientAuth!.port, log, { keyOps });
    assert.deepEqual(log, ['INIT sha256', 'server flight', 'INIT close']);
    log.length = 0;
    await handshake(servers.tls13!.port, log, { keyOps });
    assert.deepEqual(log, ['INIT sha256', 'server flight', 'UPDATE', 'INIT close']);
    await client.close();
  });

  test('a handshake that fails before our Finished: release() closes the session; else the next handshake uses it', async () => {
    const { keyOps, log } = await loggedKeyOps();
    const refused = handshake(servers.tls13!.port, log, { keyOps, ca: other.ca.certificatePem });
    await assert.rejects(refused, /certificate/);
    assert.deepEqual(log, ['INIT sha256', 'server flight']);
    await keyOps.release();
    assert.deepEqual(log.slice(2), ['INIT close']);

    log.length = 0;
    await assert.rejects(handshake(servers.tls13!.port, log, { keyOps, ca: other.ca.certificatePem }));
    await handshake(servers.tls13!.port, log, { keyOps });
    // The session the failed handshake opened serves the next one: no second INIT, no 6985.
    assert.deepEqual(log, ['INIT sha256', 'server flight', 'server flight', 'UPDATE', 'INIT close']);
  });

  test('IoTSafe.close() closes a session opened early and not used', async () => {
    const { client, keyOps, log } = await loggedKeyOps();
    await assert.rejects(handshake(servers.tls13!.port, log, { keyOps, ca: other.ca.certificatePem }));
    await client.close();
    assert.deepEqual(log.slice(0, 3), ['INIT sha256', 'server flight', 'INIT close']);
  });

  test('TLS 1.2, a key with one hash: the scheme is certain, the INIT goes early', async () => {
    const { keyOps, log } = await loggedKeyOps(['sha256']);
    assert.equal(await handshake(servers.tls12!.port, log, { keyOps }), 'TLSv1.2');
    assert.deepEqual(log, ['INIT sha256', 'server flight', 'UPDATE', 'INIT close']);
  });

  test('TLS 1.2 possible, a key with SHA-256 and SHA-384: the CertificateRequest decides, the INIT waits', async () => {
    const { keyOps, log } = await loggedKeyOps(['sha256', 'sha384']);
    assert.deepEqual(keyOps.signatureSchemes12, [0x0403, 0x0503]);
    assert.equal(await handshake(servers.tls12!.port, log, { keyOps }), 'TLSv1.2');
    assert.deepEqual(log, ['server flight', 'INIT sha256', 'UPDATE', 'INIT close']);
  });

  test("'likely', a key with SHA-256 and SHA-384: early with the curve's hash; a TLS 1.2 server taking it uses it", async () => {
    const { keyOps, log } = await loggedKeyOps(['sha256', 'sha384'], 'likely');
    assert.equal(await handshake(servers.tls12!.port, log, { keyOps }), 'TLSv1.2');
    assert.deepEqual(log, ['INIT sha256', 'server flight', 'UPDATE', 'INIT close']);
    log.length = 0;
    assert.equal(await handshake(servers.tls13!.port, log, { keyOps, minVersion: 'TLSv1.3' }), 'TLSv1.3');
    assert.deepEqual(log, ['INIT sha256', 'server flight', 'UPDATE', 'INIT close']);
  });

  test('a signature with other parameters than the early INIT: that session is closed, the right one opened', async () => {
    const { client, keyOps, log } = await loggedKeyOps(['sha256', 'sha384']);
    const opened = client.openSignature(byId('01'), { hash: 'sha256' });
    await client.sign(byId('01'), { digest: new Uint8Array(48).fill(7) }, { hash: 'sha384', opened });
    assert.deepEqual(log, ['INIT sha256', 'INIT close', 'INIT sha384', 'UPDATE', 'INIT close']);
    assert.ok(keyOps);
  });
});
