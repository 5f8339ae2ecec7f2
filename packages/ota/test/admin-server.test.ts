// The SCP81 admin server against real TLS peers on 127.0.0.1: Node's tls PSK client as a scripted card
// (TLS 1.0, 1.1, 1.2, each suite), openssl s_client driving the dialog with -maxfraglen 512, and the
// real card's ClientHello (pySim-smpp2sim) replayed byte for byte. The dialog of GP Amd B §3.5: results
// recorded per script before the next leaves, a cut session resumed with nothing run twice or lost, a
// duplicated POST answered the same, refusals (wrong PSK, unknown identity, malformed and oversized
// requests), the server's timeouts, and every record within the negotiated fragment length.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { AdminServer, type AdminServerOptions, OtaStore } from '@iotsafe/ota';
import {
  encodeAdminRequest,
  encodeExpandedScript,
  fromUtf8,
  hexToBytes,
  parseHttpResponse,
  utf8,
} from '@iotsafe/protocol';
import { peerAvailable } from '../../../test/helpers/peers.js';
import { scp80Expected } from '../../../test/helpers/vectors.js';
import { connectCard, startRecordRelay } from './admin-card.js';
import { STORAGE_KEY } from './rig.js';

const ICCID = '8988211000000000011';
const IDENTITY = '8988211000000000011';
const PSK = hexToBytes('000102030405060708090a0b0c0d0e0f');
const GET_STATUS = encodeExpandedScript([hexToBytes('80F24002024F0000')], true);
const SELECT_ISD = encodeExpandedScript([hexToBytes('00A4040000')], true);
const RESULT_OK = hexToBytes('AF80230290000000');

async function fleet(options: AdminServerOptions = {}) {
  const store = await OtaStore.open(':memory:', STORAGE_KEY);
  await store.sims.add({ iccid: ICCID, pskIdentity: IDENTITY });
  await store.sims.putPsk(ICCID, PSK);
  const server = await AdminServer.start(store, { keyReloadMs: 60_000, ...options });
  return {
    store,
    server,
    card: (o: Partial<Parameters<typeof connectCard>[1]> = {}) =>
      connectCard(server.port, { identity: IDENTITY, key: PSK, ...o }),
    async close() {
      await server.close();
      await store.close();
    },
  };
}

type Fleet = Awaited<ReturnType<typeof fleet>>;
const nextUri = (r: { headers: Map<string, string> } | undefined) => r?.headers.get('x-admin-next-uri') ?? '';

