// Client authentication with a brainpoolP256r1 key in the SIM. TLS 1.3 signs with
// ecdsa_brainpoolP256r1tls13_sha256 (0x081A, RFC 8734), which neither OpenSSL 3.0 nor GnuTLS 3.7
// implements: a TLS 1.3 server scripted from the library's primitives checks that signature with
// node:crypto, and Node's own server shows the clear refusal a 3.0-era server gives. TLS 1.2 signs as
// (sha256, ecdsa) and lists brainpoolP256r1 in supported_groups (RFC 7027), which OpenSSL requires of
// a client certificate's curve: openssl s_server and node:tls accept it when the curve is enabled.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { byId, encodeEcPublicKeyInfo, IoTSafe, IoTSafeKeyOps, MemoryTransport } from '@iotsafe/device';
import { VirtualSim } from '@iotsafe/sim';
import { SIGNATURE_SCHEME, type TlsError } from '@iotsafe/tls';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';
import { peerAvailable, startNodeTlsServer, startOpensslServer } from '../../../test/helpers/peers.js';
import {
  connectToTestServer,
  issue,
  mutualTlsOptions,
  serverPems,
  testPki,
} from '../../../test/helpers/pki.js';
import { startScriptedTls13Server } from '../../../test/helpers/tls13-server.js';

const pki = testPki();
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-brainpool-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The SIM's brainpool key (container 09), certified by the test CA; the certificate in file 03. */
async function brainpoolKeyOps() {
  const sim = VirtualSim.inMemory(TEST_PROFILE);
  const client = await IoTSafe.connect(new MemoryTransport(sim.card));
  const { point } = await client.generateKeyPair(byId('09'));
  const certificate = issue({
    commonName: 'brainpool-device',
    issuer: pki.ca,
    publicKeySpki: encodeEcPublicKeyInfo(point, 'brainpoolP256r1'),
  });
  sim.writeFile(byId('03'), certificate.certificateDer);
  const keyOps = await IoTSafeKeyOps.create(client, {
    privateKey: byId('09'),
    certificateChain: [byId('03')],
    offload: 'sign',
  });
  return { client, keyOps, certificate };
}

const BRAINPOOL_SCHEME = SIGNATURE_SCHEME.ecdsa_brainpoolP256r1tls13_sha256;

/** Our client on 127.0.0.1:port, trusting the test CA, with the SIM's brainpool key. */
const clientTo = (port: number, keyOps: IoTSafeKeyOps) => connectToTestServer(pki, port, { keyOps });

/** The scripted TLS 1.3 server, asking for a client certificate signed with one of `requestSchemes`. */
const scriptedServer = (requestSchemes: number[]) =>
  startScriptedTls13Server({
    auth: {
      kind: 'certificate',
      certificateDer: pki.server.certificateDer,
      keyPem: pki.server.keyPem,
      requestSchemes,
    },
  });

describe('TLS 1.3, ecdsa_brainpoolP256r1tls13_sha256', () => {
  test('the key offers 0x081A, and the SIM signature verifies at the server (node:crypto)', async () => {
    const { client, keyOps, certificate } = await brainpoolKeyOps();
    assert.deepEqual(keyOps.signatureSchemes, [BRAINPOOL_SCHEME]);
    const server = await scriptedServer([SIGNATURE_SCHEME.ecdsa_secp256r1_sha256, BRAINPOOL_SCHEME]);
    try {
      const before = client.apduCount;
      const socket = clientTo(server.port, keyOps);
      await once(socket, 'secureConnect');
      const seen = await server.clientFlight;
      assert.equal(client.apduCount - before, 3);
      assert.deepEqual(seen.chain, [certificate.certificateDer]);
      assert.equal(seen.scheme, BRAINPOOL_SCHEME);
      assert.equal(seen.signatureValid, true);
      assert.equal(seen.finishedValid, true);
      socket.destroy();
    } finally {
      await server.close();
    }
  });

  test('a server that does not list 0x081A gets no certificate, never a P-256 claim for a brainpool key', async () => {
    const { keyOps } = await brainpoolKeyOps();
    const server = await scriptedServer([SIGNATURE_SCHEME.ecdsa_secp256r1_sha256]);
    try {
      const socket = clientTo(server.port, keyOps);
      await once(socket, 'secureConnect');
      const seen = await server.clientFlight;
      assert.deepEqual([seen.chain.length, seen.scheme, seen.finishedValid], [0, undefined, true]);
      socket.destroy();
    } finally {
      await server.close();
    }
  });

  test('node:tls (OpenSSL 3.0) requires a certificate: its refusal says why none was sent', async () => {
    const { keyOps } = await brainpoolKeyOps();
    const server = await startNodeTlsServer({ ...mutualTlsOptions(pki), minVersion: 'TLSv1.3' });
    try {
      const [error] = (await once(clientTo(server.port, keyOps), 'error').catch((e) => [e])) as [TlsError];
      assert.equal(error.alert, 'certificate_required');
      assert.equal(error.fromPeer, true);
      assert.match(
        error.message,
        /our key signs with ecdsa_brainpoolP256r1tls13_sha256; the server accepts .*ecdsa_secp256r1_sha256/,
      );
    } finally {
      await server.close();
    }
  });
});

describe('TLS 1.2 with a brainpool client certificate', () => {
  test('node:tls with brainpoolP256r1 enabled sees the SIM certificate', async () => {
    const { keyOps } = await brainpoolKeyOps();
    const seen: string[] = [];
    const server = await startNodeTlsServer(
      { ...mutualTlsOptions(pki), maxVersion: 'TLSv1.2', ecdhCurve: 'X25519:P-256:brainpoolP256r1' },
      (s) => {
        seen.push(String(s.getPeerCertificate().subject?.CN));
        s.end('hello');
      },
    );
    try {
      const socket = clientTo(server.port, keyOps);
      await once(socket, 'secureConnect');
      assert.equal(socket.getProtocol(), 'TLSv1.2');
      const [data] = (await once(socket, 'data')) as [Buffer];
      assert.equal(data.toString(), 'hello');
      assert.deepEqual(seen, ['brainpool-device']);
      socket.destroy();
    } finally {
      await server.close();
    }
  });

  const openssl = peerAvailable('openssl');
  test('openssl s_server -Verify 1 with -groups including brainpoolP256r1', {
    skip: openssl === true ? false : openssl,
  }, async () => {
    const { keyOps } = await brainpoolKeyOps();
    const server = await startOpensslServer(dir, serverPems(pki), [
      '-tls1_2',
      '-Verify',
      '1',
      '-groups',
      'X25519:P-256:brainpoolP256r1',
      '-www',
      '-naccept',
      '1',
    ]);
    try {
      const socket = clientTo(server.port, keyOps);
      await once(socket, 'secureConnect');
      socket.write('GET / HTTP/1.0\r\n\r\n');
      let reply = '';
      for await (const chunk of socket) reply += chunk;
      assert.match(reply, /HTTP\/1\.0 200 ok/);
      assert.match(reply, /CN ?= ?brainpool-device/);
    } finally {
      await server.stop();
    }
  });
});
