// What the SIM's objects allow decides what the TLS client offers and uses:
// - the private key's hash algorithms (tag 91) give the TLS 1.2 client schemes: SHA-384 or SHA-512 on
//   P-256 when a server asks for them, and an error naming both sides when the applet lacks the hash;
// - a PSK secret's allowed derivations (tag 94): the TLS 1.2 PRF only → TLS 1.2 offered, one COMPUTE
//   PRF; HKDF only → TLS 1.3, one COMPUTE HKDF; both, with a server that picks TLS 1.2 → two APDUs,
//   unless the version is pinned (then one);
// - full offload does ECDHE on the SIM's P-256 and says so to a server that wants P-384;
// - the applet reached through an SCP03 channel (openScp03, level 33): both offload levels, the same
//   handshake, each command wrapped.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  byId,
  byLabel,
  IoTSafe,
  IoTSafeKeyOps,
  MemoryTransport,
  type OffloadLevel,
  openScp03,
} from '@iotsafe/device';
import { IOTSAFE_AID, utf8 } from '@iotsafe/protocol';
import { type Profile, TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { type ConnectOptions, connect, SIGNATURE_SCHEME, TlsError } from '@iotsafe/tls';
import { GP_TEST_KEYS } from '../../../test/helpers/cards.js';
import { peerAvailable, startNodeTlsServer, startOpensslServer } from '../../../test/helpers/peers.js';
import { mutualTlsOptions, serverPems, testPki } from '../../../test/helpers/pki.js';
import { certifySimKey } from '../../../test/helpers/sim-tls.js';

const pki = testPki();
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-sim-capabilities-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const openssl = peerAvailable('openssl');

/** A Type I SIM whose device key (01) can hash with `hashes`, certified by the test CA (file 02). */
async function simWithKey(hashes: ('sha256' | 'sha384' | 'sha512')[], isd = false) {
  const profile: Profile = {
    containers: TYPE1_PROFILE.containers.map((c) =>
      c.class === 'privateKey' && c.id === '01' ? { ...c, hashes } : c,
    ),
  };
  const sim = VirtualSim.inMemory(profile, isd ? { isdKeys: { keys: GP_TEST_KEYS } } : {});
  await certifySimKey(sim, pki.ca);
  return sim;
}

async function keyOpsOf(client: IoTSafe, offload: OffloadLevel = 'sign') {
  return IoTSafeKeyOps.create(client, { privateKey: byId('01'), certificateChain: [byId('02')], offload });
}

async function handshake(port: number, options: Partial<ConnectOptions>) {
  const socket = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.certificatePem,
    handshakeTimeout: 10_000,
    ...options,
  });
  const outcome = await once(socket, 'secureConnect').then(
    () => ({
      protocol: socket.getProtocol(),
      scheme: socket.getClientSignatureScheme(),
      group: socket.getNegotiatedGroup(),
    }),
    (error: TlsError) => error,
  );
  socket.destroy();
  return outcome;
}

