// Connection ID (RFC 9146, extension 54, record type tls12_cid 25) against the scripted server (no
// installed peer speaks RFC 9146: OpenSSL 3.0 and GnuTLS 3.7 do not): the CIDs are agreed, protected
// records carry the peer's CID with the real type inside, and a NAT rebinding through the lossy proxy
// keeps the association with CIDs — and loses it without.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hexToBytes, utf8 } from '@iotsafe/protocol';
import { connectDtls, type DtlsClient, SoftwareKeyOps } from '@iotsafe/tls';
import { FAST_RETRANSMIT, waitFor } from '../../../test/helpers/dtls.js';
import { startScriptedDtlsServer } from '../../../test/helpers/dtls-server.js';
import { startLossyUdpProxy } from '../../../test/helpers/lossy-udp-proxy.js';

const PSK = hexToBytes('00112233445566778899aabbccddeeff');
const SERVER_CID = hexToBytes('c1d2c3d4');
const keyOps = () => new SoftwareKeyOps({ psk: { identity: utf8('cid'), key: PSK } });

/** Sends `text` and waits (bounded) for its echo; false when none comes. */
async function echoed(client: DtlsClient, text: string): Promise<boolean> {
  let got = false;
  const listener = (m: Uint8Array) => {
    if (Buffer.from(m).toString() === text) got = true;
  };
  client.on('message', listener);
  await client.send(utf8(text));
  await waitFor(() => got, 'the echo', 1000).catch(() => {});
  client.off('message', listener);
  return got;
}

test('the CIDs are agreed and every protected record carries the server CID as tls12_cid', async () => {
  const server = await startScriptedDtlsServer({ psk: PSK, connectionId: SERVER_CID });
  try {
    const ours = hexToBytes('0a0b0c');
    const client = connectDtls({
      port: server.port,
      keyOps: keyOps(),
      connectionId: ours,
      retransmit: FAST_RETRANSMIT,
    });
    await client.ready();
    assert.deepEqual(client.connectionIds, { ours, theirs: SERVER_CID });
    assert.equal(await echoed(client, 'with a CID'), true);
    const lastFromServer = server.sent.at(-1)!;
    assert.equal(lastFromServer[0], 25, 'the echo came as tls12_cid');
    assert.deepEqual([...lastFromServer.subarray(11, 14)], [...ours], 'carrying our CID');
    // Room for data: header 13 + CID 4 + explicit nonce 8 + tag 8 + the inner type byte.
    assert.equal(client.maxDatagramSize, 1152 - 13 - 4 - 8 - 8 - 1);
    await client.close();
  } finally {
    await server.close();
  }
});

test('a server without connection_id: no CID, plain records', async () => {
  const server = await startScriptedDtlsServer({ psk: PSK });
  try {
    const client = connectDtls({
      port: server.port,
      keyOps: keyOps(),
      connectionId: true,
      retransmit: FAST_RETRANSMIT,
    });
    await client.ready();
    assert.equal(client.connectionIds, undefined);
    assert.equal(await echoed(client, 'plain'), true);
    assert.equal(server.sent.at(-1)![0], 23);
    await client.close();
  } finally {
    await server.close();
  }
});

for (const withCid of [true, false])
  test(`a NAT rebinding mid-session ${withCid ? 'keeps the association with a CID' : 'loses it without one'}`, async () => {
    const server = await startScriptedDtlsServer({
      psk: PSK,
      ...(withCid ? { connectionId: SERVER_CID } : {}),
    });
    const proxy = await startLossyUdpProxy({ target: { host: '127.0.0.1', port: server.port }, seed: 5 });
    try {
      const client = connectDtls({
        port: proxy.port,
        keyOps: keyOps(),
        connectionId: withCid,
        retransmit: FAST_RETRANSMIT,
      });
      await client.ready();
      assert.equal(await echoed(client, 'before'), true);
      await proxy.rebind();
      assert.equal(proxy.counters.rebinds, 1);
      assert.equal(await echoed(client, 'after the rebinding'), withCid);
      assert.equal(server.stats.addressChanges, withCid ? 1 : 0);
      if (!withCid) {
        // Without a CID the server sees a stranger: the only way back is a new handshake.
        await client.close();
        const again = connectDtls({ port: proxy.port, keyOps: keyOps(), retransmit: FAST_RETRANSMIT });
        await again.ready();
        assert.equal(await echoed(again, 'a new association'), true);
        await again.close();
      } else await client.close();
    } finally {
      await proxy.close();
      await server.close();
    }
  });
