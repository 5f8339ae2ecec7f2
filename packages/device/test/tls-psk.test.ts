// TLS 1.3 with an external PSK held in a Type II SIM: the Early Secret is computed in the SIM (COMPUTE
// HKDF mode 01), the PSK never leaves it; TLS 1.2 PSK suites take the master secret from COMPUTE PRF.
// Against openssl s_server -psk, node:tls with pskCallback and gnutls-serv --pskpasswd.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type tls from 'node:tls';
import { byLabel, IoTSafe, IoTSafeKeyOps, MemoryTransport } from '@iotsafe/device';
import { bytesToHex, utf8 } from '@iotsafe/protocol';
import { TYPE2_PROFILE, VirtualSim } from '@iotsafe/sim';
import { type ConnectOptions, connect, SoftwareKeyOps, TlsError } from '@iotsafe/tls';
import {
  peerAvailable,
  startIsolatedServer,
  startNodeTlsServer,
  startOpensslServer,
} from '../../../test/helpers/peers.js';
import { serverPems, testPki } from '../../../test/helpers/pki.js';

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

/** node:tls's pskCallback for the SIM's identity and PSK. */
const pskFor = (pskHex: string) => (_socket: tls.TLSSocket, id: string) =>
  id === 'device-0001' ? Buffer.from(pskHex, 'hex') : null;
const echo = (s: tls.TLSSocket) => s.on('data', (d) => s.write(d));

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
      const server = await startNodeTlsServer(
        {
          minVersion: 'TLSv1.3',
          ciphers: 'TLS_AES_128_GCM_SHA256',
          pskCallback: pskFor(pskHex),
        } as tls.TlsOptions,
        echo,
      );
      try {
        const port = server.port;
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
        await server.close();
      }
    });
  }
  test('a wrong PSK is refused: a clear error, the connection closed', async () => {
    const server = await startNodeTlsServer({
      minVersion: 'TLSv1.3',
      ciphers: 'TLS_AES_128_GCM_SHA256',
      pskCallback: () => Buffer.alloc(32, 7),
    } as tls.TlsOptions);
    try {
      const keyOps = new SoftwareKeyOps({ psk: { identity, key: new Uint8Array(32).fill(8) } });
      const socket = connect({
        host: '127.0.0.1',
        port: server.port,
        keyOps,
        ca: testPki().ca.certificatePem,
        handshakeTimeout: 5000,
      });
      const [error] = (await once(socket, 'error')) as [TlsError];
      assert.ok(error instanceof TlsError);
      assert.ok(socket.destroyed);
    } finally {
      await server.close();
    }
  });
});

describe('TLS 1.2 PSK against node:tls (pskCallback)', () => {
  test('PSK and ECDHE-PSK suites: one COMPUTE PRF per handshake', async () => {
    const { client, keyOps, pskHex } = await simWithPsk();
    const server = await startNodeTlsServer(
      {
        maxVersion: 'TLSv1.2',
        ciphers: 'PSK-AES128-GCM-SHA256:PSK-CHACHA20-POLY1305:ECDHE-PSK-CHACHA20-POLY1305',
        pskCallback: pskFor(pskHex),
      } as tls.TlsOptions,
      echo,
    );
    try {
      const port = server.port;
      for (const [code, name] of [
        [0x00a8, 'TLS_PSK_WITH_AES_128_GCM_SHA256'],
        [0xccab, 'TLS_PSK_WITH_CHACHA20_POLY1305_SHA256'],
        [0xccac, 'TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256'],
      ] as const) {
        const before = client.apduCount;
        const socket = connect({
          host: '127.0.0.1',
          port,
          keyOps,
          maxVersion: 'TLSv1.2',
          cipherSuites: [code],
        });
        await once(socket, 'secureConnect');
        assert.equal(socket.getCipher()?.name, name);
        assert.equal(client.apduCount - before, 1);
        socket.write('psk 1.2');
        const [reply] = (await once(socket, 'data')) as [Buffer];
        assert.equal(reply.toString(), 'psk 1.2');
        socket.destroy();
      }
    } finally {
      await server.close();
    }
  });
});