describe('TLS 1.2 client schemes from the key object', { skip: openssl === true ? false : openssl }, () => {
  test('the applet declares SHA-256, SHA-384 and SHA-512 for the key: three TLS 1.2 schemes', async () => {
    const keyOps = await keyOpsOf(
      await IoTSafe.connect(new MemoryTransport((await simWithKey(['sha256', 'sha384', 'sha512'])).card)),
    );
    assert.deepEqual(keyOps.signatureSchemes, [SIGNATURE_SCHEME.ecdsa_secp256r1_sha256]);
    assert.deepEqual(keyOps.signatureSchemes12, [0x0403, 0x0503, 0x0603]);
  });

  for (const [sigalgs, scheme] of [
    ['ECDSA+SHA384', 0x0503],
    ['ECDSA+SHA512', 0x0603],
  ] as const)
    test(`a server that takes ${sigalgs} only gets a SIM signature with that hash, three APDUs`, async () => {
      const client = await IoTSafe.connect(
        new MemoryTransport((await simWithKey(['sha256', 'sha384', 'sha512'])).card),
      );
      const keyOps = await keyOpsOf(client);
      const server = await startOpensslServer(mkdtempSync(join(dir, 's-')), serverPems(pki), [
        '-tls1_2',
        '-www',
        '-Verify',
        '1',
        '-verify_return_error',
        '-client_sigalgs',
        sigalgs,
      ]);
      try {
        const before = client.apduCount;
        const result = await handshake(server.port, { keyOps });
        assert.deepEqual(result, { protocol: 'TLSv1.2', scheme, group: 'x25519' });
        assert.equal(client.apduCount - before, 3);
      } finally {
        await server.stop();
      }
    });

  test('a key the applet hashes with SHA-256 only: a server wanting SHA-384 is told which schemes each side has', async () => {
    const keyOps = await keyOpsOf(
      await IoTSafe.connect(new MemoryTransport((await simWithKey(['sha256'])).card)),
    );
    assert.deepEqual(keyOps.signatureSchemes12, [0x0403]);
    const server = await startOpensslServer(mkdtempSync(join(dir, 's-')), serverPems(pki), [
      '-tls1_2',
      '-www',
      '-Verify',
      '1',
      '-verify_return_error',
      '-client_sigalgs',
      'ECDSA+SHA384',
    ]);
    try {
      const error = await handshake(server.port, { keyOps });
      assert.ok(error instanceof TlsError);
      assert.match(
        error.message,
        /the server requires a client certificate: it sent a handshake_failure alert \(no client certificate sent: our key signs with ecdsa_secp256r1_sha256; the server accepts ecdsa_secp384r1_sha384\)/,
      );
    } finally {
      await server.stop();
    }
  });
});

/** A Type II SIM with one PSK per derivation rule. */
const PSK_PROFILE: Profile = {
  containers: [
    { class: 'secret', id: '01', label: 'psk-both', value: { hex: '11'.repeat(32) } },
    {
      class: 'secret',
      id: '02',
      label: 'psk-prf',
      derivations: ['prfSha256'],
      value: { hex: '22'.repeat(32) },
    },
    { class: 'secret', id: '03', label: 'psk-hkdf', derivations: ['hkdf'], value: { hex: '33'.repeat(32) } },
  ],
};

