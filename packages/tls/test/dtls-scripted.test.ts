// DTLS against the scripted server (test/helpers/dtls-server.ts), for what real peers cannot be made to
// do: a server Finished that does not verify, a HelloVerifyRequest storm, replayed and unknown-epoch
// records after the handshake, and the RFC 8442 ECDHE-PSK suites OpenSSL does not have.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { hexToBytes, utf8 } from '@iotsafe/protocol';
import { connectDtls, DtlsError, SoftwareKeyOps, TlsError } from '@iotsafe/tls';
import { FAST_RETRANSMIT, waitFor } from '../../../test/helpers/dtls.js';
import { startScriptedDtlsServer } from '../../../test/helpers/dtls-server.js';

const PSK = hexToBytes('0f1e2d3c4b5a69788796a5b4c3d2e1f0');
const keyOps = () => new SoftwareKeyOps({ psk: { identity: utf8('scripted'), key: PSK } });

test('ECDHE-PSK with AES-128-GCM (D001) and AES-128-CCM_8 (D003), RFC 8442', async () => {
  for (const suite of [0xd001, 0xd003]) {
    const server = await startScriptedDtlsServer({ psk: PSK, suite });
    try {
      const client = connectDtls({
        port: server.port,
        keyOps: keyOps(),
        cipherSuites: [suite],
        retransmit: FAST_RETRANSMIT,
      });
      await client.ready();
      assert.equal(client.getCipher()?.name.startsWith('TLS_ECDHE_PSK_WITH_AES_128_'), true);
      const echoed = once(client, 'message') as Promise<[Uint8Array]>;
      await client.send(utf8('over ECDHE-PSK'));
      assert.equal(Buffer.from((await echoed)[0]).toString(), 'over ECDHE-PSK');
      await client.close();
    } finally {
      await server.close();
    }
  }
});

test('a server Finished that does not verify: decrypt_error, sent to the server, no secureConnect', async () => {
  const server = await startScriptedDtlsServer({
    psk: PSK,
    tamperFinished: (v) => Uint8Array.from(v, (b, i) => (i === 0 ? b ^ 1 : b)),
  });
  try {
    const client = connectDtls({ port: server.port, keyOps: keyOps(), retransmit: FAST_RETRANSMIT });
    let connected = false;
    client.on('secureConnect', () => {
      connected = true;
    });
    const [error] = (await once(client, 'error').catch((e) => [e])) as [TlsError];
    assert.ok(error instanceof TlsError);
    assert.equal(error.alert, 'decrypt_error');
    assert.equal(connected, false);
    await waitFor(() => server.stats.alerts.includes(51), 'the decrypt_error alert at the server');
  } finally {
    await server.close();
  }
});

test('a HelloVerifyRequest storm ends with a typed error after the bound (default 3)', async () => {
  const server = await startScriptedDtlsServer({ psk: PSK, helloVerifyStorm: true });
  try {
    const client = connectDtls({ port: server.port, keyOps: keyOps(), retransmit: FAST_RETRANSMIT });
    const error = await client.ready().then(
      () => assert.fail('connected'),
      (e: DtlsError) => e,
    );
    assert.ok(error instanceof DtlsError);
    assert.equal(error.code, 'hello_verify_storm');
    assert.equal(server.stats.helloVerifyRequests, 4, 'three cookies answered, the fourth refused');
  } finally {
    await server.close();
  }
});

test('a replayed record is dropped (delivered once); a record of an unknown epoch is dropped; neither is fatal', async () => {
  const server = await startScriptedDtlsServer({ psk: PSK });
  try {
    const client = connectDtls({ port: server.port, keyOps: keyOps(), retransmit: FAST_RETRANSMIT });
    await client.ready();
    const received: string[] = [];
    client.on('message', (m: Uint8Array) => received.push(Buffer.from(m).toString()));
    await client.send(utf8('once'));
    await waitFor(() => received.length === 1, 'the echo');
    const echo = server.sent.at(-1)!;
    await server.sendRaw(echo);
    await waitFor(() => client.records.discarded.replayed === 1, 'the replay to be dropped');
    // The same record moved to epoch 7: no keys for it, dropped.
    const foreign = Uint8Array.from(echo);
    foreign[3] = 0;
    foreign[4] = 7;
    await server.sendRaw(foreign);
    await waitFor(() => client.records.discarded.unknownEpoch === 1, 'the unknown epoch to be dropped');
    // A fresh sequence number the MAC does not cover: bad_record_mac, dropped silently.
    const forged = Uint8Array.from(echo);
    forged[10]! ^= 0x40;
    await server.sendRaw(forged);
    await waitFor(() => client.records.discarded.badRecord === 1, 'the forgery to be dropped');
    await client.send(utf8('still up'));
    await waitFor(() => received.length === 2, 'the second echo');
    assert.deepEqual(received, ['once', 'still up']);
    await client.close();
  } finally {
    await server.close();
  }
});

test('network time: a SIM that takes 1 s for the master secret is not taken for loss (no retransmission)', async () => {
  const server = await startScriptedDtlsServer({ psk: PSK });
  try {
    const inner = keyOps();
    const psk = inner.psk!;
    const slowSim = Object.assign(Object.create(inner), {
      psk: {
        ...psk,
        tls12MasterSecret: async (labelAndSeed: Uint8Array, other?: Uint8Array) => {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          return psk.tls12MasterSecret(labelAndSeed, other);
        },
      },
    });
    // 1 s of SIM time is ten initial timeouts: with wall-clock timers the ClientHello would go again.
    const client = connectDtls({ port: server.port, keyOps: slowSim, retransmit: { initial: 150 } });
    const retransmissions: unknown[] = [];
    client.on('retransmit', (r) => retransmissions.push(r));
    await client.ready();
    assert.deepEqual(retransmissions, []);
    assert.equal(client.handshakeStats.retransmissions, 0);
    assert.ok(client.handshakeStats.milliseconds >= 1000);
    await client.close();
  } finally {
    await server.close();
  }
});