describe('the SCP81 admin server: the dialog', () => {
  let f: Fleet;
  before(async () => {
    f = await fleet();
  });
  after(() => f.close());

  for (const [version, cipher] of [
    ['TLSv1', 'PSK-AES128-CBC-SHA'],
    ['TLSv1.1', 'PSK-AES128-CBC-SHA'],
    ['TLSv1.2', 'PSK-AES128-CBC-SHA256'],
    ['TLSv1.2', 'PSK-AES128-GCM-SHA256'],
  ] as const)
    test(`${version} ${cipher}: two scripts, each result recorded before the next, 204, close_notify`, async () => {
      const first = await f.store.admin.push(ICCID, { script: GET_STATUS });
      const second = await f.store.admin.push(ICCID, { script: SELECT_ISD });
      const card = await f.card({
        minVersion: version,
        maxVersion: version,
        ciphers: `${cipher}:@SECLEVEL=0`,
      });
      assert.equal(card.socket.getProtocol(), version);
      assert.equal(card.socket.getCipher().name.replace(/^TLS_/, ''), cipher.replace(/^TLS_/, ''));
      const r1 = await card.post({ uri: '/ram?sim=1' });
      assert.equal(r1?.status, 200);
      assert.equal(r1?.headers.get('x-admin-protocol'), 'globalplatform-remote-admin/1.0');
      assert.equal(
        r1?.headers.get('content-type'),
        'application/vnd.globalplatform.card-content-mgt;version=1.0',
      );
      assert.match(nextUri(r1), /^\/admin\?s=\d+$/, 'a relative Next-URI with a query');
      assert.deepEqual(r1?.body, GET_STATUS);
      const r2 = await card.post({ uri: nextUri(r1), body: RESULT_OK, scriptStatus: 'ok' });
      assert.deepEqual(r2?.body, SELECT_ISD);
      assert.equal((await f.store.admin.script(first))?.state, 'done', 'recorded before the next left');
      const r3 = await card.post({
        uri: nextUri(r2),
        body: RESULT_OK,
        scriptStatus: 'ok',
        bodyEncoding: 'content-length',
      });
      assert.equal(r3?.status, 204);
      assert.deepEqual(await card.closed, { closeNotify: true });
      const done = await f.store.admin.script(second);
      assert.equal(done?.state, 'done');
      assert.equal(done?.status, 'ok');
      assert.deepEqual(done?.result, RESULT_OK);
      const sessions = await f.store.admin.sessions(ICCID);
      const last = sessions.at(-1)!;
      await new Promise((r) => setTimeout(r, 50)); // the close is written after the socket's end
      const ended = (await f.store.admin.sessions(ICCID)).at(-1)!;
      assert.equal(last.protocol, version);
      assert.equal(ended.outcome, 'completed');
      assert.equal(ended.posts, 3);
    });

  test('an empty queue: the first POST gets 204 and the session ends', async () => {
    const card = await f.card();
    assert.equal((await card.post({ uri: '/ram' }))?.status, 204);
    assert.deepEqual(await card.closed, { closeNotify: true });
  });

  test('X-Admin-Targeted-Application, and unknown-application recorded as the card said it', async () => {
    const id = await f.store.admin.push(ICCID, { script: GET_STATUS, target: hexToBytes('A0000005590010') });
    const card = await f.card();
    const r1 = await card.post({ uri: '/ram' });
    assert.equal(r1?.headers.get('x-admin-targeted-application'), '//aid/A000000559/0010');
    assert.equal((await card.post({ uri: nextUri(r1), scriptStatus: 'unknown-application' }))?.status, 204);
    const script = await f.store.admin.script(id);
    assert.equal(script?.state, 'done');
    assert.equal(script?.status, 'unknown-application');
    assert.equal(script?.result?.length, 0);
    card.close();
  });

  test('a duplicated POST is answered the same and recorded once', async () => {
    const a = await f.store.admin.push(ICCID, { script: GET_STATUS });
    const b = await f.store.admin.push(ICCID, { script: SELECT_ISD });
    const card = await f.card();
    const r1 = await card.post({ uri: '/ram' });
    const result = encodeAdminRequest({ uri: nextUri(r1), host: 'h', body: RESULT_OK, scriptStatus: 'ok' });
    const once = await card.exchange(result);
    const twice = await card.exchange(result);
    assert.deepEqual(twice?.body, once?.body);
    assert.equal(nextUri(twice), nextUri(once));
    assert.equal((await f.store.admin.script(a))?.state, 'done');
    assert.equal(
      (await f.store.admin.script(b))?.sentCount,
      2,
      'sent again, never run: its result is still due',
    );
    assert.equal((await card.post({ uri: nextUri(once), body: RESULT_OK, scriptStatus: 'ok' }))?.status, 204);
    card.close();
  });

  test('cut before the card had the script: resumed, the script sent again and run once', async () => {
    const id = await f.store.admin.push(ICCID, { script: GET_STATUS });
    const broken = await f.card();
    broken.socket.write(encodeAdminRequest({ uri: '/ram', host: 'h' }));
    await new Promise((r) => setTimeout(r, 100));
    broken.close(); // the response never reached the card: it ran nothing
    const card = await f.card();
    const again = await card.post({ uri: '/ram', resume: true });
    assert.deepEqual(again?.body, GET_STATUS);
    assert.equal(
      (await card.post({ uri: nextUri(again), body: RESULT_OK, scriptStatus: 'ok' }))?.status,
      204,
    );
    const script = await f.store.admin.script(id);
    assert.equal(script?.state, 'done');
    assert.equal(script?.sentCount, 2);
    assert.ok((await f.store.admin.sessions(ICCID)).some((s) => s.resumed));
  });

  test('cut after the card ran the script: its result comes on the resumed POST, recorded once, nothing re-sent', async () => {
    const a = await f.store.admin.push(ICCID, { script: GET_STATUS });
    const b = await f.store.admin.push(ICCID, { script: SELECT_ISD });
    const broken = await f.card();
    const r1 = await broken.post({ uri: '/ram' });
    broken.close(); // the card ran script a; its POST of the result was lost with the connection
    const card = await f.card();
    const resumed = await card.post({ uri: nextUri(r1), body: RESULT_OK, scriptStatus: 'ok', resume: true });
    assert.deepEqual(resumed?.body, SELECT_ISD, 'the next script, not a again');
    assert.equal(
      (await card.post({ uri: nextUri(resumed), body: RESULT_OK, scriptStatus: 'ok' }))?.status,
      204,
    );
    assert.equal((await f.store.admin.script(a))?.sentCount, 1);
    assert.deepEqual((await f.store.admin.script(a))?.result, RESULT_OK);
    assert.equal((await f.store.admin.script(b))?.state, 'done');
  });

  test('a fresh session while a script was out: it may have run, so it is marked unconfirmed, never sent again', async () => {
    const a = await f.store.admin.push(ICCID, { script: GET_STATUS });
    const broken = await f.card();
    await broken.post({ uri: '/ram' });
    broken.close();
    const card = await f.card();
    assert.equal((await card.post({ uri: '/ram' }))?.status, 204);
    assert.equal((await f.store.admin.script(a))?.state, 'unconfirmed');
    card.close();
  });

  test('two live sessions of one SIM: only the newest is sent scripts, the older one is ended with 204', async () => {
    const a = await f.store.admin.push(ICCID, { script: GET_STATUS });
    const b = await f.store.admin.push(ICCID, { script: SELECT_ISD });
    const older = await f.card();
    const r1 = await older.post({ uri: '/ram' });
    assert.equal(nextUri(r1), `/admin?s=${a}`);
    const newer = await f.card(); // the card gave up on the first and tried again; the first still open
    const r2 = await newer.post({ uri: '/ram' });
    assert.equal(nextUri(r2), `/admin?s=${b}`, 'a, out in the older session, is unconfirmed: b is next');
    // the older session posts a's result: b is the newer session's, so the older one gets none
    const r3 = await older.post({ uri: nextUri(r1), body: RESULT_OK, scriptStatus: 'ok' });
    assert.equal(r3?.status, 204);
    assert.equal((await f.store.admin.script(b))?.sentCount, 1);
    const r4 = await newer.post({ uri: nextUri(r2), body: RESULT_OK, scriptStatus: 'ok' });
    assert.equal(r4?.status, 204);
    assert.equal((await f.store.admin.script(b))?.state, 'done');
    await Promise.all([older.closed, newer.closed]);
    const outcomes = async () => (await f.store.admin.sessions(ICCID)).slice(-2).map((x) => x.outcome);
    // each session's end is written once its socket has closed on the server's side too
    for (let i = 0; i < 200 && (await outcomes()).includes(undefined); i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(await outcomes(), ['superseded', 'completed']);
  });

  test('malformed and oversized requests: 400 or 413, close_notify, nothing recorded', async () => {
    const small = await fleet({ maxBodyBytes: 256 });
    try {
      const id = await small.store.admin.push(ICCID, { script: GET_STATUS });
      for (const [bytes, status] of [
        [utf8('POST /ram HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'), 400],
        [utf8('POST /ram HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n'), 400],
        [utf8('NOT HTTP\r\n\r\n'), 400],
        [utf8('GET /ram HTTP/1.1\r\n\r\n'), 400],
        [utf8('POST /ram HTTP/1.1\r\nContent-Length: 100000\r\n\r\n'), 413],
        [utf8(`POST /ram HTTP/1.1\r\nX: ${'a'.repeat(9000)}\r\n\r\n`), 413],
      ] as const) {
        const card = await small.card();
        const response = await card.exchange(bytes);
        assert.equal(response?.status, status, fromUtf8(bytes).slice(0, 40));
        assert.deepEqual(await card.closed, { closeNotify: true });
      }
      assert.equal((await small.store.admin.script(id))?.state, 'queued');
    } finally {
      await small.close();
    }
  });

  test('wrong PSK and unknown identity: no handshake; a SIM added later is found on its retry', async () => {
    await assert.rejects(f.card({ key: new Uint8Array(16) }), /bad record mac/);
    await assert.rejects(f.card({ identity: '8900000000000000000' }), /unknown psk identity/);
    await f.store.sims.add({ iccid: '8900000000000000000', pskIdentity: '8900000000000000000' });
    await f.store.sims.putPsk('8900000000000000000', PSK);
    await assert.rejects(f.card({ identity: '8900000000000000000' }), /unknown psk identity/);
    await new Promise((r) => setTimeout(r, 50)); // the reload the miss started
    const card = await f.card({ identity: '8900000000000000000' });
    assert.equal((await card.post({ uri: '/ram' }))?.status, 204);
    assert.ok(f.server.stats.tlsErrors >= 3);
  });

  test('a TLS 1.0-only card is served at TLS 1.0', async () => {
    const card = await f.card({ maxVersion: 'TLSv1', ciphers: 'PSK-AES128-CBC-SHA:@SECLEVEL=0' });
    assert.equal(card.socket.getProtocol(), 'TLSv1');
    assert.equal((await card.post({ uri: '/ram' }))?.status, 204);
  });
});

describe('the SCP81 admin server: timeouts, records, other peers', () => {
  test("the server's timeouts: a silent TCP client (handshake) and a silent card (next request)", async () => {
    const f = await fleet({ handshakeTimeoutMs: 300, idleTimeoutMs: 300 });
    try {
      const raw = netConnect({ host: '127.0.0.1', port: f.server.port });
      raw.on('error', () => {});
      await new Promise((resolve) => raw.on('close', resolve));
      const card = await f.card();
      await card.closed;
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(f.server.stats.open, 0);
      await f.store.admin.push(ICCID, { script: GET_STATUS });
      const slow = await f.card();
      await slow.post({ uri: '/ram' });
      await slow.closed; // the card never posts the result
      await new Promise((r) => setTimeout(r, 50));
      assert.equal((await f.store.admin.sessions(ICCID)).at(-1)?.outcome, 'timeout');
    } finally {
      await f.close();
    }
  });

  test('one record per response where it fits; with MFL 512 (openssl s_client -maxfraglen 512) none larger', async (t) => {
    const skip = peerAvailable('openssl');
    if (skip !== true) return t.skip(skip);
    const f = await fleet();
    const relay = await startRecordRelay(f.server.port);
    try {
      const big = encodeExpandedScript(
        [
          hexToBytes(`80E2900080${'11'.repeat(128)}`),
          hexToBytes(`80E2800080${'22'.repeat(128)}`),
          hexToBytes(`80E2800080${'33'.repeat(128)}`),
          hexToBytes(`80E2800080${'44'.repeat(128)}`),
          hexToBytes(`80E2800080${'55'.repeat(128)}`),
        ],
        true,
      );
      assert.ok(big.length > 600);
      // Node's client, no MFL: the whole response in one application-data record
      await f.store.admin.push(ICCID, { script: big });
      const card = await connectCard(relay.port, { identity: IDENTITY, key: PSK, maxVersion: 'TLSv1.2' });
      const r = await card.post({ uri: '/ram' });
      assert.deepEqual(r?.body, big);
      const appData = relay.fromServer.filter((x) => x.type === 23);
      assert.equal(appData.length, 1, 'one record');
      assert.ok(appData[0]!.length > big.length);
      card.close();
      relay.fromServer.length = 0;
      // openssl s_client with max_fragment_length 512, TLS 1.0, 1.1, 1.2, as a card drives the dialog
      for (const version of ['-tls1', '-tls1_1', '-tls1_2']) {
        await f.store.admin.push(ICCID, { script: big });
        const { status, output } = await opensslCard(relay.port, version, [
          encodeAdminRequest({ uri: '/ram', host: 'h' }),
        ]);
        assert.equal(status, 200, output.slice(0, 300));
        const ids = /X-Admin-Next-URI: \/admin\?s=(\d+)/.exec(output);
        assert.ok(ids, output.slice(0, 300));
        const records = relay.fromServer.filter((x) => x.type === 23);
        assert.ok(records.length >= 2, `${version}: the response in several records`);
        // 512 bytes of plaintext at most: + IV, HMAC-SHA256 and padding for the CBC suite
        for (const record of relay.fromServer)
          assert.ok(record.length <= 512 + 16 + 32 + 16, `${version}: ${record.length}`);
        relay.fromServer.length = 0;
      }
    } finally {
      await relay.close();
      await f.close();
    }
  });

  test("the real card's ClientHello (pySim-smpp2sim) replayed: ServerHello 0303, PSK-AES128-CBC-SHA256, MFL 512 echoed", async () => {
    const f = await fleet();
    try {
      const hello = hexToBytes(
        scp80Expected<{ channel_data: string }>('scp81-real-card-clienthello').channel_data,
      );
      const socket = netConnect({ host: '127.0.0.1', port: f.server.port });
      socket.on('error', () => {});
      let data = Buffer.alloc(0);
      socket.on('data', (d: Buffer) => {
        data = Buffer.concat([data, d]);
      });
      socket.write(hello);
      for (let i = 0; i < 100 && data.length < 9; i++) await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 100 && data.length < 5 + data.readUInt16BE(3); i++)
        await new Promise((r) => setTimeout(r, 20));
      socket.destroy();
      assert.equal(data[0], 0x16, 'a handshake record');
      const body = data.subarray(5, 5 + data.readUInt16BE(3));
      assert.equal(body[0], 0x02, 'ServerHello');
      assert.equal(body.readUInt16BE(4), 0x0303, 'TLS 1.2');
      const sessionIdLength = body[38]!;
      const at = 39 + sessionIdLength;
      assert.equal(body.readUInt16BE(at), 0x00ae, 'TLS_PSK_WITH_AES_128_CBC_SHA256');
      const extensions = body.subarray(at + 5, at + 5 + body.readUInt16BE(at + 3));
      assert.ok(
        Buffer.from(extensions).includes(Buffer.from('0001000101', 'hex')),
        'max_fragment_length 2^9 echoed',
      );
      for (const unwanted of ['0016', '0023'])
        for (let i = 0; i + 4 <= extensions.length; i += 4 + extensions.readUInt16BE(i + 2))
          assert.notEqual(
            extensions.subarray(i, i + 2).toString('hex'),
            unwanted,
            `no ${unwanted} (EtM, ticket)`,
          );
    } finally {
      await f.close();
    }
  });
});

