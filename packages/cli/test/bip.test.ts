// `iotsafe bip`: the BIP terminal of the CLI runs the card's SCP81 admin sessions against the scripted
// admin server of the card-side tests (Node's tls PSK server, Node's HTTP parser), with the SIM in
// process (the session started as an on-card applet would) and behind `sim serve --tcp` (the session
// triggered by an SCP80 SMS-PP download ENVELOPE built with `ota encode`); --trace, --json, SIGINT.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  buildInstallForPersonalization,
  buildStoreData,
  bytesToHex,
  CAT_COMMAND,
  decodeExpandedResponse,
  encodeCommandApdu,
  encodeExpandedScript,
  encodePersoScript,
  encodeTerminalResponse,
  GENERAL_RESULT,
  hexToBytes,
  IOTSAFE_AID,
  terminalResponseApdu,
} from '@iotsafe/protocol';
import { VirtualSim } from '@iotsafe/sim';
import { type AdminScript, startAdminServer } from '../../../test/helpers/admin-server.js';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';
import { runCli, runCliAsync, startCli } from '../../../test/helpers/cli.js';
import { envelopeData, isCloseChannelResponse } from '../src/bip.js';
import { checkJson } from './json-schemas.js';

/** TEST keys only: the storage key, the SCP81 TLS-PSK of key set 40, the ISD's SCP03 and SCP80 keys. */
const STORAGE_KEY = '5a'.repeat(32);
const PSK = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const IDENTITY = 'cli-test-sim-0001';
const ISD = { enc: '41'.repeat(16), mac: '42'.repeat(16), dek: '43'.repeat(16) };
const SCP80 = { kic: '61'.repeat(16), kid: '62'.repeat(16), kik: '63'.repeat(16) };
const env = { IOTSAFE_STORAGE_KEY: STORAGE_KEY };