describe('PSK versions from the secret object', { skip: openssl === true ? false : openssl }, () => {
  const pskServer = (hex: string, version: '1.2' | '1.3' | 'both') =>
    startOpensslServer(mkdtempSync(join(dir, 'psk-')), serverPems(pki), [
      ...(version === 'both' ? [] : [version === '1.2' ? '-tls1_2' : '-tls1_3']),
      '-nocert',
      '-psk',
      hex,
      '-psk_identity',
      'device-0001',
      '-www',
    ]);
  async function pskKeyOps(label: string) {
    const sim = VirtualSim.inMemory(PSK_PROFILE);
    const client = await IoTSafe.connect(new MemoryTransport(sim.card));
    const keyOps = await IoTSafeKeyOps.create(client, {
      offload: 'sign',
      psk: { identity: utf8('device-0001'), secret: byLabel(label) },
    });
    return { client, keyOps };
  }

  for (const [label, hex, versions, protocol] of [
    ['psk-prf', '22'.repeat(32), { tls13: false, tls12: true }, 'TLSv1.2'],
    ['psk-hkdf', '33'.repeat(32), { tls13: true, tls12: false }, 'TLSv1.3'],
  ] as const)
    test(`${label}: the container allows ${protocol} only, which alone is offered; one APDU`, async () => {
      const { client, keyOps } = await pskKeyOps(label);
      assert.deepEqual(keyOps.psk?.versions, versions);
      // A server that speaks both versions: the container decides.
      const server = await pskServer(hex, 'both');
      try {
        const before = client.apduCount;
        const result = await handshake(server.port, { keyOps, ca: undefined });
        assert.ok(!(result instanceof Error), String(result));
        assert.equal(result.protocol, protocol);
        assert.equal(client.apduCount - before, 1);
      } finally {
        await server.stop();
      }
    });

  test('both derivations and a TLS 1.2-only server: two APDUs (the TLS 1.3 binder, then COMPUTE PRF), one when pinned', async () => {
    const { client, keyOps } = await pskKeyOps('psk-both');
    const server = await pskServer('11'.repeat(32), '1.2');
    try {
      let before = client.apduCount;
      assert.equal(
        ((await handshake(server.port, { keyOps, ca: undefined })) as { protocol: string }).protocol,
        'TLSv1.2',
      );
      assert.equal(client.apduCount - before, 2);
      before = client.apduCount;
      const pinned = await handshake(server.port, { keyOps, ca: undefined, maxVersion: 'TLSv1.2' });
      assert.equal((pinned as { protocol: string }).protocol, 'TLSv1.2');
      assert.equal(client.apduCount - before, 1);
    } finally {
      await server.stop();
    }
  });

  test('a PRF-only PSK with TLS 1.3 pinned: a clear error before any APDU', async () => {
    const { client, keyOps } = await pskKeyOps('psk-prf');
    const before = client.apduCount;
    const error = await handshake(1, { keyOps, ca: undefined, minVersion: 'TLSv1.3' });
    assert.ok(error instanceof TlsError);
    assert.match(
      error.message,
      /the PSK may be used for TLS 1\.2 only \(its container's allowed derivations\)/,
    );
    assert.equal(client.apduCount - before, 0);
  });
});

describe('full offload: the SIM does ECDHE on P-256', { skip: openssl === true ? false : openssl }, () => {
  for (const version of ['1.3', '1.2'] as const)
    test(`TLS ${version}, a server with -groups P-384 hears that our groups come from the SIM`, async () => {
      const client = await IoTSafe.connect(new MemoryTransport((await simWithKey(['sha256'])).card));
      const keyOps = await keyOpsOf(client, 'full');
      const server = await startOpensslServer(mkdtempSync(join(dir, 'g-')), serverPems(pki), [
        version === '1.3' ? '-tls1_3' : '-tls1_2',
        '-groups',
        'P-384',
        '-www',
      ]);
      try {
        const error = await handshake(server.port, { keyOps });
        assert.ok(error instanceof TlsError);
        assert.match(
          error.message,
          /groups secp256r1 \(full offload: ECDHE runs in the SIM, on secp256r1 only\)/,
        );
      } finally {
        await server.stop();
      }
    });

  test('in sign offload the same server gets ECDHE on P-384 (host-side)', async () => {
    const client = await IoTSafe.connect(new MemoryTransport((await simWithKey(['sha256'])).card));
    const server = await startOpensslServer(mkdtempSync(join(dir, 'g-')), serverPems(pki), [
      '-tls1_3',
      '-groups',
      'P-384',
      '-www',
    ]);
    try {
      const result = await handshake(server.port, { keyOps: await keyOpsOf(client, 'sign') });
      assert.equal((result as { group: string }).group, 'secp384r1');
    } finally {
      await server.stop();
    }
  });
});

describe('the applet through an SCP03 channel (level 33)', () => {
  for (const offload of ['sign', 'full'] as const)
    for (const version of ['1.3', '1.2'] as const)
      test(`${offload} offload, TLS ${version}: the handshake runs unchanged, every IoT SAFE command wrapped`, async () => {
        const sim = await simWithKey(['sha256', 'sha384', 'sha512'], true);
        const channel = await openScp03(new MemoryTransport(sim.card), GP_TEST_KEYS, {
          select: IOTSAFE_AID,
          securityLevel: 0x33,
        });
        const client = IoTSafe.attach(channel, 0, IOTSAFE_AID);
        const keyOps = await keyOpsOf(client, offload);
        const server = await startNodeTlsServer(
          { ...mutualTlsOptions(pki), maxVersion: version === '1.3' ? 'TLSv1.3' : 'TLSv1.2' },
          (s) => s.on('data', () => s.end(`hello ${s.getPeerCertificate().subject?.CN}`)),
        );
        try {
          const before = client.apduCount;
          const socket = connect({
            host: '127.0.0.1',
            port: server.port,
            servername: 'localhost',
            ca: pki.ca.certificatePem,
            keyOps,
          });
          await once(socket, 'secureConnect');
          assert.equal(client.apduCount - before, offload === 'sign' ? 3 : version === '1.3' ? 9 : 8);
          socket.write('ping');
          const [reply] = (await once(socket, 'data')) as [Buffer];
          assert.equal(reply.toString(), 'hello sim-device');
          assert.ok(channel.session.isOpen, 'the secure channel is still open after the handshake');
          socket.destroy();
        } finally {
          await server.close();
          await channel.close();
        }
      });
});
