// `iotsafe coap … coaps://` and `iotsafe connect dtls://` run as a user runs them, against real peers on
// 127.0.0.1: libcoap's coap-server-openssl and coap-server-gnutls (DTLS with a PSK, and with PKI requiring
// a client certificate) and openssl s_server -dtls1_2. The keys are in SIM directories: a Type II SIM's
// PSK (one COMPUTE PRF) and a Type I SIM's key (the SIM signs). --session-file keeps the session sealed
// (0600): the second run resumes with no SIM APDU; an altered file is refused, with a full handshake.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { hexToBytes } from '@iotsafe/protocol';
import { VirtualSim } from '@iotsafe/sim';
import { runCliAsync, spawnCli } from '../../../test/helpers/cli.js';
import { opensslPsk, PSK_IDENTITY, startOpensslDtlsServer, waitFor } from '../../../test/helpers/dtls.js';
import {
  LIBCOAP_DTLS_BACKENDS,
  libcoapDtlsAvailable,
  startLibcoapDtlsServer,
} from '../../../test/helpers/libcoap-dtls.js';
import { peerAvailable } from '../../../test/helpers/peers.js';
import { testPki } from '../../../test/helpers/pki.js';
import { checkJson } from './json-schemas.js';
import { typeOneSimDir } from './sim-dirs.js';

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-coaps-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const storageKey = '5a'.repeat(32);
const env = { IOTSAFE_STORAGE_KEY: storageKey };
const pki = testPki();
const PSK_TEXT = 'iotsafe-coaps-test-psk-0123456789'; // printable: coap-server -k takes text

/** A Type II SIM directory whose PSK (container 01, label psk) is PSK_TEXT. */
function typeTwoSim(name: string): string {
  const simDir = join(dir, name);
  VirtualSim.create(
    simDir,
    {
      description: 'Type II with a printable PSK (tests)',
      containers: [
        { class: 'secret', id: '01', label: 'psk', value: { hex: Buffer.from(PSK_TEXT).toString('hex') } },
      ],
    },
    { storageKey: hexToBytes(storageKey) },
  ).close();
  return simDir;
}

/** A Type I SIM directory: a key generated in container 01, its certificate (test CA) in file 02. */
const typeOneSim = (name: string) => typeOneSimDir(join(dir, name), storageKey, pki.ca, 'coaps-device');

interface Summary {
  version: string;
  suite: string;
  group: string;
  clientScheme: string | null;
  sessionReused: boolean;
  apdus: number;
}
type CoapJson = { code: string; payload?: string; dtls: Summary };

const psk = ['--psk-label', 'psk', '--psk-identity', PSK_IDENTITY];

