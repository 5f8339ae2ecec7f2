// DTLS 1.2 against gnutls-serv --udp --echo (GnuTLS 3.7), in a loopback-only network namespace
// bridged to 127.0.0.1: PSK with the master secret by the Type II SIM's COMPUTE PRF, and ECDHE-ECDSA
// with the client certificate signed by the SIM, the server requiring it.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { utf8 } from '@iotsafe/protocol';
import { connectDtls, type DtlsConnectOptions } from '@iotsafe/tls';
import { FAST_RETRANSMIT, PSK_IDENTITY, typeTwoPsk } from '../../../test/helpers/dtls.js';
import { startIsolatedUdpServer } from '../../../test/helpers/isolated-udp.js';
import { peerAvailable } from '../../../test/helpers/peers.js';
import { testPki } from '../../../test/helpers/pki.js';
import { simKeyOps } from '../../../test/helpers/sim-tls.js';

const pki = testPki();
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-dtls-gnutls-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const gnutls = peerAvailable('gnutls-serv', ['--version']);
const files = {
  cert: join(dir, 'server.pem'),
  key: join(dir, 'server.key'),
  ca: join(dir, 'ca.pem'),
  psk: join(dir, 'psk.txt'),
};
writeFileSync(files.cert, pki.server.certificatePem);
writeFileSync(files.key, pki.server.keyPem, { mode: 0o600 });
writeFileSync(files.ca, pki.ca.certificatePem);

async function gnutlsServer(extra: string) {
  return startIsolatedUdpServer(
    dir,
    `gnutls-serv --udp --echo -p 5557 --x509certfile ${files.cert} --x509keyfile ${files.key} ${extra}`,
    5557,
    /UDP Echo Server listening on IPv4/,
  );
}

async function echo(port: number, options: DtlsConnectOptions) {
  const client = connectDtls({ port, retransmit: FAST_RETRANSMIT, ...options });
  try {
    await client.ready();
    const reply = once(client, 'message') as Promise<[Uint8Array]>;
    await client.send(utf8('echo me'));
    return { client, reply: Buffer.from((await reply)[0]).toString() };
  } finally {
    await client.close();
  }
}

describe('gnutls-serv --udp', { skip: gnutls === true ? false : gnutls }, () => {
  for (const [name, code] of [
    ['PSK-AES128-CCM8', 0xc0a8],
    ['PSK-AES128-GCM-SHA256', 0x00a8],
  ] as const)
    test(`${name}: the PSK stays in the SIM (one COMPUTE PRF)`, async () => {
      const { client: sim, keyOps, pskHex } = await typeTwoPsk();
      writeFileSync(files.psk, `${PSK_IDENTITY}:${pskHex.toLowerCase()}\n`, { mode: 0o600 });
      const server = await gnutlsServer(`--pskpasswd ${files.psk} --priority NORMAL:+PSK:+AES-128-CCM-8`);
      try {
        const before = sim.apduCount;
        const { client, reply } = await echo(server.port, { keyOps, cipherSuites: [code] });
        assert.equal(reply, 'echo me');
        assert.equal(sim.apduCount - before, 1);
        assert.equal(client.handshakeStats.helloVerifyRequests, 1, 'gnutls-serv asks for a cookie');
      } finally {
        await server.stop();
      }
    });

  test('ECDHE-ECDSA-AES128-CCM8, the client certificate required and signed by the SIM', async () => {
    const { client: sim, keyOps } = await simKeyOps(pki.ca, 'sign');
    const server = await gnutlsServer(
      `--require-client-cert --x509cafile ${files.ca} --priority NORMAL:+AES-128-CCM-8`,
    );
    try {
      const before = sim.apduCount;
      const { client, reply } = await echo(server.port, {
        keyOps,
        ca: pki.ca.certificatePem,
        servername: 'localhost',
        cipherSuites: [0xc0ae],
      });
      assert.equal(reply, 'echo me');
      assert.equal(client.getCipher()?.name, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8');
      assert.equal(client.getClientSignatureScheme(), 0x0403);
      assert.ok(sim.apduCount - before <= 3);
    } finally {
      await server.stop();
    }
  });
});
