// What servers present, against openssl s_server: RSA 2048–4096 and P-256/P-384/P-521 chains with an
// intermediate CA, ECDHE-RSA suites (RFC 5289, 7905), RSA signatures PKCS#1 v1.5 and PSS in both
// versions (RFC 8446 §4.2.3 keeps PKCS#1 out of a TLS 1.3 CertificateVerify), a chain sent out of
// order, a trust store given as a bundle, and key exchange on P-384 and P-521 — in TLS 1.3 after a
// HelloRetryRequest, which a proxy counting ClientHellos shows.
import assert from 'node:assert/strict';
import { sign, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type ConnectOptions, connect, SIGNATURE_SCHEME, SoftwareKeyOps, type TlsError } from '@iotsafe/tls';
import {
  peerAvailable,
  startIsolatedServer,
  startNodeTlsServer,
  startOpensslServer,
} from '../../../test/helpers/peers.js';
import { issue, serverChain, type TestKeyType } from '../../../test/helpers/pki.js';
import { verifyHandshakeSignature } from '../src/certificates.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-servers-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const openssl = peerAvailable('openssl');
const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** openssl s_server with `leaf` and the chain after it, answering GET with -www. */
async function serve(
  chain: { leaf: { certificatePem: string; keyPem: string }; rest: string },
  args: string[],
) {
  const home = mkdtempSync(join(dir, 'server-'));
  const chainFile = join(home, 'chain.pem');
  writeFileSync(chainFile, chain.rest);
  return startOpensslServer(
    home,
    { cert: chain.leaf.certificatePem, key: chain.leaf.keyPem, ca: chain.rest || chain.leaf.certificatePem },
    [...(chain.rest ? ['-cert_chain', chainFile] : []), '-www', ...args],
  );
}

/** One GET through our client; the protocol, suite and group it ran with. */
async function get(port: number, options: Partial<ConnectOptions>) {
  const socket = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    keyOps: new SoftwareKeyOps(),
    handshakeTimeout: 10_000,
    ...options,
  });
  await once(socket, 'secureConnect');
  const summary = {
    protocol: socket.getProtocol(),
    cipher: socket.getCipher()?.name,
    group: socket.getNegotiatedGroup(),
    chain: socket.getPeerX509Chain().length,
  };
  socket.write('GET / HTTP/1.0\r\n\r\n');
  let reply = '';
  for await (const chunk of socket) reply += chunk;
  assert.match(reply, /HTTP\/1\.0 200 ok/);
  return summary;
}

async function refusal(port: number, options: Partial<ConnectOptions>): Promise<TlsError> {
  const socket = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    keyOps: new SoftwareKeyOps(),
    handshakeTimeout: 10_000,
    ...options,
  });
  const [error] = (await once(socket, 'error')) as [TlsError];
  assert.ok(socket.destroyed);
  return error;
}