for (const backend of LIBCOAP_DTLS_BACKENDS) {
  const available = libcoapDtlsAvailable(backend);
  describe(`iotsafe coap coaps:// against coap-server-${backend}`, {
    skip: available === true ? false : available,
  }, () => {
    test('PSK in a Type II SIM: one APDU; the kept session resumes with none; an altered one is refused', async () => {
      const simDir = typeTwoSim(`type2-${backend}`);
      const sessionFile = join(dir, `${backend}.dtls-session`);
      const server = await startLibcoapDtlsServer(backend, { kind: 'psk', key: PSK_TEXT });
      const url = `coaps://127.0.0.1:${server.dtlsPort}`;
      const get = (path: string) =>
        runCliAsync(
          ['--json', '--sim', simDir, 'coap', 'get', `${url}${path}`, ...psk, '--session-file', sessionFile],
          env,
        );
      try {
        const first = await get('/');
        assert.equal(first.code, 0, first.stderr + first.stdout);
        const body = checkJson('coap get', first.stdout) as CoapJson;
        assert.equal(body.code, '2.05');
        assert.match(body.payload!, /libcoap/);
        assert.equal(body.dtls.version, 'DTLSv1.2');
        assert.match(body.dtls.suite, /^TLS_PSK_WITH_AES_128_(CCM_8|GCM_SHA256)$/);
        assert.equal(body.dtls.apdus, 1, 'one COMPUTE PRF');
        assert.equal(body.dtls.group, 'none', 'plain PSK: no ECDHE key exchanged');
        assert.equal(body.dtls.sessionReused, false);
        assert.equal(statSync(sessionFile).mode & 0o777, 0o600);
        const sealed = readFileSync(sessionFile, 'utf8');
        assert.doesNotMatch(sealed, /masterSecret|sessionId/, 'the session is sealed, not in clear');

        const second = checkJson('coap get', (await get('/')).stdout) as CoapJson;
        if (backend === 'openssl') {
          assert.equal(second.dtls.sessionReused, true, 'an abbreviated handshake');
          assert.equal(second.dtls.apdus, 0, 'no SIM operation at all');
        } else {
          // libcoap 4.3.1's GnuTLS server keeps no session cache: it answers the offered session ID
          // with a new one, and the full handshake goes on as without one.
          assert.equal(second.dtls.sessionReused, false);
          assert.equal(second.dtls.apdus, 1);
        }

        // One character of the sealed text changed: refused with a clear warning, then a full handshake.
        const flipped = sealed[10] === 'A' ? 'B' : 'A';
        writeFileSync(sessionFile, `${sealed.slice(0, 10)}${flipped}${sealed.slice(11)}`, { mode: 0o600 });
        const altered = await get('/');
        assert.equal(altered.code, 0, altered.stderr);
        assert.match(
          altered.stderr,
          /refused: not a DTLS session sealed with this storage key.*a full handshake/,
        );
        const full = checkJson('coap get', altered.stdout) as CoapJson;
        assert.equal(full.dtls.sessionReused, false);
        assert.equal(full.dtls.apdus, 1);
        assert.notEqual(readFileSync(sessionFile, 'utf8'), sealed, 'the new session replaced it');
        // text output: the status on stderr with the handshake line, the payload on stdout
        const text = await runCliAsync(['--sim', simDir, 'coap', 'get', `${url}/time`, ...psk], env);
        assert.equal(text.code, 0, text.stderr);
        assert.match(text.stderr, /DTLSv1\.2 TLS_PSK_\S+, session new, SIM APDUs: 1/);
        assert.match(text.stdout, /\d\d:\d\d:\d\d/);
      } finally {
        await server.stop();
      }
    });

    test('PKI requiring a client certificate: the Type I SIM signs; a wrong trust anchor fails', async () => {
      const simDir = await typeOneSim(`type1-${backend}`);
      const caFile = join(dir, `ca-${backend}.pem`);
      writeFileSync(caFile, pki.ca.certificatePem);
      const server = await startLibcoapDtlsServer(backend, {
        kind: 'pki',
        dir,
        cert: pki.server.certificatePem,
        key: pki.server.keyPem,
        ca: pki.ca.certificatePem,
      });
      const url = `coaps://127.0.0.1:${server.dtlsPort}/`;
      try {
        const r = await runCliAsync(
          ['--json', '--sim', simDir, 'coap', 'get', url, '--ca', caFile, '--servername', 'localhost'],
          env,
        );
        assert.equal(r.code, 0, r.stderr + r.stdout);
        const body = checkJson('coap get', r.stdout) as CoapJson;
        assert.match(body.dtls.suite, /^TLS_ECDHE_ECDSA_WITH_AES_128_(CCM_8|GCM_SHA256)$/);
        assert.equal(body.dtls.clientScheme, 'ecdsa_secp256r1_sha256');
        assert.match(body.dtls.group, /^(secp256r1|x25519)$/, 'the ECDHE group of the handshake');
        assert.ok(body.dtls.apdus >= 1 && body.dtls.apdus <= 3, `${body.dtls.apdus} APDUs`);
        // another CA: the server's certificate does not verify, a typed error and exit 1
        const otherCa = join(dir, `other-ca-${backend}.pem`);
        writeFileSync(otherCa, testPki().ca.certificatePem);
        const refused = await runCliAsync(
          ['--json', '--sim', simDir, 'coap', 'get', url, '--ca', otherCa, '--servername', 'localhost'],
          env,
        );
        assert.equal(refused.code, 1, refused.stdout);
        assert.match(
          (checkJson('error', refused.stdout) as { error: { message: string } }).error.message,
          /certificate/i,
        );
      } finally {
        await server.stop();
      }
    });
  });
}

