// TLS 1.3 with the client key in the virtual SIM against Node's tls server requiring a client
// certificate: APDUs per handshake at both offload levels and both ways of ending SIM sessions. (Every
// suite × version × offload level against node:tls, openssl and gnutls is in tls-matrix.test.ts.)
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { byId, type IoTSafeOptions, type OffloadLevel } from '@iotsafe/device';
import { INS } from '@iotsafe/protocol';
import { type NodeTlsServer, startNodeTlsServer } from '../../../test/helpers/peers.js';
import { connectToTestServer, mutualTlsOptions, testPki } from '../../../test/helpers/pki.js';
import { simKeyOps } from '../../../test/helpers/sim-tls.js';

const pki = testPki();

async function handshake(
  offload: OffloadLevel,
  port: number,
  request?: string,
  sessionEnd?: IoTSafeOptions['sessionEnd'],
) {
  const { client, keyOps } = await simKeyOps(pki.ca, offload, { sessionEnd });
  const before = client.apduCount;
  const socket = connectToTestServer(pki, port, {
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
  let server: NodeTlsServer;
  let port = 0;
  const clients: string[] = [];
  before(async () => {
    server = await startNodeTlsServer({ ...mutualTlsOptions(pki), minVersion: 'TLSv1.3' }, (s) => {
      clients.push(String(s.getPeerCertificate().subject?.CN));
      s.on('data', (d) => s.write(d));
    });
    port = server.port;
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
  test('full offload, key share prepared ahead: no GENERATE KEY PAIR in the handshake, a stale one replaced', async () => {
    const sent: number[] = [];
    const { client, keyOps } = await simKeyOps(pki.ca, 'full', {
      prepareKeyShare: true,
      onTransmit: (command) => sent.push(command[1]!),
    });
    const handshakeOnce = async () => {
      await client.random(1); // waits behind the key pair being made ahead
      sent.length = 0;
      const socket = connectToTestServer(pki, port, { keyOps });
      await once(socket, 'secureConnect');
      socket.end();
      // Up to the signature: the handshake's; after it, the session's close and the next key pair.
      return sent.slice(0, sent.lastIndexOf(INS.COMPUTE_SIGNATURE_UPDATE) + 1);
    };
    for (let round = 0; round < 2; round++) {
      const during = await handshakeOnce();
      assert.ok(!during.includes(INS.GENERATE_KEY_PAIR), `round ${round}: ${during}`);
      assert.equal(during.filter((ins) => ins === INS.READ_PUBLIC_KEY).length, 1);
    }
    // Someone else used the volatile container in between: the key made ahead is gone, a new one is made.
    await client.random(1);
    await client.generateKeyPair(byId('04'));
    const during = await handshakeOnce();
    assert.equal(during.filter((ins) => ins === INS.GENERATE_KEY_PAIR).length, 1);
    assert.equal(clients.at(-1), 'sim-device');
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
