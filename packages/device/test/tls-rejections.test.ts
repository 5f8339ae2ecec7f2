// Servers that refuse the client, in TLS 1.3 (where a refused certificate comes after our Finished) and
// TLS 1.2: a client CA the server does not trust, a client scheme it does not accept, a certificate it
// requires and does not get, a wrong PSK, an unknown PSK identity. Each is a TlsError from the library
// whose message says why, and — through `iotsafe connect` — a non-zero exit with that reason. Against
// openssl s_server -verify_return_error, and a Python ssl server, which resets right after its alert.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { byId, byLabel, IoTSafe, IoTSafeKeyOps, MemoryTransport } from '@iotsafe/device';
import { bytesToHex, hexToBytes, utf8 } from '@iotsafe/protocol';
import { TYPE1_PROFILE, TYPE2_PROFILE, VirtualSim } from '@iotsafe/sim';
import { type ConnectOptions, connect, type KeyOps, TlsError } from '@iotsafe/tls';
import { runCliAsync } from '../../../test/helpers/cli.js';
import {
  peerAvailable,
  startMosquittoListener,
  startOpensslServer,
  startPythonTlsServer,
} from '../../../test/helpers/peers.js';
import { issue, serverPems, testPki } from '../../../test/helpers/pki.js';
import { certifySimKey } from '../../../test/helpers/sim-tls.js';

const pki = testPki();
const otherCa = issue({ commonName: 'a CA the server trusts instead (test key)', ca: true });
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-rejections-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const STORAGE_KEY = '5a'.repeat(32);
const openssl = peerAvailable('openssl');
const python = peerAvailable('python3', ['--version']);
type Version = '1.2' | '1.3';

/** A Type I SIM directory with its key certified by the test CA (file 02), and a Type II one with a PSK. */
let certificateSim: string;
let pskSim: string;
let psk: string;
before(async () => {
  writeFileSync(join(dir, 'other-ca.pem'), otherCa.certificatePem);
  writeFileSync(join(dir, 'test-ca.pem'), pki.ca.certificatePem);
  certificateSim = join(dir, 'sim-type1');
  const sim = VirtualSim.create(certificateSim, TYPE1_PROFILE, { storageKey: hexToBytes(STORAGE_KEY) });
  await certifySimKey(sim, pki.ca);
  sim.close();
  pskSim = join(dir, 'sim-type2');
  const typeTwo = VirtualSim.create(pskSim, TYPE2_PROFILE, { storageKey: hexToBytes(STORAGE_KEY) });
  const secret = typeTwo.containers().find((c) => c.objectClass === 'secret' && c.label === 'psk');
  if (secret?.objectClass !== 'secret' || !secret.value) throw new Error('no PSK in the profile');
  psk = bytesToHex(secret.value);
  typeTwo.close();
});

/**
 * The library's verdict with the KeyOps of a SIM directory opened in this process; the SIM is closed
 * before this returns, so the CLI can open it in its own (one process at a time owns a directory).
 */
async function libraryRefusalWith(
  simDir: string,
  kind: 'certificate' | 'psk',
  port: number,
  options: Partial<ConnectOptions>,
): Promise<TlsError> {
  const sim = VirtualSim.open(simDir, { storageKey: hexToBytes(STORAGE_KEY) });
  try {
    return await libraryRefusal(port, { ...options, keyOps: await keyOpsOf(sim, kind) });
  } finally {
    sim.close();
  }
}

async function keyOpsOf(sim: VirtualSim, kind: 'certificate' | 'psk'): Promise<KeyOps> {
  const client = await IoTSafe.connect(new MemoryTransport(sim.card));
  return IoTSafeKeyOps.create(client, {
    offload: 'sign',
    ...(kind === 'psk'
      ? { psk: { identity: utf8('device-0001'), secret: byLabel('psk') } }
      : { privateKey: byId('01'), certificateChain: [byId('02')] }),
  });
}

/** Our library's verdict: the TlsError the connection fails with. */
async function libraryRefusal(port: number, options: Partial<ConnectOptions>): Promise<TlsError> {
  const socket = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    handshakeTimeout: 10_000,
    ...options,
  });
  const outcome = await once(socket, 'secureConnect').then(
    () => undefined,
    (error: Error) => error,
  );
  socket.destroy();
  assert.ok(outcome instanceof TlsError, `expected a refusal, got ${outcome ?? 'secureConnect'}`);
  return outcome;
}

/** `iotsafe connect` against the same server: its exit code and what it said. */
function cliRefusal(simDir: string, port: number, args: string[]) {
  return runCliAsync(
    ['--sim', simDir, 'connect', `tls://127.0.0.1:${port}`, '--servername', 'localhost', ...args],
    { IOTSAFE_STORAGE_KEY: STORAGE_KEY },
    'GET / HTTP/1.0\r\n\r\n',
  );
}

