// Our TLS 1.3 client against Node's own tls server (OpenSSL inside), mutual authentication, on
// 127.0.0.1: every cipher suite and group, ALPN, KeyUpdate, close_notify, and the failures.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { CIPHER_SUITE, type ConnectOptions, connect, SoftwareKeyOps, TlsError } from '@iotsafe/tls';
import { connectToTestServer, testPki } from '../../../test/helpers/pki.js';

const pki = testPki();
let server: tls.Server;
let port = 0;
const seenClients: string[] = [];
/** The SNI each connection carried (false: none). */
const seenServerNames: (string | false)[] = [];

function startServer(cert = pki.server): Promise<tls.Server> {
  const s = tls.createServer(
    {
      key: cert.keyPem,
      cert: cert.certificatePem,
      ca: pki.ca.certificatePem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['mqtt', 'http/1.1'],
    },
    (socket) => {
      seenClients.push(String(socket.getPeerCertificate().subject?.CN));
      seenServerNames.push((socket as tls.TLSSocket & { servername: string | false }).servername);
      socket.on('data', (d) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
      socket.on('error', () => {});
    },
  );
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

before(async () => {
  server = await startServer();
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

const clientKeyOps = () =>
  new SoftwareKeyOps({ certificateChain: [pki.client.certificateDer], privateKeyPem: pki.client.keyPem });

/** Our client to a server on 127.0.0.1 (the shared one unless `port` says otherwise), with the test key. */
const connectTo = (options: Partial<ConnectOptions> = {}) =>
  connectToTestServer(pki, port, {
    keyOps: clientKeyOps(),
    ...options,
  });

async function roundTrip(options: Partial<ConnectOptions>): Promise<string> {
  const socket = connectTo(options);
  await once(socket, 'secureConnect');
  socket.write('hello');
  const [data] = (await once(socket, 'data')) as [Buffer];
  socket.end();
  return data.toString();
}

describe('TLS 1.3 with client certificates against node:tls', () => {
  for (const [suiteName, code] of Object.entries(CIPHER_SUITE)) {
    for (const group of ['x25519', 'secp256r1'] as const) {
      test(`${suiteName} over ${group}`, async () => {
        assert.equal(await roundTrip({ cipherSuites: [code], groups: [group] }), 'echo:hello');
        assert.equal(seenClients.at(-1), 'device-0001');
      });
    }
  }
  test('the client flight (ChangeCipherSpec, Certificate, CertificateVerify, Finished) leaves in one write', async () => {
    const socket = net.connect(port, '127.0.0.1');
    let writes = 0;
    const { _write, _writev } = socket;
    socket._write = (...args) => {
      writes++;
      return _write.apply(socket, args);
    };
    socket._writev = (...args) => {
      writes++;
      return _writev!.apply(socket, args);
    };
    const tlsSocket = connect({
      socket,
      servername: 'localhost',
      ca: pki.ca.certificatePem,
      keyOps: clientKeyOps(),
    });
    await once(tlsSocket, 'secureConnect');
    assert.equal(writes, 2, 'ClientHello, then the whole flight');
    tlsSocket.destroy();
  });
  test('ALPN, the peer certificate, the protocol and the cipher are reported like tls.TLSSocket', async () => {
    const socket = connectTo({
      alpnProtocols: ['mqtt'],
    });
    await once(socket, 'secureConnect');
    assert.equal(socket.alpnProtocol, 'mqtt');
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    assert.equal((socket.getPeerCertificate() as { subject: { CN: string } }).subject.CN, 'localhost');
    assert.equal(socket.authorized, true);
    socket.keyUpdate(true);
    socket.write('after key update');
    const [data] = (await once(socket, 'data')) as [Buffer];
    assert.equal(data.toString(), 'echo:after key update');
    socket.end();
    await once(socket, 'close');
  });
  test('SNI: the servername, else the host name, never an IP address (RFC 6066 §3)', async () => {
    for (const [options, expected] of [
      [{ servername: 'localhost' }, 'localhost'],
      [{ servername: undefined, host: 'localhost' }, 'localhost'],
      [{ servername: undefined, host: '127.0.0.1' }, false], // the certificate names 127.0.0.1 too
    ] as const) {
      const seen = seenServerNames.length;
      const socket = connectTo(options);
      await once(socket, 'secureConnect');
      socket.write('ping'); // the server has the connection once the echo comes back
      await once(socket, 'data');
      assert.equal(seenServerNames.length, seen + 1);
      assert.equal(seenServerNames.at(-1), expected, JSON.stringify(options));
      socket.destroy();
    }
  });
  test('a large write crosses several records both ways', async () => {
    const socket = connectTo({});
    await once(socket, 'secureConnect');
    const big = Buffer.alloc(100_000, 0x61);
    socket.write(big);
    let payload = 0;
    for await (const chunk of socket) {
      payload += (chunk as Buffer).toString().replace(/echo:/g, '').length;
      if (payload >= big.length) break;
    }
    assert.equal(payload, big.length);
    socket.destroy();
  });
  test('keys go to an SSLKEYLOGFILE-format log only when asked', async () => {
    const lines: string[] = [];
    await roundTrip({ keylog: (l) => lines.push(l) });
    assert.deepEqual(
      lines.map((l) => l.split(' ')[0]),
      [
        'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
        'SERVER_HANDSHAKE_TRAFFIC_SECRET',
        'CLIENT_TRAFFIC_SECRET_0',
        'SERVER_TRAFFIC_SECRET_0',
      ],
    );
  });
});

describe('failures are clear errors and closed connections', () => {
  async function failure(
    options: Parameters<typeof connect>[0],
    serverCert?: ReturnType<typeof testPki>['server'],
  ): Promise<TlsError> {
    let s: tls.Server | undefined;
    let p = port;
    if (serverCert) {
      s = await startServer(serverCert);
      p = (s.address() as AddressInfo).port;
    }
    try {
      const socket = connectTo({
        port: p,
        handshakeTimeout: 5000,
        ...options,
      });
      const [error] = (await once(socket, 'error')) as [TlsError];
      assert.ok(socket.destroyed);
      return error;
    } finally {
      s?.close();
    }
  }
  test('untrusted server certificate', async () => {
    const e = await failure({}, pki.untrusted);
    assert.equal(e.alert, 'unknown_ca');
  });
  test('expired server certificate', async () => {
    const e = await failure({}, pki.expired);
    assert.equal(e.alert, 'certificate_expired');
  });
  test('server certificate for another host', async () => {
    const e = await failure({ servername: 'localhost' }, pki.otherHost);
    assert.match(e.message, /not valid for "localhost"/);
  });
  test('a server that demands a certificate we do not have', async () => {
    const e = await failure({ keyOps: new SoftwareKeyOps() });
    assert.ok(e instanceof TlsError);
    assert.match(e.message, /alert|closed/);
  });
  test('no trust anchors is refused up front', async () => {
    const e = await failure({ ca: undefined });
    assert.match(e.message, /no trust anchors/);
  });
});

describe('HelloRetryRequest', () => {
  test('a server that wants P-256 after an x25519 share gets a second ClientHello', async () => {
    const hrrServer = tls.createServer(
      {
        key: pki.server.keyPem,
        cert: pki.server.certificatePem,
        ca: pki.ca.certificatePem,
        requestCert: true,
        minVersion: 'TLSv1.3',
        ecdhCurve: 'P-256',
      },
      (s) => {
        s.on('data', (d) => s.write(d));
        s.on('error', () => {});
      },
    );
    await new Promise<void>((resolve) => hrrServer.listen(0, '127.0.0.1', resolve));
    try {
      const hrrPort = (hrrServer.address() as AddressInfo).port;
      const socket = connectTo({
        port: hrrPort,
        groups: ['x25519', 'secp256r1'],
      });
      await once(socket, 'secureConnect');
      socket.write('after HRR');
      const [data] = (await once(socket, 'data')) as [Buffer];
      assert.equal(data.toString(), 'after HRR');
      socket.destroy();
    } finally {
      hrrServer.close();
    }
  });
});

describe('plugs into https.request', () => {
  test('an https.Agent whose createConnection returns our socket', async () => {
    const https = await import('node:https');
    const web = https.createServer(
      {
        key: pki.server.keyPem,
        cert: pki.server.certificatePem,
        ca: pki.ca.certificatePem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) =>
        res.end(
          `hello ${(req.socket as tls.TLSSocket).getPeerCertificate().subject?.CN} over ${(req.socket as tls.TLSSocket).getProtocol()}`,
        ),
    );
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    try {
      const webPort = (web.address() as AddressInfo).port;
      const agent = new https.Agent({ keepAlive: false });
      (agent as unknown as { createConnection: () => unknown }).createConnection = () =>
        connectTo({ port: webPort, alpnProtocols: ['http/1.1'] });
      const body = await new Promise<string>((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: webPort, path: '/', agent }, (res) => {
          let text = '';
          res.on('data', (d) => {
            text += d;
          });
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(body, 'hello device-0001 over TLSv1.3');
    } finally {
      web.close();
    }
  });
});