describe('server chains, suites and signatures', { skip: openssl === true ? false : openssl }, () => {
  const chains = new Map<string, ReturnType<typeof serverChain>>();
  // RSA keys are slow to make: larger RSA leaves sit under RSA-2048 CAs.
  const chainOf = (leaf: TestKeyType, ca: TestKeyType = leaf.startsWith('rsa') ? 'rsa2048' : leaf) => {
    const key = `${ca}/${leaf}`;
    if (!chains.has(key)) chains.set(key, serverChain({ root: ca, intermediate: ca, leaf }));
    return chains.get(key)!;
  };
  const served = (c: ReturnType<typeof serverChain>) => ({
    leaf: c.leaf,
    rest: c.intermediate.certificatePem,
  });

  for (const [name, code, version] of [
    ['ECDHE-RSA-AES128-GCM-SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', '1.2'],
    ['ECDHE-RSA-AES256-GCM-SHA384', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', '1.2'],
    ['ECDHE-RSA-CHACHA20-POLY1305', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', '1.2'],
  ] as const)
    test(`TLS ${version} ${code}, an RSA-2048 chain with an intermediate`, async () => {
      const c = chainOf('rsa2048');
      const server = await serve(served(c), ['-tls1_2', '-cipher', name]);
      try {
        const result = await get(server.port, { ca: c.root.certificatePem });
        assert.deepEqual(result, { protocol: 'TLSv1.2', cipher: code, group: 'x25519', chain: 2 });
      } finally {
        await server.stop();
      }
    });

  for (const [sigalg, versions] of [
    ['RSA+SHA256', ['1.2']],
    ['RSA+SHA384', ['1.2']],
    ['RSA+SHA512', ['1.2']],
    ['rsa_pss_rsae_sha256', ['1.2', '1.3']],
    ['rsa_pss_rsae_sha384', ['1.2', '1.3']],
    ['rsa_pss_rsae_sha512', ['1.2', '1.3']],
  ] as const)
    for (const version of versions)
      test(`TLS ${version}, the server signs with ${sigalg} only (-sigalgs)`, async () => {
        const c = chainOf('rsa2048');
        const server = await serve(served(c), [
          version === '1.2' ? '-tls1_2' : '-tls1_3',
          '-sigalgs',
          sigalg,
        ]);
        try {
          const result = await get(server.port, { ca: c.root.certificatePem });
          assert.equal(result.protocol, `TLSv${version}`);
        } finally {
          await server.stop();
        }
      });

  test('PKCS#1 v1.5 signs TLS 1.2 handshakes, never a TLS 1.3 CertificateVerify (illegal_parameter)', () => {
    const key = chainOf('rsa2048').leaf;
    const content = new Uint8Array(64).fill(7);
    const signature = new Uint8Array(sign('sha256', content, key.key));
    const leaf = new X509Certificate(key.certificatePem);
    verifyHandshakeSignature(
      leaf,
      SIGNATURE_SCHEME.rsa_pkcs1_sha256,
      content,
      signature,
      '1.2',
      'ServerKeyExchange',
    );
    assert.throws(
      () => verifyHandshakeSignature(leaf, SIGNATURE_SCHEME.rsa_pkcs1_sha256, content, signature, '1.3'),
      (e: TlsError) => e.alert === 'illegal_parameter' && /not allowed in TLS 1\.3/.test(e.message),
    );
    signature[5]! ^= 1;
    assert.throws(
      () =>
        verifyHandshakeSignature(
          leaf,
          SIGNATURE_SCHEME.rsa_pkcs1_sha256,
          content,
          signature,
          '1.2',
          'ServerKeyExchange',
        ),
      (e: TlsError) => e.alert === 'decrypt_error' && /ServerKeyExchange signature is wrong/.test(e.message),
    );
  });

  test('TLS 1.3 with a server that has only PKCS#1 v1.5 for its RSA key: it finds no scheme and says so', async () => {
    const c = chainOf('rsa2048');
    const server = await serve(served(c), ['-tls1_3', '-sigalgs', 'RSA+SHA256']);
    try {
      // OpenSSL finds no TLS 1.3 scheme for its RSA key among ours and says so.
      const error = await refusal(server.port, { ca: c.root.certificatePem });
      assert.equal(error.fromPeer, true);
      assert.match(error.message, /handshake_failure alert/);
    } finally {
      await server.stop();
    }
  });

  for (const leaf of ['rsa3072', 'rsa4096', 'p256', 'p384', 'p521'] as const)
    for (const version of ['1.2', '1.3'] as const)
      test(`TLS ${version}, a ${leaf} server key under an intermediate and a root`, async () => {
        const c = chainOf(leaf);
        const server = await serve(served(c), [version === '1.2' ? '-tls1_2' : '-tls1_3']);
        try {
          const result = await get(server.port, { ca: c.root.certificatePem });
          assert.equal(result.protocol, `TLSv${version}`);
          if (version === '1.2')
            assert.match(result.cipher ?? '', leaf.startsWith('rsa') ? /ECDHE_RSA/ : /ECDHE_ECDSA/);
          assert.equal(result.chain, 2);
        } finally {
          await server.stop();
        }
      });

  test('a chain sent out of order (leaf, the upper intermediate, then the lower one) still leads to the root', async () => {
    const root = issue({ commonName: 'ordering root CA (test key)', ca: true });
    const upper = issue({ commonName: 'upper intermediate (test key)', ca: true, issuer: root });
    const lower = issue({ commonName: 'lower intermediate (test key)', ca: true, issuer: upper });
    const leaf = issue({ commonName: 'localhost', issuer: lower, dns: ['localhost'], ips: ['127.0.0.1'] });
    for (const version of ['1.2', '1.3'] as const) {
      const server = await serve({ leaf, rest: upper.certificatePem + lower.certificatePem }, [
        version === '1.2' ? '-tls1_2' : '-tls1_3',
      ]);
      try {
        assert.equal((await get(server.port, { ca: root.certificatePem })).chain, 3);
        // Without the lower intermediate, no path: unknown_ca, and the error names the missing issuer.
      } finally {
        await server.stop();
      }
    }
    const broken = await serve({ leaf, rest: upper.certificatePem }, ['-tls1_3']);
    try {
      const error = await refusal(broken.port, { ca: root.certificatePem });
      assert.equal(error.alert, 'unknown_ca');
      assert.match(error.message, /does not chain to a trusted CA \(its issuer: "CN=lower intermediate/);
    } finally {
      await broken.stop();
    }
  });

  test('a trust store given as a bundle: the system bundle with our root added, and without it', {
    skip: existsSync(SYSTEM_BUNDLE) ? false : `${SYSTEM_BUNDLE} is not installed`,
  }, async () => {
    const c = chainOf('rsa2048');
    const bundle = readFileSync(SYSTEM_BUNDLE, 'utf8');
    assert.ok((bundle.match(/BEGIN CERTIFICATE/g) ?? []).length > 50);
    const server = await serve(served(c), ['-tls1_2']);
    try {
      assert.equal((await get(server.port, { ca: bundle + c.root.certificatePem })).protocol, 'TLSv1.2');
      const error = await refusal(server.port, { ca: bundle });
      assert.equal(error.alert, 'unknown_ca');
    } finally {
      await server.stop();
    }
  });
});

/**
 * A TCP proxy on 127.0.0.1 to `target`; each connection's two directions go through `fromClient` and
 * `fromServer`, which forward (or hold, or change) the bytes.
 */
async function proxy(
  target: number,
  connection: () => {
    fromClient: (bytes: Buffer, toServer: (b: Buffer) => void) => void;
    fromServer: (bytes: Buffer, toClient: (b: Buffer) => void) => void;
  },
) {
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    const { fromClient, fromServer } = connection();
    client.on('data', (d: Buffer) => fromClient(d, (b) => upstream.write(b)));
    upstream.on('data', (d: Buffer) => fromServer(d, (b) => client.write(b)));
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) s.on('close', close).on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A proxy that counts the ClientHello records the client sends (handshake type 1 in a record of type 22). */
async function helloCounter(target: number) {
  let hellos = 0;
  const counting = await proxy(target, () => {
    let pending = Buffer.alloc(0);
    return {
      fromClient: (d, toServer) => {
        pending = Buffer.concat([pending, d]);
        while (pending.length >= 6 && pending.length >= 5 + pending.readUInt16BE(3)) {
          if (pending[0] === 22 && pending[5] === 1) hellos++;
          pending = pending.subarray(5 + pending.readUInt16BE(3));
        }
        toServer(d);
      },
      fromServer: (d, toClient) => toClient(d),
    };
  });
  return { ...counting, hellos: () => hellos };
}

describe('key exchange on P-384 and P-521', { skip: openssl === true ? false : openssl }, () => {
  const c = serverChain({ root: 'p256', intermediate: 'p256', leaf: 'p256' });
  for (const [groups, group] of [
    ['P-384', 'secp384r1'],
    ['P-521', 'secp521r1'],
  ] as const)
    for (const version of ['1.2', '1.3'] as const)
      test(`TLS ${version}, -groups ${groups}: ${version === '1.3' ? 'a HelloRetryRequest, then ' : ''}ECDHE on ${group}`, async () => {
        const server = await serve({ leaf: c.leaf, rest: c.intermediate.certificatePem }, [
          version === '1.2' ? '-tls1_2' : '-tls1_3',
          '-groups',
          groups,
        ]);
        const counter = await helloCounter(server.port);
        try {
          const result = await get(counter.port, { ca: c.root.certificatePem });
          assert.equal(result.group, group);
          // x25519 goes first as the key share: TLS 1.3 needs a second ClientHello for the server's group.
          assert.equal(counter.hellos(), version === '1.3' ? 2 : 1);
        } finally {
          await counter.close();
          await server.stop();
        }
      });
});

/**
 * A proxy that flips the last byte of the server's ServerKeyExchange (its signature's last byte) in a
 * TLS 1.2 server flight, which travels in clear.
 */
async function serverKeyExchangeTamperer(target: number) {
  return proxy(target, () => {
    let flight = Buffer.alloc(0);
    let done = false;
    let flipped = false;
    return {
      fromClient: (d, toServer) => toServer(d),
      fromServer: (d, toClient) => {
        if (done) return toClient(d);
        flight = Buffer.concat([flight, d]);
        // Plaintext handshake records: find the ServerKeyExchange (type 12) and flip its last byte.
        let offset = 0;
        while (offset + 5 <= flight.length && flight[offset] === 22) {
          const length = flight.readUInt16BE(offset + 3);
          if (offset + 5 + length > flight.length) return;
          for (let m = offset + 5; m + 4 <= offset + 5 + length; ) {
            const size = flight.readUIntBE(m + 1, 3);
            if (flight[m] === 12 && !flipped) {
              flight[m + 3 + size]! ^= 0x01;
              flipped = true;
            }
            if (flight[m] === 14) done = true;
            m += 4 + size;
          }
          offset += 5 + length;
        }
        if (done) toClient(flight);
      },
    };
  });
}

describe('a forged ServerKeyExchange', { skip: openssl === true ? false : openssl }, () => {
  for (const leaf of ['p256', 'rsa2048'] as const)
    test(`TLS 1.2 with a ${leaf} server: a bad ServerKeyExchange signature is named as such (decrypt_error)`, async () => {
      const c = serverChain({ root: leaf, intermediate: leaf, leaf });
      const server = await serve({ leaf: c.leaf, rest: c.intermediate.certificatePem }, ['-tls1_2']);
      const tamperer = await serverKeyExchangeTamperer(server.port);
      try {
        const error = await refusal(tamperer.port, { ca: c.root.certificatePem });
        assert.equal(error.alert, 'decrypt_error');
        assert.match(error.message, /^the server's ServerKeyExchange signature is wrong$/);
      } finally {
        await tamperer.close();
        await server.stop();
      }
    });
});

describe("RSA and P-384 chains against Node's tls server and gnutls-serv", () => {
  const chains = {
    rsa: serverChain({ root: 'rsa2048', intermediate: 'rsa2048', leaf: 'rsa2048' }),
    p384: serverChain({ root: 'p384', intermediate: 'p384', leaf: 'p384' }),
  };
  for (const [kind, chain] of Object.entries(chains))
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const)
      test(`node:tls, a ${kind} chain with an intermediate, ${version}`, async () => {
        const server = await startNodeTlsServer(
          { key: chain.leaf.keyPem, cert: chain.chainPem, minVersion: version, maxVersion: version },
          (s) => s.on('data', () => s.end('hello')),
        );
        try {
          const socket = connect({
            host: '127.0.0.1',
            port: server.port,
            servername: 'localhost',
            ca: chain.root.certificatePem,
            keyOps: new SoftwareKeyOps(),
          });
          await once(socket, 'secureConnect');
          assert.equal(socket.getProtocol(), version);
          assert.equal(socket.getPeerX509Chain().length, 2);
          socket.write('hi');
          const [reply] = (await once(socket, 'data')) as [Buffer];
          assert.equal(reply.toString(), 'hello');
          socket.destroy();
        } finally {
          await server.close();
        }
      });

  const gnutls =
    [
      peerAvailable('gnutls-serv', ['--version']),
      peerAvailable('socat', ['-V']),
      peerAvailable('unshare', ['--version']),
    ].find((a) => a !== true) ?? true;
  for (const [kind, chain] of Object.entries(chains))
    for (const version of ['1.2', '1.3'] as const)
      test(`gnutls-serv, a ${kind} chain with an intermediate, TLS ${version}`, {
        skip: gnutls === true ? false : gnutls,
      }, async () => {
        const home = mkdtempSync(join(dir, 'gnutls-'));
        writeFileSync(join(home, 'chain.pem'), chain.chainPem);
        writeFileSync(join(home, 'key.pem'), chain.leaf.keyPem);
        const server = await startIsolatedServer(
          home,
          `gnutls-serv -p 5556 --echo --x509certfile ${join(home, 'chain.pem')} --x509keyfile ${join(home, 'key.pem')} --priority NORMAL:-VERS-ALL:+VERS-TLS${version}`,
          /Echo Server listening|ready|listening/i,
        );
        try {
          const socket = connect({
            socket: server.connect(),
            servername: 'localhost',
            ca: chain.root.certificatePem,
            keyOps: new SoftwareKeyOps(),
          });
          await once(socket, 'secureConnect');
          assert.equal(socket.getProtocol(), `TLSv${version}`);
          if (version === '1.2')
            assert.match(socket.getCipher()?.name ?? '', kind === 'rsa' ? /ECDHE_RSA/ : /ECDHE_ECDSA/);
          socket.write('hello gnutls\n');
          const [reply] = (await once(socket, 'data')) as [Buffer];
          assert.equal(reply.toString(), 'hello gnutls\n');
          socket.destroy();
        } finally {
          await server.stop();
        }
      });
});
