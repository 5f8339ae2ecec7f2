// TLS 1.2 with the key or PSK in the SIM: ECDHE-ECDSA (client certificate) against node:tls and openssl
// s_server, PSK and ECDHE-PSK against openssl s_server -psk with the master secret computed in the SIM
// (COMPUTE PRF), and the TLS 1.3 downgrade sentinel.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { byLabel, IoTSafe, IoTSafeKeyOps, MemoryTransport } from '@iotsafe/device';
import { bytesToHex, utf8 } from '@iotsafe/protocol';
import { TYPE2_PROFILE, VirtualSim } from '@iotsafe/sim';
import { connect, type TlsError } from '@iotsafe/tls';
import {
  type NodeTlsServer,
  peerAvailable,
  startNodeTlsServer,
  startOpensslServer,
} from '../../../test/helpers/peers.js';
import { connectToTestServer, mutualTlsOptions, serverPems, testPki } from '../../../test/helpers/pki.js';
import { simKeyOps } from '../../../test/helpers/sim-tls.js';

const pki = testPki();
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-tls12-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function exchange(options: Parameters<typeof connect>[0], message = 'ping') {
  const socket = connect({
    host: '127.0.0.1',
    servername: 'localhost',
    ca: pki.ca.certificatePem,
    ...options,
  });
  await once(socket, 'secureConnect');
  const protocol = socket.getProtocol();
  const cipher = socket.getCipher()?.name;
  socket.write(message);
  const [data] = (await once(socket, 'data')) as [Buffer];
  socket.destroy();
  return { protocol, cipher, reply: data.toString() };
}

describe('one ClientHello for both versions, against a TLS 1.2 node:tls server', () => {
  let server: NodeTlsServer;
  let port = 0;
  const seen: string[] = [];
  before(async () => {
    server = await startNodeTlsServer({ ...mutualTlsOptions(pki), maxVersion: 'TLSv1.2' }, (s) => {
      seen.push(String(s.getPeerCertificate().subject?.CN));
      s.on('data', (d) => s.write(d));
    });
    port = server.port;
  });
  after(() => server.close());
  // Every ECDHE-ECDSA suite × offload level is in tls-matrix.test.ts.
  test('the same client negotiates TLS 1.3 with a TLS 1.3 server and TLS 1.2 here', async () => {
    const { keyOps } = await simKeyOps(pki.ca, 'sign');
    assert.equal((await exchange({ port, keyOps })).protocol, 'TLSv1.2');
  });
});

describe('no renegotiation (RFC 5746 §4.2)', () => {
  test('a HelloRequest gets a no_renegotiation warning, never a second handshake', async () => {
    const serverSaw: string[] = [];
    const server = await startNodeTlsServer({ ...mutualTlsOptions(pki), maxVersion: 'TLSv1.2' }, (s) => {
      s.on('error', (e: Error) => serverSaw.push(e.message));
      s.once('data', () => s.renegotiate({}, () => {}));
    });
    try {
      const { client, keyOps } = await simKeyOps(pki.ca, 'sign');
      const socket = connectToTestServer(pki, server.port, {
        keyOps,
      });
      await once(socket, 'secureConnect');
      const signaturesBefore = client.apduCount;
      socket.write('renegotiate, please');
      const [error] = (await once(socket, 'error').catch((e) => [e])) as [TlsError];
      // OpenSSL insists on its renegotiation, so our refusal ends the connection, from its side.
      assert.equal(error.fromPeer, true);
      assert.match(serverSaw.join(), /no renegotiation/);
      assert.equal(client.apduCount, signaturesBefore, 'no second CertificateVerify was signed');
    } finally {
      await server.close();
    }
  });
});

describe('the TLS 1.3 downgrade sentinel', () => {
  test('a TLS 1.3 server made to answer TLS 1.2 (supported_versions stripped in transit) is refused', async () => {
    const server = tls.createServer({ key: pki.server.keyPem, cert: pki.server.certificatePem }, (s) =>
      s.on('error', () => {}),
    );
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = net.createServer((c) => {
      const up = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
      let first = true;
      c.on('data', (d: Buffer) => {
        if (first) {
          first = false;
          const at = d.indexOf(Buffer.from('002b0005040304', 'hex'));
          if (at >= 0) d.writeUInt16BE(0xfafa, at); // supported_versions becomes an unknown extension
        }
        up.write(d);
      });
      up.on('data', (d) => c.write(d));
      for (const s of [c, up]) s.on('error', () => {});
      c.on('close', () => up.destroy());
      up.on('close', () => c.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const { keyOps } = await simKeyOps(pki.ca, 'sign');
      const socket = connectToTestServer(pki, (proxy.address() as AddressInfo).port, {
        keyOps,
      });
      const [error] = (await once(socket, 'error')) as [TlsError];
      assert.equal(error.alert, 'illegal_parameter');
      assert.match(error.message, /downgrade/);
    } finally {
      proxy.close();
      server.close();
    }
  });
});

const openssl = peerAvailable('openssl');
describe('TLS 1.2 against openssl s_server', { skip: openssl === true ? false : openssl }, () => {
  for (const [cipher, code] of [
    ['PSK-AES128-GCM-SHA256', 0x00a8],
    ['PSK-AES128-CCM', 0xc0a4],
    ['PSK-AES128-CCM8', 0xc0a8],
    ['PSK-CHACHA20-POLY1305', 0xccab],
    ['ECDHE-PSK-CHACHA20-POLY1305', 0xccac],
  ] as const) {
    test(`${cipher}: the PSK stays in the SIM (master secret by COMPUTE PRF)`, async () => {
      const sim = VirtualSim.inMemory(TYPE2_PROFILE);
      const psk = sim.containers().find((c) => c.objectClass === 'secret' && c.label === 'psk');
      if (psk?.objectClass !== 'secret' || !psk.value) throw new Error('no PSK');
      const client = await IoTSafe.connect(new MemoryTransport(sim.card));
      const keyOps = await IoTSafeKeyOps.create(client, {
        offload: 'sign',
        psk: { identity: utf8('device-0001'), secret: byLabel('psk') },
      });
      const server = await startOpensslServer(dir, serverPems(pki), [
        '-tls1_2',
        '-nocert',
        '-psk',
        bytesToHex(psk.value),
        '-psk_identity',
        'device-0001',
        '-cipher',
        cipher,
        '-www',
        '-naccept',
        '1',
      ]);
      try {
        const before = client.apduCount;
        const socket = connect({
          host: '127.0.0.1',
          port: server.port,
          keyOps,
          maxVersion: 'TLSv1.2',
          cipherSuites: [code],
        });
        await once(socket, 'secureConnect');
        assert.equal(client.apduCount - before, 1, 'one COMPUTE PRF');
        assert.equal(socket.getCipher()?.name.includes(cipher.includes('ECDHE') ? 'ECDHE_PSK' : 'PSK'), true);
        socket.write('GET / HTTP/1.0\r\n\r\n');
        const [data] = (await once(socket, 'data')) as [Buffer];
        assert.match(data.toString(), /HTTP\/1\.0 200 ok/);
        socket.destroy();
      } finally {
        await server.stop();
      }
    });
  }
});