const dir = mkdtempSync(join(tmpdir(), 'iotsafe-bip-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const GET_STATUS_ISD = encodeExpandedScript([hexToBytes('80F28002024F0000')], true);
const LIST_OBJECTS = encodeExpandedScript(
  [
    encodeCommandApdu(buildInstallForPersonalization(IOTSAFE_AID)),
    encodeCommandApdu(buildStoreData(0, true, encodePersoScript([{ op: 'list' }]))),
  ],
  true,
);
const sw = (rapdu: Uint8Array) => bytesToHex(rapdu.subarray(-2));

/** A SIM directory whose ISD knows the admin server, with known SCP03 keys (so PUT KEY can add SCP80). */
function createSim(name: string, port: number): string {
  const simDir = join(dir, name);
  VirtualSim.create(simDir, TEST_PROFILE, {
    storageKey: hexToBytes(STORAGE_KEY),
    isdKeys: { keys: { enc: hexToBytes(ISD.enc), mac: hexToBytes(ISD.mac), dek: hexToBytes(ISD.dek) } },
    scp81: {
      keys: { psk: PSK, dek: new Uint8Array(16).fill(0x44) },
      parameters: {
        address: '127.0.0.1',
        port,
        host: 'admin.test',
        agentId: '//se-id/iccid/8944000000000000001',
        uri: '/admin',
        pskIdentity: IDENTITY,
        retry: { counter: 0, delaySeconds: 0 },
      },
    },
  }).close();
  return simDir;
}

async function adminServer(scripts: AdminScript[]) {
  return startAdminServer({ keys: new Map([[IDENTITY, PSK]]), scripts: new Map([[IDENTITY, scripts]]) });
}

describe('iotsafe bip', () => {
  test('in process: an admin session runs GET STATUS and lists the IoT SAFE objects; --json summary', async () => {
    const server = await adminServer([{ body: GET_STATUS_ISD }, { body: LIST_OBJECTS }]);
    try {
      const simDir = createSim('sim-memory', server.port);
      const r = await runCliAsync(
        ['--json', '--sim', simDir, 'bip', '--request-session', '--sessions', '1', '--poll', '20'],
        env,
      );
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const summary = checkJson('bip', r.stdout) as {
        sessions: { outcome: string; scripts: number }[];
        channels: { connected: boolean; bytesSent: number; error: string | null }[];
        stoppedBy: string;
        link: string;
      };
      assert.equal(summary.link, 'in-process');
      assert.equal(summary.stoppedBy, 'sessions');
      assert.deepEqual(
        summary.sessions.map((s) => [s.outcome, s.scripts]),
        [['completed', 2]],
      );
      assert.equal(summary.channels.length, 1);
      assert.equal(summary.channels[0]!.connected, true);
      assert.ok(summary.channels[0]!.bytesSent > 0);
      const results = server.results.get(IDENTITY) ?? [];
      assert.deepEqual(
        results.map((x) => x.status),
        ['ok', 'ok'],
      );
      assert.equal(sw(decodeExpandedResponse(results[0]!.body).responses[0]!), '9000');
    } finally {
      await server.close();
    }
  });

  test('over --tcp: an SCP80 trigger ENVELOPE from `ota encode` starts the session; --trace redacts', async () => {
    const server = await adminServer([{ body: GET_STATUS_ISD }]);
    const simDir = createSim('sim-tcp', server.port);
    const keys = join(dir, 'keys');
    writeFileSync(join(dir, 'isd.keys'), `enc=${ISD.enc}\nmac=${ISD.mac}\ndek=${ISD.dek}\n`, { mode: 0o600 });
    writeFileSync(keys, `kic=${SCP80.kic}\nkid=${SCP80.kid}\nkik=${SCP80.kik}\n`, { mode: 0o600 });
    const putKey = runCli(
      [
        '--sim',
        simDir,
        'gp',
        '--keys-file',
        join(dir, 'isd.keys'),
        'put-key',
        '--new-kvn',
        '01',
        '--new-keys-file',
        keys,
      ],
      env,
    );
    assert.equal(putKey.code, 0, putKey.stderr);
    const envelope = runCli(
      [
        'ota',
        'encode',
        ...['--spi', '1601', '--kic', '12', '--tar', '000000', '--counter', '1', '--script', '8100'],
        ...['--keys-file', keys, '--as', 'envelope'],
      ],
      env,
    );
    assert.equal(envelope.code, 0, envelope.stderr);
    const served = await startCli(
      ['sim', 'serve', simDir, '--tcp', '0', '--insecure-no-auth', '--port-file', join(dir, 'card.port')],
      env,
      /serving on tcp 127\.0\.0\.1:(\d+)/,
    );
    try {
      const r = await runCliAsync(
        [
          '--trace',
          '--tcp',
          `127.0.0.1:${served.match[1]}`,
          'bip',
          '--envelope',
          envelope.stdout.trim(),
          '--sessions',
          '1',
          '--poll',
          '20',
        ],
        env,
      );
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stderr, /ENVELOPE \(SMS-PP download\) ⇒ 9000/);
      assert.match(r.stderr, /⇐ OPEN CHANNEL \(qualifier 0[1-9]\) ⇒ result 00: channel 1 to 127\.0\.0\.1:/);
      assert.match(r.stderr, /channel 1 127\.0\.0\.1:\d+: connected/);
      assert.match(r.stderr, /⇐ CLOSE CHANNEL .* ⇒ result 00/);
      assert.match(r.stdout, /1 channels opened/);
      for (const secret of [bytesToHex(PSK), SCP80.kic, SCP80.kid, ISD.enc])
        assert.ok(!r.stderr.toUpperCase().includes(secret.toUpperCase()), 'a key in the trace');
      assert.deepEqual(
        (server.results.get(IDENTITY) ?? []).map((x) => x.status),
        ['ok'],
      );
    } finally {
      await served.stop();
      await server.close();
    }
  });

  test('SIGINT stops the terminal cleanly, with its summary', async () => {
    const simDir = createSim('sim-idle', 9);
    const bip = await startCli(
      ['--json', '--sim', simDir, 'bip', '--poll', '20'],
      env,
      /BIP terminal on the card/,
    );
    await new Promise((resolve) => setTimeout(resolve, 200)); // a few STATUS polls
    assert.equal(await bip.signal('SIGINT'), 0, bip.output());
    const summary = checkJson('bip', bip.stdout()) as {
      stoppedBy: string;
      terminal: { fetched: number; polls: number };
      sessions: unknown[];
    };
    assert.equal(summary.stoppedBy, 'signal');
    assert.ok(summary.terminal.fetched >= 1, 'SET UP EVENT LIST after TERMINAL PROFILE');
    assert.ok(summary.terminal.polls >= 1);
    assert.deepEqual(summary.sessions, []);
    // the SIM directory is free again
    const info = runCli(['--sim', simDir, 'info'], env);
    assert.equal(info.code, 0, info.stderr);
  });

  test('usage errors: --request-session over a link, an ENVELOPE that is not an SMS-PP download', () => {
    const over = runCli(['--json', '--tcp', '127.0.0.1:9', 'bip', '--request-session'], env);
    assert.equal(over.code, 2, over.stdout);
    assert.match(checkJsonError(over.stdout), /--request-session needs the SIM directory/);
    const bad = runCli(['--json', '--sim', join(dir, 'none'), 'bip', '--envelope', '00A4'], env);
    assert.equal(bad.code, 2, bad.stdout);
    assert.match(checkJsonError(bad.stdout), /SMS-PP download ENVELOPE/);
  });

  test('the CLOSE CHANNEL answer is told from the other TERMINAL RESPONSEs', () => {
    const tr = (type: number, tag = 0x81) => {
      const apdu = terminalResponseApdu(
        encodeTerminalResponse({ number: 1, type, qualifier: 0 }, { general: GENERAL_RESULT.OK }),
      );
      apdu[5] = tag;
      return apdu;
    };
    assert.equal(isCloseChannelResponse(tr(CAT_COMMAND.CLOSE_CHANNEL)), true);
    assert.equal(isCloseChannelResponse(tr(CAT_COMMAND.CLOSE_CHANNEL, 0x01)), true);
    assert.equal(isCloseChannelResponse(tr(CAT_COMMAND.OPEN_CHANNEL)), false);
    assert.equal(isCloseChannelResponse(hexToBytes('80F2000C00')), false);
  });

  test('--envelope takes the BER-TLV or the whole ENVELOPE APDU', () => {
    assert.deepEqual([...envelopeData('D1 03 82 02 83')], [0xd1, 0x03, 0x82, 0x02, 0x83]);
    assert.deepEqual([...envelopeData('80C2000005D103820283')], [0xd1, 0x03, 0x82, 0x02, 0x83]);
    assert.throws(() => envelopeData('zz'), /hex/);
  });
});

function checkJsonError(stdout: string): string {
  return (checkJson('error', stdout) as { error: { message: string } }).error.message;
}
