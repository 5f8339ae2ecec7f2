// `iotsafe ota trigger` with the session's parameters in the SMS (GP Amd B Table 3-3): --admin-host,
// --psk-identity, --admin-kvn/--admin-kid, --http-host, --agent-id, --uri, SCP80-secured by default or
// --plain. End to end through the local SMSC to a virtual SIM whose BIP terminal runs the session; the
// card's stored parameters lead nowhere (port 9, an unknown identity), so a completed session proves it
// used the trigger's. --json checked against docs/json.md; bad flags are usage errors sending nothing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AdminServer, OtaStore, TestNetwork } from '@iotsafe/ota';
import { decodeAdminTrigger, encodeExpandedScript, fromUtf8, hexToBytes } from '@iotsafe/protocol';
import { runCli, runCliAsync } from '../../../test/helpers/cli.js';
import { triggerCard } from '../../ota/test/trigger-card.js';
import { triggerFromFlags } from '../src/admin-trigger-flags.js';
import { checkJson } from './json-schemas.js';

/** TEST keys only. */
const STORAGE_KEY = '6b'.repeat(32);
const env = { IOTSAFE_STORAGE_KEY: STORAGE_KEY, IOTSAFE_SMPP_PASSWORD: 'iotsafe' };
const PSK = Uint8Array.from({ length: 16 }, (_, i) => 0xd0 + i);
const KIC = new Uint8Array(16).fill(0x61);
const KID = new Uint8Array(16).fill(0x62);
const IDENTITY = 'cli-trigger-sim';
const GET_STATUS = encodeExpandedScript([hexToBytes('80F28002024F0000')], true);

describe('ota trigger with the session parameters, through the local SMSC', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iotsafe-trigger-'));
  const file = join(dir, 'ota.db');
  let store: OtaStore;
  let network: TestNetwork;
  let admin: AdminServer;
  const stops: (() => Promise<void>)[] = [];
  before(async () => {
    store = await OtaStore.open(file, hexToBytes(STORAGE_KEY), { create: true });
    network = await TestNetwork.start({ systemId: 'iotsafe', password: 'iotsafe' });
    admin = await AdminServer.start(store);
  });
  after(async () => {
    for (const stop of stops) await stop();
    await admin.close();
    await network.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function card(n: number, otaMinimumSecurityLevel?: number) {
    const iccid = `89882110000000004${String(n).padStart(2, '0')}`;
    const msisdn = `49151000004${String(n).padStart(2, '0')}`;
    const { sim, stop } = await triggerCard(
      { network, store, admin },
      {
        iccid,
        msisdn,
        psk: PSK,
        identity: IDENTITY,
        kic: KIC,
        kid: KID,
        ...(otaMinimumSecurityLevel === undefined ? {} : { otaMinimumSecurityLevel }),
      },
    );
    stops.push(stop);
    return { iccid, sim };
  }

  const triggerArgs = (iccid: string, extra: string[]) => [
    '--json',
    'ota',
    'trigger',
    '--store',
    file,
    '--smsc',
    `127.0.0.1:${network.port}`,
    '--sim',
    iccid,
    '--admin-host',
    `127.0.0.1:${admin.port}`,
    '--psk-identity',
    IDENTITY,
    '--admin-kvn',
    '40',
    '--admin-kid',
    '01',
    '--http-host',
    'admin.trigger.test',
    '--agent-id',
    `//se-id/iccid/${iccid}`,
    '--uri',
    `/ram?sim=${iccid}`,
    ...extra,
  ];

  for (const [name, n, extra, level] of [
    ['SCP80-secured (the default)', 1, [], undefined],
    ['--plain, to a SIM that accepts plain OTA', 2, ['--plain'], 0x00],
  ] as const)
    test(`${name}: the session goes where the flags say and the queued script runs`, async () => {
      const { iccid, sim } = await card(n, level);
      const id = await store.admin.push(iccid, { script: GET_STATUS });
      const r = await runCliAsync(triggerArgs(iccid, [...extra]), env);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const out = checkJson('ota trigger', r.stdout) as {
        trigger: string;
        spi: string;
        secured: boolean;
        parameters: { connection: { port: number }; security: { pskIdentity: string } };
        por: { status: string };
      };
      assert.equal(out.por.status, 'ok');
      assert.equal(out.secured, extra.length === 0);
      assert.equal(out.spi, extra.length === 0 ? '1619' : '0001');
      assert.equal(out.parameters.connection.port, admin.port);
      assert.equal(out.parameters.security.pskIdentity, IDENTITY);
      // what went into the SMS is what the flags said
      const sent = decodeAdminTrigger(hexToBytes(out.trigger));
      assert.equal(fromUtf8(sent.security!.pskIdentity), IDENTITY);
      assert.deepEqual(sent.http, {
        host: 'admin.trigger.test',
        agentId: `//se-id/iccid/${iccid}`,
        uri: `/ram?sim=${iccid}`,
      });
      await sim.admin.idle();
      const session = sim.admin.sessions.at(-1);
      assert.equal(session?.outcome, 'completed', session?.error);
      assert.equal((await store.admin.script(id))?.state, 'done');
    });

  test('without flags: 81 00, the stored parameters (which lead nowhere here: no session completes)', async () => {
    const { iccid, sim } = await card(3);
    const id = await store.admin.push(iccid, { script: GET_STATUS });
    const r = await runCliAsync(
      ['--json', 'ota', 'trigger', '--store', file, '--smsc', `127.0.0.1:${network.port}`, '--sim', iccid],
      env,
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = checkJson('ota trigger', r.stdout) as { trigger: string; parameters: object };
    assert.equal(out.trigger, '8100');
    assert.deepEqual(out.parameters, {});
    await sim.admin.idle();
    assert.notEqual(sim.admin.sessions.at(-1)?.outcome, 'completed');
    assert.equal((await store.admin.script(id))?.state, 'queued');
  });

  test('bad flags are usage errors, and nothing is sent', () => {
    for (const [flags, message] of [
      [{ adminHost: 'admin.example:443' }, /--admin-host takes IPV4:PORT/],
      [{ adminHost: '127.0.0.1:0' }, /--admin-host takes IPV4:PORT/],
      [{ adminHost: '127.0.0.1:443', bufferSize: '0' }, /--buffer-size takes 1 to 65535/],
      [{ adminKvn: '30' }, /--admin-kvn takes 40\.\.4f/],
      [{ uri: 'ram' }, /--uri takes a path/],
      [{ agentId: 'bad\u0001id' }, /--agent-id takes 1 to 255 printable/],
    ] as const)
      assert.throws(() => triggerFromFlags({ bufferSize: '1024', ...flags }), message);
    // through the CLI: a usage error (exit 2) before any store or SMSC is opened
    const r = runCli(
      [
        'ota',
        'trigger',
        '--store',
        join(dir, 'none.db'),
        '--smsc',
        '127.0.0.1:1',
        '--sim',
        '1',
        '--uri',
        'x',
      ],
      env,
    );
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /--uri takes a path/);
    const both = runCli(
      ['ota', 'trigger', '--store', file, '--smsc', '127.0.0.1:1', '--sim', '1', '--plain', '--spi', '1619'],
      env,
    );
    assert.equal(both.code, 2, both.stdout + both.stderr);
    assert.match(both.stderr, /cannot be used with/);
  });
});