interface Case {
  name: string;
  /** s_server arguments besides the version. */
  server: (version: Version) => string[];
  client: 'certificate' | 'psk' | 'psk-with-ca';
  /** The alert each version's server sends, and the reason our message must give. */
  alert: Record<Version, string>;
  reason: RegExp;
  /** The versions this server refuses in (s_server takes an unknown PSK identity in TLS 1.2: a warning only). */
  versions?: readonly Version[];
}

const requireCertificate = ['-Verify', '1', '-verify_return_error'];
const CASES: Case[] = [
  {
    name: 'a client CA the server does not trust',
    server: () => [...requireCertificate, '-CAfile', join(dir, 'other-ca.pem')],
    client: 'certificate',
    alert: { '1.3': 'unknown_ca', '1.2': 'unknown_ca' },
    reason:
      /the server rejected our certificate: it sent an unknown_ca alert: ours, "CN=sim-device", is issued by "CN=iotsafe test CA \(test key\)", a CA the server does not trust/,
  },
  {
    name: 'a client signature scheme the server does not accept',
    // OpenSSL 3.0 cannot send a TLS 1.3 CertificateRequest with PKCS#1 only: P-384's scheme there.
    server: (version) => [
      ...requireCertificate,
      '-client_sigalgs',
      version === '1.3' ? 'ECDSA+SHA384' : 'RSA+SHA256',
    ],
    client: 'certificate',
    alert: { '1.3': 'certificate_required', '1.2': 'handshake_failure' },
    reason:
      /the server requires a client certificate: it sent an? (certificate_required|handshake_failure) alert \(no client certificate sent: our key signs with ecdsa_secp256r1_sha256[^;]*; the server accepts (ecdsa_secp384r1_sha384|rsa_pkcs1_sha256 \(certificate types rsa_sign\))\)/,
  },
  {
    name: 'a certificate required and none to send',
    server: () => requireCertificate,
    client: 'psk-with-ca',
    alert: { '1.3': 'certificate_required', '1.2': 'handshake_failure' },
    reason:
      /the server requires a client certificate: it sent an? (certificate_required|handshake_failure) alert \(we have none to send\)/,
  },
  {
    name: 'a wrong PSK',
    server: () => ['-nocert', '-psk', '00'.repeat(32), '-psk_identity', 'device-0001'],
    client: 'psk',
    alert: { '1.3': 'illegal_parameter', '1.2': 'bad_record_mac' },
    reason:
      /the server refused the handshake: it sent an? \w+ alert \(the PSK or its identity "device-0001" is probably wrong\)/,
  },
  {
    name: 'an unknown PSK identity',
    server: () => ['-nocert', '-psk', psk, '-psk_identity', 'another-device'],
    client: 'psk',
    alert: { '1.3': 'handshake_failure', '1.2': 'unknown_psk_identity' },
    versions: ['1.3'],
    reason:
      /the server refused the handshake: it sent an? \w+ alert \(the PSK or its identity "device-0001" is probably wrong\)/,
  },
];

describe('refusals by openssl s_server', { skip: openssl === true ? false : openssl }, () => {
  for (const c of CASES)
    for (const version of c.versions ?? (['1.3', '1.2'] as const))
      test(`TLS ${version}, ${c.name}: the library says why, the CLI exits non-zero with it`, async () => {
        const server = await startOpensslServer(mkdtempSync(join(dir, 's-')), serverPems(pki), [
          version === '1.3' ? '-tls1_3' : '-tls1_2',
          '-www',
          ...c.server(version),
        ]);
        try {
          const simDir = c.client === 'certificate' ? certificateSim : pskSim;
          const kind = c.client === 'certificate' ? 'certificate' : 'psk';
          const error = await libraryRefusalWith(simDir, kind, server.port, {
            maxVersion: version === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
            minVersion: version === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
            ...(c.client === 'psk' ? {} : { ca: pki.ca.certificatePem }),
          });
          assert.equal(error.fromPeer, true);
          assert.equal(error.alert, c.alert[version]);
          assert.match(error.message, c.reason);
          const cli = await cliRefusal(simDir, server.port, [
            '--tls-version',
            version,
            ...(c.client === 'certificate' ? ['--ca', join(dir, 'test-ca.pem')] : []),
            ...(c.client === 'psk' ? ['--psk-label', 'psk', '--psk-identity', 'device-0001'] : []),
            ...(c.client === 'psk-with-ca'
              ? ['--psk-label', 'psk', '--psk-identity', 'device-0001', '--ca', join(dir, 'test-ca.pem')]
              : []),
          ]);
          assert.notEqual(cli.code, 0, cli.stderr);
          assert.match(cli.stderr, c.reason);
        } finally {
          await server.stop();
        }
      });
});