const openssl = peerAvailable('openssl');
describe('TLS 1.3 PSK against openssl s_server -psk', { skip: openssl === true ? false : openssl }, () => {
  for (const mode of ['psk_dhe_ke', 'psk_ke'] as const) {
    test(mode, async () => {
      const { keyOps, pskHex } = await simWithPsk();
      const pki = testPki();
      const server = await startOpensslServer(dir, serverPems(pki), [
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
      ]);
      try {
        const reply = await exchange(server.port, keyOps, mode, 'GET / HTTP/1.0\r\n\r\n');
        assert.match(reply, /HTTP\/1\.0 200 ok/);
      } finally {
        await server.stop();
      }
    });
  }
});

const gnutls =
  [
    peerAvailable('gnutls-serv', ['--version']),
    peerAvailable('socat', ['-V']),
    peerAvailable('unshare', ['--version']),
  ].find((a) => a !== true) ?? true;
describe('PSK against gnutls-serv --pskpasswd (loopback-only namespace)', {
  skip: gnutls === true ? false : gnutls,
}, () => {
  async function gnutlsPskServer(pskHex: string, priority: string) {
    const home = mkdtempSync(join(dir, 'gnutls-'));
    const passwd = join(home, 'psk.passwd');
    writeFileSync(passwd, `device-0001:${pskHex.toLowerCase()}\n`, { mode: 0o600 });
    return startIsolatedServer(
      home,
      `gnutls-serv -p 5556 --echo --pskpasswd ${passwd} --priority ${priority}`,
      /Echo Server listening|ready|listening/i,
    );
  }
  async function exchangeOver(socket: Socket, keyOps: IoTSafeKeyOps, options: Partial<ConnectOptions>) {
    const tlsSocket = connect({ socket, keyOps, ...options });
    await once(tlsSocket, 'secureConnect');
    tlsSocket.write('hello gnutls\n');
    const [reply] = (await once(tlsSocket, 'data')) as [Buffer];
    const cipher = tlsSocket.getCipher()?.name;
    tlsSocket.destroy();
    return { reply: reply.toString(), cipher };
  }

  test('TLS 1.3, psk_dhe_ke and psk_ke: one COMPUTE HKDF each, the PSK never leaves the SIM', async () => {
    const { client, keyOps, pskHex } = await simWithPsk();
    const server = await gnutlsPskServer(pskHex, 'NORMAL:-VERS-ALL:+VERS-TLS1.3:+PSK:+ECDHE-PSK');
    try {
      for (const pskMode of ['psk_dhe_ke', 'psk_ke'] as const) {
        const before = client.apduCount;
        const { reply } = await exchangeOver(server.connect(), keyOps, { pskMode });
        assert.equal(reply, 'hello gnutls\n');
        assert.equal(client.apduCount - before, 1, pskMode);
      }
    } finally {
      await server.stop();
    }
  });

  test('TLS 1.2 PSK and ECDHE-PSK suites: the master secret by COMPUTE PRF', async () => {
    const { client, keyOps, pskHex } = await simWithPsk();
    const server = await gnutlsPskServer(
      pskHex,
      'NORMAL:-VERS-ALL:+VERS-TLS1.2:+PSK:+ECDHE-PSK:+AES-128-CCM:+AES-128-CCM-8:+CHACHA20-POLY1305',
    );
    try {
      for (const [code, name] of [
        [0x00a8, 'TLS_PSK_WITH_AES_128_GCM_SHA256'],
        [0xc0a4, 'TLS_PSK_WITH_AES_128_CCM'],
        [0xc0a8, 'TLS_PSK_WITH_AES_128_CCM_8'],
        [0xccab, 'TLS_PSK_WITH_CHACHA20_POLY1305_SHA256'],
        [0xccac, 'TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256'],
      ] as const) {
        const before = client.apduCount;
        const result = await exchangeOver(server.connect(), keyOps, {
          maxVersion: 'TLSv1.2',
          cipherSuites: [code],
        });
        assert.deepEqual(result, { reply: 'hello gnutls\n', cipher: name });
        assert.equal(client.apduCount - before, 1, name);
      }
    } finally {
      await server.stop();
    }
  });
});
