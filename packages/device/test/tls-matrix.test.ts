// The interop matrix: every cipher suite × TLS version × offload level, with the client key in the
// virtual SIM, against each real server that requires a client certificate: Node's tls, OpenSSL
// s_server (-Verify) and GnuTLS gnutls-serv (--require-client-cert; in a loopback-only network
// namespace, reached through a Unix socket). One server per peer and version serves its whole row.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net, { type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type tls from 'node:tls';
import { CIPHER_SUITE, connect } from '@iotsafe/tls';
import {
  peerAvailable,
  startIsolatedServer,
  startNodeTlsServer,
  startOpensslServer,
} from '../../../test/helpers/peers.js';
import { mutualTlsOptions, serverPems, testPki } from '../../../test/helpers/pki.js';
import { simKeyOps } from '../../../test/helpers/sim-tls.js';

const pki = testPki();
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-tls-matrix-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type Version = '1.3' | '1.2';
const SUITES: Record<Version, Record<string, number>> = {
  '1.3': CIPHER_SUITE,
  '1.2': {
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 0xc02b,
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 0xc02c,
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 0xcca9,
  },
};
/** SIM commands per handshake with sessions closed after use (the default). */
const APDUS = { sign: { '1.3': 3, '1.2': 3 }, full: { '1.3': 9, '1.2': 8 } } as const;

interface Peer {
  /** Opens the connection our client runs over. */
  socket(): Socket;
  /** A request the server answers, and what the answer must contain. */
  request: string;
  reply: RegExp;
  stop(): Promise<void>;
}

function matrixRow(peerName: string, version: Version, start: () => Promise<Peer>) {
  describe(`${peerName}, TLS ${version}`, () => {
    let peer: Peer;
    before(async () => {
      peer = await start();
    });
    after(() => peer?.stop());
    for (const [suiteName, code] of Object.entries(SUITES[version]))
      for (const offload of ['sign', 'full'] as const)
        test(`${suiteName}, ${offload} offload`, async () => {
          const { client, keyOps } = await simKeyOps(pki.ca, offload);
          const before = client.apduCount;
          const socket = connect({
            socket: peer.socket(),
            servername: 'localhost',
            ca: pki.ca.certificatePem,
            keyOps,
            cipherSuites: [code],
            maxVersion: version === '1.2' ? 'TLSv1.2' : 'TLSv1.3',
          });
          await once(socket, 'secureConnect');
          assert.equal(client.apduCount - before, APDUS[offload][version]);
          assert.equal(socket.getProtocol(), `TLSv${version}`);
          assert.equal(socket.getCipher()?.name, suiteName);
          socket.write(peer.request);
          let reply = '';
          for await (const chunk of socket) {
            reply += chunk;
            if (peer.reply.test(reply)) break;
          }
          assert.match(reply, peer.reply);
          socket.destroy();
        });
  });
}

const tlsVersion = (v: Version) => (v === '1.3' ? 'TLSv1.3' : 'TLSv1.2') as tls.SecureVersion;

for (const version of ['1.3', '1.2'] as const)
  matrixRow("node's tls", version, async () => {
    const server = await startNodeTlsServer(
      { ...mutualTlsOptions(pki), minVersion: tlsVersion(version), maxVersion: tlsVersion(version) },
      (s) => s.on('data', () => s.end(`hello ${s.getPeerCertificate().subject?.CN}`)),
    );
    return {
      socket: () => net.connect(server.port, '127.0.0.1'),
      request: 'ping',
      reply: /^hello sim-device$/,
      stop: server.close,
    };
  });

const openssl = peerAvailable('openssl');
describe('openssl s_server', { skip: openssl === true ? false : openssl }, () => {
  for (const version of ['1.3', '1.2'] as const)
    matrixRow('openssl s_server -Verify 1', version, async () => {
      const server = await startOpensslServer(mkdtempSync(join(dir, 'openssl-')), serverPems(pki), [
        version === '1.3' ? '-tls1_3' : '-tls1_2',
        '-Verify',
        '1',
        '-www',
      ]);
      return {
        socket: () => net.connect(server.port, '127.0.0.1'),
        // -www answers with the session: it names the client certificate the server verified.
        request: 'GET / HTTP/1.0\r\n\r\n',
        reply: /HTTP\/1\.0 200 ok[\s\S]*CN ?= ?sim-device/,
        stop: server.stop,
      };
    });
});

const gnutls =
  [
    peerAvailable('gnutls-serv', ['--version']),
    peerAvailable('socat', ['-V']),
    peerAvailable('unshare', ['--version']),
  ].find((a) => a !== true) ?? true;
describe('gnutls-serv', { skip: gnutls === true ? false : gnutls }, () => {
  for (const version of ['1.3', '1.2'] as const)
    matrixRow('gnutls-serv --require-client-cert', version, async () => {
      const home = mkdtempSync(join(dir, 'gnutls-'));
      const files = {
        cert: join(home, 'server.pem'),
        key: join(home, 'server.key'),
        ca: join(home, 'ca.pem'),
      };
      writeFileSync(files.cert, pki.server.certificatePem);
      writeFileSync(files.key, pki.server.keyPem);
      writeFileSync(files.ca, pki.ca.certificatePem);
      const server = await startIsolatedServer(
        home,
        `gnutls-serv -p 5556 --echo --require-client-cert --x509cafile ${files.ca} --x509certfile ${files.cert} --x509keyfile ${files.key} --priority NORMAL:-VERS-ALL:+VERS-TLS${version}`,
        /Echo Server listening|ready|listening/i,
      );
      return {
        socket: server.connect,
        request: 'hello gnutls\n',
        reply: /^hello gnutls\n$/,
        stop: server.stop,
      };
    });
});