describe('a Python ssl server that resets right after its alert', {
  skip: python === true ? false : python,
}, () => {
  for (const version of ['1.3', '1.2'] as const)
    test(`TLS ${version}: the unknown_ca alert wins over the reset that follows it`, async () => {
      const home = mkdtempSync(join(dir, 'py-'));
      const server = await startPythonTlsServer(
        home,
        { cert: pki.server.certificatePem, key: pki.server.keyPem, clientCa: otherCa.certificatePem },
        version === '1.3' ? 'TLSv1_3' : 'TLSv1_2',
      );
      try {
        const error = await libraryRefusalWith(certificateSim, 'certificate', server.port, {
          ca: pki.ca.certificatePem,
          maxVersion: version === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
        });
        assert.equal(error.alert, 'unknown_ca', error.message);
        assert.doesNotMatch(error.message, /ECONNRESET|EPIPE/);
        assert.match(error.message, /^the server rejected our certificate: it sent an unknown_ca alert/);
        const cli = await cliRefusal(certificateSim, server.port, ['--ca', join(dir, 'test-ca.pem')]);
        assert.notEqual(cli.code, 0, cli.stderr);
        assert.match(cli.stderr, /the server rejected our certificate: it sent an unknown_ca alert/);
      } finally {
        await server.stop();
      }
    });
});

const mosquitto = peerAvailable('mosquitto', ['-h']);
describe('a TLS 1.2 PSK listener of mosquitto (psk_hint, psk_file)', {
  skip: mosquitto === true ? false : mosquitto,
}, () => {
  test('an identity its psk_file does not list: unknown_psk_identity, said as a PSK problem, mqtt pub exits non-zero', async () => {
    // mosquitto drops to its own user: its directory must not sit inside this test's private one.
    const home = mkdtempSync(join(tmpdir(), 'iotsafe-mq-psk-'));
    after(() => rmSync(home, { recursive: true, force: true }));
    const broker = await startMosquittoListener(home, {
      tlsVersion: 'tlsv1.2',
      psk: { hint: 'iotsafe-broker', identities: { 'another-device': psk } },
    });
    try {
      // mosquitto 2.0's tls_version is a minimum: the client holds the connection to TLS 1.2.
      const error = await libraryRefusalWith(pskSim, 'psk', broker.port, {
        maxVersion: 'TLSv1.2',
      });
      assert.equal(error.alert, 'unknown_psk_identity');
      assert.match(error.message, /the PSK or its identity "device-0001" is probably wrong/);
      const { code, stderr } = await runCliAsync(
        [
          '--sim',
          pskSim,
          'mqtt',
          'pub',
          `mqtts://127.0.0.1:${broker.port}`,
          '--psk-label',
          'psk',
          '--psk-identity',
          'device-0001',
          '--tls-version',
          '1.2',
          '--topic',
          't',
          '--message',
          'm',
        ],
        { IOTSAFE_STORAGE_KEY: STORAGE_KEY },
      );
      assert.notEqual(code, 0, stderr);
      assert.match(
        stderr,
        /it sent an unknown_psk_identity alert \(the PSK or its identity "device-0001" is probably wrong\)/,
      );
    } finally {
      await broker.stop();
    }
  });
});

describe('clientAuthTimeout: 0', { skip: openssl === true ? false : openssl }, () => {
  test("TLS 1.3: 'secureConnect' at once after our Finished, then the refusal as an 'error' event", async () => {
    const server = await startOpensslServer(mkdtempSync(join(dir, 's-')), serverPems(pki), [
      '-tls1_3',
      '-www',
      ...requireCertificate,
      '-CAfile',
      join(dir, 'other-ca.pem'),
    ]);
    const sim = VirtualSim.open(certificateSim, { storageKey: hexToBytes(STORAGE_KEY) });
    try {
      const socket = connect({
        host: '127.0.0.1',
        port: server.port,
        servername: 'localhost',
        ca: pki.ca.certificatePem,
        keyOps: await keyOpsOf(sim, 'certificate'),
        clientAuthTimeout: 0,
      });
      await once(socket, 'secureConnect');
      const [error] = (await once(socket, 'error')) as [TlsError];
      assert.equal(error.alert, 'unknown_ca');
      assert.match(error.message, /^the server rejected our certificate: it sent an unknown_ca alert/);
      assert.ok(socket.destroyed);
    } finally {
      sim.close();
      await server.stop();
    }
  });
});
