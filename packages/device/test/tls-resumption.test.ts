// TLS 1.3 session resumption (RFC 8446 §2.2) with the client key in the SIM: the first handshake signs
// in the SIM, the server's ticket becomes a session, and the resumed handshake needs no certificate and
// no signature, so no APDU. Against Node's tls server and openssl s_server, each requiring a client
// certificate; a stale, foreign or tampered session falls back to a full handshake.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { TlsClientSocket, TlsSession } from '@iotsafe/tls';
import { peerAvailable, startNodeTlsServer, startOpensslServer } from '../../../test/helpers/peers.js';
import { connectToTestServer, mutualTlsOptions, serverPems, testPki } from '../../../test/helpers/pki.js';
import { simKeyOps } from '../../../test/helpers/sim-tls.js';

const pki = testPki();
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-resumption-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type KeyOps = Awaited<ReturnType<typeof simKeyOps>>['keyOps'];

/** One connection: the request's answer, the first session ticket, whether it resumed. */
async function visit(
  port: number,
  keyOps: KeyOps,
  request: string,
  session?: TlsSession,
  waitForTicket = true,
) {
  const socket: TlsClientSocket = connectToTestServer(pki, port, {
    keyOps,
    ...(session ? { session } : {}),
  });
  const ticket = new Promise<TlsSession>((resolve) => socket.once('session', resolve));
  await once(socket, 'secureConnect');
  socket.write(request);
  let reply = '';
  const [data] = (await once(socket, 'data')) as [Buffer];
  reply += data;
  const next = waitForTicket
    ? await Promise.race([ticket, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000))])
    : undefined;
  const result = {
    reply,
    reused: socket.isSessionReused(),
    peer: String((socket.getPeerCertificate() as { subject?: { CN?: string } }).subject?.CN),
    session: next,
  };
  socket.destroy();
  return result;
}

describe("resumption against node's tls", () => {
  test('the resumed handshake takes no APDU, and the server still knows the SIM certificate', async () => {
    const server = await startNodeTlsServer({ ...mutualTlsOptions(pki), minVersion: 'TLSv1.3' }, (s) =>
      s.on('data', () =>
        s.write(`${s.isSessionReused() ? 'resumed' : 'full'} ${s.getPeerCertificate().subject?.CN}`),
      ),
    );
    try {
      const { client, keyOps } = await simKeyOps(pki.ca, 'sign');
      let apdus = client.apduCount;
      const first = await visit(server.port, keyOps, 'hello');
      assert.equal(first.reply, 'full sim-device');
      assert.equal(client.apduCount - apdus, 3);
      assert.ok(first.session, 'the server sent a ticket');
      assert.equal(first.session.servername, 'localhost');

      apdus = client.apduCount;
      const second = await visit(server.port, keyOps, 'hello again', first.session, false);
      assert.equal(second.reply, 'resumed sim-device');
      assert.equal(second.reused, true);
      assert.equal(second.peer, 'localhost', 'the peer chain comes from the session');
      assert.equal(client.apduCount - apdus, 0, 'no signature, no APDU');
    } finally {
      await server.close();
    }
  });

  test('full offload: the resumed handshake still runs its ECDHE in the SIM, without the signature', async () => {
    const server = await startNodeTlsServer({ ...mutualTlsOptions(pki), minVersion: 'TLSv1.3' }, (s) =>
      s.on('data', () => s.write(s.isSessionReused() ? 'resumed' : 'full')),
    );
    try {
      const { client, keyOps } = await simKeyOps(pki.ca, 'full');
      const first = await visit(server.port, keyOps, 'hello');
      assert.ok(first.session);
      const apdus = client.apduCount;
      const second = await visit(server.port, keyOps, 'hello again', first.session, false);
      assert.equal(second.reply, 'resumed');
      // GENERATE KEY PAIR 1, PUT PUBLIC KEY 3, COMPUTE DH 1, COMPUTE HKDF 1 (psk_dhe_ke): 9 less the signature's 3
      assert.equal(client.apduCount - apdus, 6);
    } finally {
      await server.close();
    }
  });

  test('a session for another name, an expired one, or a forged ticket: a full handshake instead', async () => {
    const server = await startNodeTlsServer({ ...mutualTlsOptions(pki), minVersion: 'TLSv1.3' }, (s) =>
      s.on('data', () => s.write(s.isSessionReused() ? 'resumed' : 'full')),
    );
    try {
      const { keyOps } = await simKeyOps(pki.ca, 'sign');
      const { session } = await visit(server.port, keyOps, 'hello');
      assert.ok(session);
      const forged = { ...session, ticket: session.ticket.map((b, i) => (i === 0 ? b ^ 1 : b)) };
      for (const stale of [
        { ...session, servername: 'example.org' },
        { ...session, receivedAt: session.receivedAt - (session.lifetimeSeconds + 1) * 1000 },
        forged,
      ]) {
        const again = await visit(server.port, keyOps, 'hello', stale, false);
        assert.deepEqual([again.reply, again.reused], ['full', false]);
      }
    } finally {
      await server.close();
    }
  });
});

const openssl = peerAvailable('openssl');
describe('resumption against openssl s_server -Verify 1', {
  skip: openssl === true ? false : openssl,
}, () => {
  test('s_server reports the session reused; the SIM is not asked', async () => {
    const server = await startOpensslServer(dir, serverPems(pki), ['-tls1_3', '-Verify', '1', '-www']);
    try {
      const { client, keyOps } = await simKeyOps(pki.ca, 'sign');
      const first = await visit(server.port, keyOps, 'GET / HTTP/1.0\r\n\r\n');
      assert.match(first.reply, /HTTP\/1\.0 200 ok/);
      assert.ok(first.session);
      const apdus = client.apduCount;
      const second = await visit(server.port, keyOps, 'GET / HTTP/1.0\r\n\r\n', first.session, false);
      assert.equal(second.reused, true);
      assert.match(second.reply, /Reused, TLSv1\.3/);
      assert.equal(client.apduCount - apdus, 0);
    } finally {
      await server.stop();
    }
  });
});
