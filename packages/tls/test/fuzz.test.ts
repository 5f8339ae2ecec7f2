// Seeded fuzzing of what the client reads from the network: the record layer and message parsers
// (only TlsError may come out), and whole handshakes through a proxy that corrupts the server's
// flight (every connection ends in secureConnect or a TlsError, closed, never a crash or a hang).
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { SoftwareKeyOps, TlsError } from '@iotsafe/tls';
import { connectToTestServer, testPki } from '../../../test/helpers/pki.js';
import { SeededRandom } from '../../../test/helpers/random.js';
import { TLS12 } from '../src/constants.js';
import { unmarshalClientHello, unmarshalServerHello } from '../src/hello.js';
import {
  unmarshalCertificate,
  unmarshalCertificateRequest,
  unmarshalEncryptedExtensions,
  unmarshalKeyUpdate,
  unmarshalNewSessionTicket,
} from '../src/messages.js';
import { StreamRecordLayer } from '../src/record/stream-layer.js';
import {
  unmarshalCertificate12,
  unmarshalCertificateRequest12,
  unmarshalClientKeyExchange,
  unmarshalServerKeyExchange,
} from '../src/tls12/messages.js';

const SEED = Number(process.env.FUZZ_SEED ?? 8448);

test('record layer and message parsers throw only TlsError on 100,000 random inputs', () => {
  const r = new SeededRandom(SEED);
  const parsers: ((b: Uint8Array) => unknown)[] = [
    unmarshalServerHello,
    unmarshalClientHello,
    unmarshalEncryptedExtensions,
    unmarshalCertificateRequest,
    unmarshalCertificate,
    unmarshalNewSessionTicket,
    unmarshalKeyUpdate,
    unmarshalCertificate12,
    unmarshalCertificateRequest12,
    (b) => unmarshalServerKeyExchange(b, 'ecdhe_ecdsa'),
    (b) => unmarshalServerKeyExchange(b, 'ecdhe_psk'),
    (b) => unmarshalClientKeyExchange(b, 'ecdhe_psk'),
    (b) => {
      const layer = new StreamRecordLayer(TLS12);
      layer.push(b);
      for (let i = 0; i < 4; i++) layer.next();
    },
  ];
  for (let i = 0; i < 100_000; i++) {
    const input = r.bytes(r.int(120));
    if (i % 6 === 5 && input.length > 5)
      input.set(
        [22, 3, 3, input.length >> 8, input.length & 0xff].map((v) => (r.int(4) === 0 ? r.int(256) : v)),
        0,
      );
    try {
      parsers[i % parsers.length]!(input);
    } catch (error) {
      if (!(error instanceof TlsError))
        assert.fail(`parser ${i % parsers.length} threw ${String(error)} (seed ${SEED}, #${i})`);
    }
  }
});

const pki = testPki();
let server: tls.Server;
let proxy: net.Server;
/** A corrupted chunk, and whether the proxy then closes (a peer that goes away mid-handshake). */
let corrupt: (chunk: Buffer, index: number) => { bytes: Buffer; close?: boolean } = (c) => ({ bytes: c });

before(async () => {
  server = tls.createServer(
    {
      key: pki.server.keyPem,
      cert: pki.server.certificatePem,
      ca: pki.ca.certificatePem,
      requestCert: true,
      minVersion: 'TLSv1.3',
    },
    (s) => {
      s.on('data', (d) => s.write(d));
      s.on('error', () => {});
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const serverPort = (server.address() as AddressInfo).port;
  proxy = net.createServer((client) => {
    const upstream = net.connect(serverPort, '127.0.0.1');
    let chunks = 0;
    upstream.on('data', (d: Buffer) => {
      const { bytes, close } = corrupt(d, chunks++);
      client.write(bytes);
      if (close) client.end();
    });
    client.on('data', (d) => upstream.write(d));
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
});
after(() => {
  proxy.close();
  server.close();
});

test('300 handshakes with a corrupted server flight end cleanly', { timeout: 120_000 }, async () => {
  const r = new SeededRandom(SEED + 1);
  const keyOps = new SoftwareKeyOps({
    certificateChain: [pki.client.certificateDer],
    privateKeyPem: pki.client.keyPem,
  });
  const port = (proxy.address() as AddressInfo).port;
  let failures = 0;
  let timeouts = 0;
  for (let i = 0; i < 300; i++) {
    corrupt = (chunk, index) => {
      if (index > 1 || r.int(3) === 0) return { bytes: chunk };
      const out = Buffer.from(chunk);
      const kind = r.int(4);
      if (kind === 0) return { bytes: out.subarray(0, r.int(out.length)), close: true };
      for (let k = 1 + r.int(3); k > 0; k--) out[r.int(out.length)] ^= 1 << r.int(8);
      return { bytes: kind === 1 ? Buffer.concat([out, Buffer.from(r.bytes(r.int(40)))]) : out };
    };
    // A length field inflated by a bit flip makes the client wait for bytes that never come: the
    // handshake deadline ends that with a clear error, which is the defined behaviour.
    const socket = connectToTestServer(pki, port, {
      keyOps,
      handshakeTimeout: 1000,
    });
    const outcome = await new Promise<string>((resolve, reject) => {
      socket.once('secureConnect', () => resolve('connected'));
      socket.once('error', (e) =>
        e instanceof TlsError ? resolve(e.message.includes('timed out') ? 'hung' : 'failed') : reject(e),
      );
    });
    if (outcome !== 'connected') {
      failures++;
      assert.ok(socket.destroyed, `handshake #${i} failed but its socket is open (seed ${SEED + 1})`);
    }
    if (outcome === 'hung') timeouts++;
    socket.destroy();
  }
  assert.ok(failures > 100, `the proxy should break most handshakes (${failures} failed)`);
  assert.ok(timeouts < 60, `${timeouts} handshakes needed the deadline`);
});
