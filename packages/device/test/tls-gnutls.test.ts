// TLS 1.3 mTLS with the SIM key against GnuTLS's gnutls-serv (echo mode, client certificate required).
// gnutls-serv runs in its own network namespace (loopback only), reached through a Unix socket.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { byId, encodeP256PublicKeyInfo, IoTSafe, IoTSafeKeyOps, MemoryTransport } from '@iotsafe/device';
import { TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { CIPHER_SUITE, connect } from '@iotsafe/tls';
import { peerAvailable, startIsolatedServer } from '../../../test/helpers/peers.js';
import { issue, testPki } from '../../../test/helpers/pki.js';

const available =
  [
    peerAvailable('gnutls-serv', ['--version']),
    peerAvailable('socat', ['-V']),
    peerAvailable('unshare', ['--version']),
  ].find((a) => a !== true) ?? true;
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-gnutls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('TLS 1.3 and 1.2 mTLS with the SIM key against gnutls-serv', {
  skip: available === true ? false : available,
}, () => {
  const pki = testPki();
  for (const [offload, suite, version] of [
    ['sign', CIPHER_SUITE.TLS_AES_128_GCM_SHA256, '1.3'],
    ['full', CIPHER_SUITE.TLS_CHACHA20_POLY1305_SHA256, '1.3'],
    ['sign', CIPHER_SUITE.TLS_AES_256_GCM_SHA384, '1.3'],
    ['full', 0xc02b, '1.2'],
    ['sign', 0xcca9, '1.2'],
  ] as const) {
    test(`TLS ${version}, ${offload} offload, suite ${suite.toString(16)}`, async () => {
      const sim = VirtualSim.inMemory(TYPE1_PROFILE);
      const client = await IoTSafe.connect(new MemoryTransport(sim.card));
      const { point } = await client.generateKeyPair(byId('01'));
      sim.writeFile(
        byId('02'),
        issue({ commonName: 'sim-device', issuer: pki.ca, publicKeySpki: encodeP256PublicKeyInfo(point) })
          .certificateDer,
      );
      const keyOps = await IoTSafeKeyOps.create(client, {
        privateKey: byId('01'),
        certificateChain: [byId('02')],
        offload,
      });
      writeFileSync(join(dir, 'server.pem'), pki.server.certificatePem);
      writeFileSync(join(dir, 'server.key'), pki.server.keyPem);
      writeFileSync(join(dir, 'ca.pem'), pki.ca.certificatePem);
      const server = await startIsolatedServer(
        dir,
        `gnutls-serv -p 5556 --echo --require-client-cert --x509cafile ${join(dir, 'ca.pem')} --x509certfile ${join(dir, 'server.pem')} --x509keyfile ${join(dir, 'server.key')} --priority NORMAL:-VERS-ALL:+VERS-TLS${version}`,
        /Echo Server listening|ready|listening/i,
      );
      try {
        const socket = connect({
          socket: server.connect(),
          servername: 'localhost',
          ca: pki.ca.certificatePem,
          keyOps,
          cipherSuites: [suite],
        });
        await once(socket, 'secureConnect');
        socket.write('hello gnutls\n');
        const [data] = (await once(socket, 'data')) as [Buffer];
        assert.equal(data.toString(), 'hello gnutls\n');
        socket.destroy();
      } finally {
        await server.stop();
      }
    });
  }
});
