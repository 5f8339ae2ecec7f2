// DTLS 1.2 against openssl s_server -dtls1_2 on 127.0.0.1, with the keys in a virtual SIM: PSK suites
// with the master secret by COMPUTE PRF (1 APDU: the PSK never leaves the SIM), ECDHE-ECDSA with the
// client certificate's signature by the SIM (sign and full offload), the stateless cookie exchange
// (s_server always starts with a HelloVerifyRequest), and handshake fragmentation to a small MTU.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  exchangeWithOpenssl,
  FAST_RETRANSMIT,
  opensslPsk,
  startOpensslDtlsServer,
  typeTwoPsk,
} from '../../../test/helpers/dtls.js';
import { peerAvailable } from '../../../test/helpers/peers.js';
import { testPki } from '../../../test/helpers/pki.js';
import { simKeyOps } from '../../../test/helpers/sim-tls.js';

const pki = testPki();
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-dtls-openssl-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const openssl = peerAvailable('openssl');

describe('PSK from a Type II SIM against openssl s_server -dtls1_2', {
  skip: openssl === true ? false : openssl,
}, () => {
  for (const [cipher, code] of [
    ['PSK-AES128-CCM8', 0xc0a8],
    ['PSK-AES128-GCM-SHA256', 0x00a8],
    ['ECDHE-PSK-CHACHA20-POLY1305', 0xccac],
  ] as const)
    test(`${cipher}: a HelloVerifyRequest, then one COMPUTE PRF`, async () => {
      const { client: sim, keyOps, pskHex } = await typeTwoPsk();
      const server = await startOpensslDtlsServer(dir, pki, [
        ...opensslPsk(pskHex),
        '-cipher',
        cipher,
        '-listen',
      ]);
      try {
        const before = sim.apduCount;
        const { client, reply } = await exchangeWithOpenssl(server, {
          keyOps,
          cipherSuites: [code],
          retransmit: FAST_RETRANSMIT,
        });
        assert.equal(reply, 'pong from openssl');
        assert.equal(sim.apduCount - before, 1, 'the master secret is one COMPUTE PRF');
        assert.equal(
          client.getCipher()?.standardName.includes(cipher.startsWith('ECDHE') ? 'ECDHE_PSK' : 'PSK'),
          true,
        );
        assert.equal(client.getProtocol(), 'DTLSv1.2');
        assert.equal(client.handshakeStats.helloVerifyRequests, 1);
        assert.equal(client.handshakeStats.retransmissions, 0);
        assert.match(server.output(), new RegExp(`CIPHER is ${cipher}`));
      } finally {
        await server.stop();
      }
    });
});

describe('ECDHE-ECDSA with the client key in the SIM against openssl s_server -dtls1_2 -Verify', {
  skip: openssl === true ? false : openssl,
}, () => {
  for (const [cipher, code] of [
    ['ECDHE-ECDSA-AES128-CCM8', 0xc0ae],
    ['ECDHE-ECDSA-AES128-GCM-SHA256', 0xc02b],
  ] as const)
    for (const offload of ['sign', 'full'] as const)
      test(`${cipher}, ${offload} offload`, async () => {
        const { client: sim, keyOps } = await simKeyOps(pki.ca, offload);
        const server = await startOpensslDtlsServer(dir, pki, ['-Verify', '1', '-cipher', cipher, '-listen']);
        try {
          const before = sim.apduCount;
          const {
            client,
            reply,
            cipher: name,
          } = await exchangeWithOpenssl(server, {
            keyOps,
            ca: pki.ca.certificatePem,
            servername: 'localhost',
            cipherSuites: [code],
            retransmit: FAST_RETRANSMIT,
          });
          assert.equal(reply, 'pong from openssl');
          assert.equal(client.handshakeStats.helloVerifyRequests, 1);
          assert.equal(client.authorized, true);
          assert.ok(name?.startsWith('TLS_ECDHE_ECDSA'));
          assert.equal(client.getClientSignatureScheme(), 0x0403);
          const apdus = sim.apduCount - before;
          if (offload === 'sign') assert.ok(apdus <= 3, `${apdus} APDUs in sign offload (at most 3)`);
          else assert.ok(apdus > 3, `${apdus} APDUs in full offload (the ECDHE is in the SIM too)`);
          assert.match(server.output(), /subject=.*CN ?= ?sim-device/);
        } finally {
          await server.stop();
        }
      });

  test('a 300-byte MTU: our flight and the server certificate are fragmented and reassembled', async () => {
    const { keyOps } = await simKeyOps(pki.ca, 'sign');
    const server = await startOpensslDtlsServer(dir, pki, [
      '-Verify',
      '1',
      '-cipher',
      'ECDHE-ECDSA-AES128-CCM8',
      '-mtu',
      '300',
      '-listen',
    ]);
    try {
      const { client, reply } = await exchangeWithOpenssl(server, {
        keyOps,
        ca: pki.ca.certificatePem,
        servername: 'localhost',
        mtu: 300,
        retransmit: FAST_RETRANSMIT,
      });
      assert.equal(reply, 'pong from openssl');
      // Our Certificate alone is larger than 300 bytes: more datagrams than records.
      assert.ok(client.handshakeStats.datagramsSent >= 4, `${client.handshakeStats.datagramsSent} datagrams`);
      assert.equal(client.maxDatagramSize, 300 - 13 - 8 - 8);
      assert.equal(client.reassembler.discarded.conflicting, 0);
    } finally {
      await server.stop();
    }
  });
});
