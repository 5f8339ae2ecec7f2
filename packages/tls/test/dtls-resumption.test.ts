// DTLS session resumption (RFC 5246 §7.3 session IDs, RFC 7627 §5.3 with the extended master secret)
// against openssl s_server -dtls1_2: after a full ECDHE-ECDSA handshake with the SIM signing, the
// abbreviated one takes no SIM command at all; a PSK session resumes without the COMPUTE PRF.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { DtlsSession } from '@iotsafe/tls';
import {
  exchangeWithOpenssl,
  FAST_RETRANSMIT,
  opensslPsk,
  startOpensslDtlsServer,
  typeTwoPsk,
} from '../../../test/helpers/dtls.js';
import { peerAvailable } from '../../../test/helpers/peers.js';
import { testPki } from '../../../test/helpers/pki.js';
import { simKeyOps } from '../../../test/helpers/sim-tls.js';

const pki = testPki();
const dir = mkdtempSync(join(tmpdir(), 'iotsafe-dtls-resume-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const openssl = peerAvailable('openssl');

describe('session resumption against openssl s_server -dtls1_2', {
  skip: openssl === true ? false : openssl,
}, () => {
  test('ECDHE-ECDSA, sign offload: the resumed handshake takes 0 APDUs', async () => {
    const { client: sim, keyOps } = await simKeyOps(pki.ca, 'sign');
    const server = await startOpensslDtlsServer(dir, pki, [
      '-Verify',
      '1',
      '-cipher',
      'ECDHE-ECDSA-AES128-CCM8',
    ]);
    try {
      const options = {
        keyOps,
        ca: pki.ca.certificatePem,
        servername: 'localhost',
        retransmit: FAST_RETRANSMIT,
      };
      let session: DtlsSession | undefined;
      const first = await exchangeWithOpenssl(server, options, 'first', 'one', (c) => {
        once(c, 'session').then(([s]) => {
          session = s as DtlsSession;
        });
      });
      assert.equal(first.client.isSessionReused(), false);
      assert.ok(session, 'a session from the full handshake');
      const before = sim.apduCount;
      const second = await exchangeWithOpenssl(
        server,
        { ...options, dtlsSession: session! },
        'second',
        'two',
      );
      assert.equal(second.reply, 'two');
      assert.equal(second.client.isSessionReused(), true);
      assert.equal(sim.apduCount - before, 0, 'no SIM command in an abbreviated handshake');
      assert.equal(second.client.authorized, true);
      assert.match(server.output(), /Reused session-id/);
    } finally {
      await server.stop();
    }
  });

  test('PSK: the resumed handshake needs no COMPUTE PRF', async () => {
    const { client: sim, keyOps, pskHex } = await typeTwoPsk();
    const server = await startOpensslDtlsServer(dir, pki, [
      ...opensslPsk(pskHex),
      '-cipher',
      'PSK-AES128-CCM8',
    ]);
    try {
      let session: DtlsSession | undefined;
      await exchangeWithOpenssl(server, { keyOps, retransmit: FAST_RETRANSMIT }, 'first', 'one', (c) => {
        c.once('session', (s: DtlsSession) => {
          session = s;
        });
      });
      assert.ok(session);
      const before = sim.apduCount;
      const again = await exchangeWithOpenssl(
        server,
        { keyOps, dtlsSession: session!, retransmit: FAST_RETRANSMIT },
        'second',
        'two',
      );
      assert.equal(again.client.isSessionReused(), true);
      assert.equal(sim.apduCount - before, 0);
    } finally {
      await server.stop();
    }
  });
});
