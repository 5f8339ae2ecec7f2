// TLS 1.3 with an external PSK held in a Type II SIM: the Early Secret is computed in the SIM (COMPUTE
// HKDF mode 01), the PSK never leaves it. Against openssl s_server -psk and node:tls with pskCallback.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import tls from 'node:tls';
import { byLabel, IoTSafe, IoTSafeKeyOps, MemoryTransport } from '@iotsafe/device';
import { bytesToHex, utf8 } from '@iotsafe/protocol';
import { TYPE2_PROFILE, VirtualSim } from '@iotsafe/sim';
import { connect, SoftwareKeyOps, TlsError } from '@iotsafe/tls';
import { peerAvailable, startOpensslServer } from '../../../test/helpers/peers.js';
import { testPki } from '../../../test/helpers/pki.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-psk-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const identity = utf8('device-0001');

async function simWithPsk() {
  const sim = VirtualSim.inMemory(TYPE2_PROFILE);
  const psk = sim.containers().find((c) => c.objectClass === 'secret' && c.label === 'psk');
  if (psk?.objectClass !== 'secret' || !psk.value) throw new Error('no PSK in the profile');
  const client = await IoTSafe.connect(new MemoryTransport(sim.card));
  const keyOps = await IoTSafeKeyOps.create(client, {
    offload: 'sign',
    psk: { identity, secret: byLabel('psk') },
  });
  return { client, keyOps, pskHex: bytesToHex(psk.value) };
}

async function exchange(
  port: number,
  keyOps: IoTSafeKeyOps | SoftwareKeyOps,
  pskMode: 'psk_dhe_ke' | 'psk_ke',
  message: string,
) {
  const socket = connect({ host: '127.0.0.1', port, keyOps, pskMode, rejectUnauthorized: true });
  await once(socket, 'secureConnect');
  assert.equal(socket.authorized, true);
  socket.write(message);
  const [reply] = (await once(socket, 'data')) as [Buffer];
  socket.destroy();
  return reply.toString();
}

describe('TLS 1.3 PSK against node:tls (pskCallback)', () => {
  for (const mode of ['psk_dhe_ke', 'psk_ke'] as const) {
    test(`${mode}: the PSK stays in the SIM; one APDU per handshake (psk_ke: refused by node's policy)`, async () => {
      const { client, keyOps, pskHex } = await simWithPsk();
      const server = tls.createServer(
        {
          minVersion: 'TLSv1.3',
          ciphers: 'TLS_AES_128_GCM_SHA256',
          pskCallback: (_socket, id) => (id === 'device-0001' ? Buffer.from(pskHex, 'hex') : null),
        } as tls.TlsOptions,
        (s) => {
          s.on('data', (d) => s.write(d));
          s.on('error', () => {});
        },
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      server.on('tlsClientError', () => {});
      try {
        const port = (server.address() as AddressInfo).port;
        if (mode === 'psk_ke') {
          // Node's OpenSSL refuses PSK-only key exchange (it does not expose SSL_OP_ALLOW_NO_DHE_KEX).
          const socket = connect({ host: '127.0.0.1', port, keyOps, pskMode: mode });
          const [error] = (await once(socket, 'error')) as [TlsError];
          assert.equal(error.alert, 'handshake_failure');
          return;
        }
        const before = client.apduCount;
        assert.equal(await exchange(port, keyOps, mode, 'psk hello'), 'psk hello');
        assert.equal(client.apduCount - before, 1);
      } finally {
        server.close();
      }
    });
  }
  test('a wrong PSK is refused: a clear error, the connection closed', async () => {
    const server = tls.createServer(
      {
        minVersion: 'TLSv1.3',
        ciphers: 'TLS_AES_128_GCM_SHA256',
        pskCallback: () => Buffer.alloc(32, 7),
      } as tls.TlsOptions,
      (s) => s.on('error', () => {}),
    );
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const keyOps = new SoftwareKeyOps({ psk: { identity, key: new Uint8Array(32).fill(8) } });
      const socket = connect({
        host: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        keyOps,
        ca: testPki().ca.certificatePem,
        handshakeTimeout: 5000,
      });
      const [error] = (await once(socket, 'error')) as [TlsError];
      assert.ok(error instanceof TlsError);
      assert.ok(socket.destroyed);
    } finally {
      server.close();
    }
  });
});

const openssl = peerAvailable('openssl');
describe('TLS 1.3 PSK against openssl s_server -psk', { skip: openssl === true ? false : openssl }, () => {
  for (const mode of ['psk_dhe_ke', 'psk_ke'] as const) {
    test(mode, async () => {
      const { keyOps, pskHex } = await simWithPsk();
      const pki = testPki();
      const server = await startOpensslServer(
        dir,
        { cert: pki.server.certificatePem, key: pki.server.keyPem, ca: pki.ca.certificatePem },
        [
          '-tls1_3',
          '-nocert',
          '-psk',
          pskHex,
          '-psk_identity',
          'device-0001',
          '-www',
          '-naccept',
          '1',
          ...(mode === 'psk_ke' ? ['-allow_no_dhe_kex'] : []),
        ],
      );
      try {
        const reply = await exchange(server.port, keyOps, mode, 'GET / HTTP/1.0\r\n\r\n');
        assert.match(reply, /HTTP\/1\.0 200 ok/);
      } finally {
        await server.stop();
      }
    });
  }
});