const openssl = peerAvailable('openssl');
describe('iotsafe connect dtls:// against openssl s_server -dtls1_2', {
  skip: openssl === true ? false : openssl,
}, () => {
  /** connect with --data, s_server printing it and answering on its stdin; --count 1 ends it. */
  async function connectAndExchange(
    globals: string[],
    options: string[],
    server: Awaited<ReturnType<typeof startOpensslDtlsServer>>,
  ) {
    const url = `dtls://127.0.0.1:${server.port}`;
    const child = spawnCli(
      [...globals, 'connect', url, ...options, '--data', 'ping from the CLI', '--count', '1'],
      env,
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    await waitFor(
      () => server.output().includes('ping from the CLI'),
      's_server to print our datagram',
      30_000,
    );
    server.process.stdin!.write('pong from openssl\n');
    const code = await exited;
    return { code, out, err };
  }

  test('PSK from a Type II SIM: the s_client-style report, one datagram each way', async () => {
    const simDir = typeTwoSim('type2-s_server');
    const pskHex = Buffer.from(PSK_TEXT).toString('hex');
    const server = await startOpensslDtlsServer(dir, pki, [
      ...opensslPsk(pskHex),
      '-cipher',
      'PSK-AES128-CCM8',
    ]);
    try {
      const r = await connectAndExchange(['--sim', simDir], psk, server);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, 'pong from openssl\n');
      assert.match(r.err, /Authenticated by PSK/);
      assert.match(r.err, /Protocol: DTLSv1\.2\nCipher: TLS_PSK_WITH_AES_128_CCM_8/);
      assert.match(r.err, /SIM APDUs: 1\n/);
    } finally {
      await server.stop();
    }
  });

  test('ECDHE-ECDSA with the key in a Type I SIM, s_server verifying the client certificate', async () => {
    const simDir = await typeOneSim('type1-s_server');
    const caFile = join(dir, 'ca-openssl.pem');
    writeFileSync(caFile, pki.ca.certificatePem);
    const server = await startOpensslDtlsServer(dir, pki, [
      '-Verify',
      '1',
      '-cipher',
      'ECDHE-ECDSA-AES128-CCM8',
    ]);
    try {
      const r = await connectAndExchange(
        ['--json', '--sim', simDir],
        ['--ca', caFile, '--servername', 'localhost'],
        server,
      );
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, 'pong from openssl\n');
      const summary = checkJson('connect', r.err.trim().split('\n')[0]!) as Summary & {
        peerChain: { subject: string }[];
      };
      assert.equal(summary.suite, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8');
      assert.equal(summary.clientScheme, 'ecdsa_secp256r1_sha256');
      assert.match(summary.peerChain[0]!.subject, /CN=localhost/);
      assert.match(server.output(), /CN\s*=\s*coaps-device/, 's_server saw the SIM certificate');
    } finally {
      await server.stop();
    }
  });

  test('usage: tls-only flags on dtls://, dtls-only flags on tls://', async () => {
    const simDir = typeTwoSim('type2-usage');
    for (const [args, message] of [
      [['connect', 'dtls://127.0.0.1:5684', ...psk, '--tls-version', '1.3'], /is DTLS 1\.2/],
      [['connect', 'tls://127.0.0.1:443', '--data', 'x'], /--data and --count are for dtls:\/\//],
    ] as const) {
      const r = await runCliAsync(['--json', '--sim', simDir, ...args], env);
      assert.equal(r.code, 2, r.stdout);
      assert.match((checkJson('error', r.stdout) as { error: { message: string } }).error.message, message);
    }
  });
});
