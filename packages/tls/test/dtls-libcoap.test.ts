// CoAP over our DTLS (as @iotsafe/coap's secureTransport) against libcoap's coap-server with each DTLS
// back-end Debian ships (OpenSSL, GnuTLS), on 127.0.0.1: with the PSK of a Type II SIM (the master
// secret by COMPUTE PRF), and with PKI where the server requires a client certificate, signed by the SIM.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CoapClient, ResponseCode } from '@iotsafe/coap';
import {
  type DtlsClient,
  type DtlsConnectOptions,
  dtlsTransport,
  SoftwareKeyOps,
  TlsError,
} from '@iotsafe/tls';
import { FAST_RETRANSMIT, typeTwoPsk } from '../../../test/helpers/dtls.js';
import {
  LIBCOAP_DTLS_BACKENDS,
  type LibcoapDtlsServer,
  libcoapDtlsAvailable,
  startLibcoapDtlsServer,
} from '../../../test/helpers/libcoap-dtls.js';
import { testPki } from '../../../test/helpers/pki.js';
import { simKeyOps } from '../../../test/helpers/sim-tls.js';

const pki = testPki();
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-dtls-libcoap-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** GET /, PUT /time and GET /example_data (1,500 bytes in Block2 blocks) over coaps://. */
async function coapRoundTrips(server: LibcoapDtlsServer, options: Omit<DtlsConnectOptions, 'host' | 'port'>) {
  let dtls: DtlsClient | undefined;
  const factory = dtlsTransport({ retransmit: FAST_RETRANSMIT, ...options });
  const client = await CoapClient.connect(`coaps://127.0.0.1:${server.dtlsPort}`, {
    transmission: { ackTimeout: 500 },
    secureTransport: async (peer) => {
      dtls = await factory(peer);
      return dtls;
    },
  });
  try {
    const index = await client.get('/');
    assert.equal(index.code, ResponseCode.Content);
    assert.match(index.text(), /libcoap/);
    assert.equal((await client.put('/time', Uint8Array.of(1))).code, ResponseCode.Changed);
    const data = await client.get('/example_data', { blockSize: 256 });
    assert.equal(data.payload.length, 1500);
    return dtls!;
  } finally {
    await client.close();
  }
}

for (const backend of LIBCOAP_DTLS_BACKENDS) {
  const available = libcoapDtlsAvailable(backend);
  describe(`coap-server-${backend}`, { skip: available === true ? false : available }, () => {
    test('PSK from a Type II SIM: GET, PUT and a Block2 GET over coaps://', async () => {
      const { client: sim, keyOps, pskText } = await typeTwoPsk({ printable: true });
      const server = await startLibcoapDtlsServer(backend, { kind: 'psk', key: pskText });
      try {
        const before = sim.apduCount;
        const dtls = await coapRoundTrips(server, { keyOps });
        assert.equal(sim.apduCount - before, 1, 'one COMPUTE PRF');
        assert.match(
          dtls.getCipher()!.name,
          /^TLS_PSK_WITH_AES_128_CCM_8$|^TLS_PSK_WITH_AES_128_GCM_SHA256$/,
        );
      } finally {
        await server.stop();
      }
    });

    test('PKI requiring a client certificate: the SIM signs (sign offload)', async () => {
      const { client: sim, keyOps } = await simKeyOps(pki.ca, 'sign');
      const server = await startLibcoapDtlsServer(backend, {
        kind: 'pki',
        dir,
        cert: pki.server.certificatePem,
        key: pki.server.keyPem,
        ca: pki.ca.certificatePem,
      });
      try {
        const before = sim.apduCount;
        const dtls = await coapRoundTrips(server, {
          keyOps,
          ca: pki.ca.certificatePem,
          servername: 'localhost',
        });
        assert.equal(dtls.getClientSignatureScheme(), 0x0403, 'a CertificateVerify signed by the SIM');
        assert.ok(sim.apduCount - before <= 3);
        assert.match(dtls.getCipher()!.name, /^TLS_ECDHE_ECDSA_WITH_AES_128_(CCM_8|GCM_SHA256)$/);
        // The control: without a certificate, the same server refuses the handshake.
        const refused = await dtlsTransport({
          keyOps: new SoftwareKeyOps(),
          ca: pki.ca.certificatePem,
          servername: 'localhost',
          retransmit: { initial: 200, maxRetransmissions: 2 },
        })({ host: '127.0.0.1', port: server.dtlsPort }).then(
          () => assert.fail('connected without a client certificate'),
          (error: TlsError) => error,
        );
        assert.ok(refused instanceof TlsError, String(refused));
      } finally {
        await server.stop();
      }
    });
  });
}
