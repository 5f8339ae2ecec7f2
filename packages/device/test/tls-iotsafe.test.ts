// TLS 1.3 with the client key in the virtual SIM, at both offload levels, against Node's tls server
// and openssl s_server, each requiring a client certificate; APDUs per handshake counted.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import {
  byId,
  encodeP256PublicKeyInfo,
  IoTSafe,
  IoTSafeKeyOps,
  type IoTSafeOptions,
  MemoryTransport,
  type OffloadLevel,
} from '@iotsafe/device';
import { TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { connect } from '@iotsafe/tls';
import { peerAvailable, startOpensslServer } from '../../../test/helpers/peers.js';
import { issue, testPki } from '../../../test/helpers/pki.js';

const pki = testPki();
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A SIM whose device key was generated inside it and certified by the test CA; the certificate is in file 02. */
async function provisionedSim() {
  const sim = VirtualSim.inMemory(TYPE1_PROFILE);
  const client = await IoTSafe.connect(new MemoryTransport(sim.card));
  const { point } = await client.generateKeyPair(byId('01'));
  const certificate = issue({
    commonName: 'sim-device',
    issuer: pki.ca,
    publicKeySpki: encodeP256PublicKeyInfo(point),
  });
  sim.writeFile(byId('02'), certificate.certificateDer);
  return { sim, client };
}

async function handshake(
  offload: OffloadLevel,
  port: number,
  request?: string,
  sessionEnd?: IoTSafeOptions['sessionEnd'],
) {
  const { sim } = await provisionedSim();
  const client = await IoTSafe.connect(new MemoryTransport(sim.card), { sessionEnd });
  const keyOps = await IoTSafeKeyOps.create(client, {
    privateKey: byId('01'),
    certificateChain: [byId('02')],
    offload,
  });
  const before = client.apduCount;
  const socket = connect({
    host: '127.0.0.1',
    servername: 'localhost',
    port,
    ca: pki.ca.certificatePem,
    keyOps,
  });
  await once(socket, 'secureConnect');
  const apdus = client.apduCount - before;
  socket.write(request ?? 'ping');
  const [data] = (await once(socket, 'data')) as [Buffer];
  socket.end();
  return { apdus, reply: data.toString() };
}

describe('TLS 1.3 mTLS with the SIM key, against node:tls', () => {
  let server: tls.Server;
  let port = 0;
  const clients: string[] = [];
  before(async () => {
    server = tls.createServer(
      {
        key: pki.server.keyPem,
        cert: pki.server.certificatePem,
        ca: pki.ca.certificatePem,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
      },
      (s) => {
        clients.push(String(s.getPeerCertificate().subject?.CN));
        s.on('data', (d) => s.write(d));
        s.on('error', () => {});
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  test('sign offload: the SIM signs CertificateVerify in 3 APDUs', async () => {
    const { apdus, reply } = await handshake('sign', port);
    assert.equal(reply, 'ping');
    assert.equal(clients.at(-1), 'sim-device');
    assert.equal(apdus, 3);
  });
  test('full offload: ECDHE key, DH and HKDF-Extract in the SIM too', async () => {
    const { apdus, reply } = await handshake('full', port);
    assert.equal(reply, 'ping');
    assert.equal(clients.at(-1), 'sim-device');
    // GENERATE KEY PAIR 1, PUT PUBLIC KEY 3, COMPUTE DH 1, COMPUTE HKDF 1, COMPUTE SIGNATURE 3
    assert.equal(apdus, 9);
  });
  test('sessions ended by their final UPDATE (Thales style): sign 2 APDUs, full 7', async () => {
    const sign = await handshake('sign', port, undefined, 'lastUpdate');
    assert.equal(sign.reply, 'ping');
    assert.equal(sign.apdus, 2);
    // GENERATE KEY PAIR 1, PUT PUBLIC KEY 2, COMPUTE DH 1, COMPUTE HKDF 1, COMPUTE SIGNATURE 2
    const full = await handshake('full', port, undefined, 'lastUpdate');
    assert.equal(full.reply, 'ping');
    assert.equal(full.apdus, 7);
  });
});

const openssl = peerAvailable('openssl');
describe('TLS 1.3 mTLS with the SIM key, against openssl s_server -Verify', {
  skip: openssl === true ? false : openssl,
}, () => {
  for (const offload of ['sign', 'full'] as const) {
    test(`${offload} offload: s_server sees the SIM-held certificate`, async () => {
      const server = await startOpensslServer(
        dir,
        { cert: pki.server.certificatePem, key: pki.server.keyPem, ca: pki.ca.certificatePem },
        ['-tls1_3', '-Verify', '1', '-www', '-naccept', '1'],
      );
      try {
        const { reply } = await handshake(offload, server.port, 'GET / HTTP/1.0\r\n\r\n');
        assert.match(reply, /HTTP\/1\.0 200 ok/);
        await new Promise((r) => setTimeout(r, 200));
        assert.match(server.output(), /CN ?= ?sim-device/);
      } finally {
        await server.stop();
      }
    });
  }
});