/** openssl s_client as a card: PSK, MFL 512, the POSTs written on stdin; the first response back. */
async function opensslCard(
  port: number,
  version: string,
  requests: Uint8Array[],
): Promise<{ status: number | undefined; output: string }> {
  const cipher = version === '-tls1_2' ? 'PSK-AES128-CBC-SHA256' : 'PSK-AES128-CBC-SHA';
  const child = spawn(
    'setpriv',
    [
      '--pdeathsig',
      'KILL',
      'openssl',
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      version,
      '-psk_identity',
      IDENTITY,
      '-psk',
      '000102030405060708090a0b0c0d0e0f',
      '-cipher',
      `${cipher}:@SECLEVEL=0`,
      '-maxfraglen',
      '512',
      '-quiet',
      '-ign_eof',
      '-no_ticket',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = Buffer.alloc(0);
  child.stdout.on('data', (d: Buffer) => {
    out = Buffer.concat([out, d]);
  });
  child.stderr.on('data', () => {});
  await new Promise((r) => setTimeout(r, 300)); // the handshake
  for (const request of requests) child.stdin.write(request);
  let parsed: ReturnType<typeof parseHttpResponse>;
  for (let i = 0; i < 200; i++) {
    parsed = parseHttpResponse(out);
    if (parsed) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill();
  return { status: parsed?.response.status, output: out.toString('latin1') };
}
