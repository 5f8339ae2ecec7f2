// `iotsafe --trace ota admin serve`: a card's whole session (Node's tls PSK client speaking the GP Amd B
// dialog) and what the trace shows: each POST with X-Admin-Protocol, X-Admin-From and the response
// Content-Type (GP Amd B §3.7), the script and result decoded, the server's answers; and never the PSK,
// the storage key or the PSK file's content.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bytesToHex, CONTENT_TYPE_RESPONSE, CONTENT_TYPE_SCRIPT, hexToBytes } from '@iotsafe/protocol';
import { runCli, startCli } from '../../../test/helpers/cli.js';
import { connectCard } from '../../ota/test/admin-card.js';

const STORAGE_KEY = '4f'.repeat(32);
const env = { IOTSAFE_STORAGE_KEY: STORAGE_KEY };
const ICCID = '89000123456789012358';
const RESULT = hexToBytes('AF80800101230A010203040506070890000000'); // expanded format (TS 102 226): 80 count, 23 R-APDU

test('--trace shows the HTTP admin dialog, headers included, and no key material', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'iotsafe-admin-trace-'));
  try {
    const store = join(dir, 'ota.db');
    const must = (args: string[]) => {
      const r = runCli(args, env);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    };
    must(['keys', 'new', '--psk', join(dir, 'psk.key')]);
    must(['keys', 'new', '--scp80', join(dir, 'scp80.keys')]);
    const psk = readFileSync(join(dir, 'psk.key'), 'utf8').trim();
    must([
      'ota',
      'add-sim',
      '--store',
      store,
      '--create',
      '--iccid',
      ICCID,
      '--msisdn',
      '4917000042',
      '--kic',
      '12',
      '--keys-file',
      join(dir, 'scp80.keys'),
    ]);
    must([
      'ota',
      'admin',
      'psk',
      '--store',
      store,
      '--sim',
      ICCID,
      '--identity',
      'card-42',
      '--psk-file',
      join(dir, 'psk.key'),
    ]);
    must(['ota', 'admin', 'push', '--store', store, '--sim', ICCID, '--script', 'AE80220580CA0085000000']);
    const served = await startCli(
      ['--trace', 'ota', 'admin', 'serve', '--store', store, '--insecure-no-auth'],
      env,
      /SCP81 admin server on 127\.0\.0\.1:(\d+)/,
    );
    try {
      const card = await connectCard(Number(served.match[1]), { identity: 'card-42', key: hexToBytes(psk) });
      const first = await card.post({ uri: `/ram?sim=${ICCID}`, agentId: `//se-id/iccid/${ICCID}` });
      assert.equal(first?.status, 200);
      const next = first?.headers.get('x-admin-next-uri') ?? '';
      const last = await card.post({
        uri: next,
        agentId: `//se-id/iccid/${ICCID}`,
        body: RESULT,
        scriptStatus: 'ok',
      });
      assert.equal(last?.status, 204);
      await card.closed;
      let out = served.output();
      for (let i = 0; i < 50 && !/the session ends[\s\S]*X-Admin-Protocol/.test(out); i++) {
        await new Promise((r) => setTimeout(r, 50));
        out = served.output();
      }
      const request = (n: number) => out.split(/^POST /m)[n] ?? '';
      // the first POST: no body yet; the server's script decoded, with its content type
      assert.match(request(1), /^\/ram\?sim=\d+ ← SIM 89000123456789012358 \(session \d+\): no body/);
      assert.match(request(1), /X-Admin-Protocol: globalplatform-remote-admin\/1\.0/);
      assert.match(request(1), new RegExp(`X-Admin-From: //se-id/iccid/${ICCID}`));
      assert.match(request(1), /→ 200, next \/admin\?s=\d+: 80CA008500\n/);
      assert.ok(request(1).includes(`Content-Type: ${CONTENT_TYPE_SCRIPT}`), request(1));
      // the second: the card's result, its content type, recorded; then 204
      assert.ok(request(2).includes(`Content-Type: ${CONTENT_TYPE_RESPONSE}`), request(2));
      assert.match(request(2), /X-Admin-Script-Status: ok/);
      assert.match(request(2), /1 executed, 9000 \[recorded\]/);
      assert.match(request(2), /→ 204: the session ends/);
      for (const secret of [psk, STORAGE_KEY, bytesToHex(hexToBytes(psk)).toUpperCase()])
        assert.ok(!out.toLowerCase().includes(secret.toLowerCase()), 'no key material in the trace');
      assert.doesNotMatch(out, /psk[^_-]*[:=]\s*[0-9a-f]{32}/i);
    } finally {
      await served.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
