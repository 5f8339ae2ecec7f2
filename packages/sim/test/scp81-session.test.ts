// The card side of SCP81 end to end: the virtual SIM's admin agent, the BIP terminal of @iotsafe/device
// over a MemoryTransport, PSK-TLS (@iotsafe/tls against Node's tls PSK server) and the GP Amd B HTTP
// dialog against a scripted admin server whose requests Node's own HTTP parser reads.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { MemoryTransport, runBipTerminal, TcpTransport } from '@iotsafe/device';
import {
  buildInstallForPersonalization,
  buildStoreData,
  commandPacketUserData,
  decodeBerTlvs,
  decodeExpandedResponse,
  decodeObjectList,
  decodeStatusEntries,
  encodeAdminTrigger,
  encodeCommandApdu,
  encodeCommandPacket,
  encodeExpandedScript,
  encodePersoScript,
  encodeSmsDeliver,
  encodeSmsPpDownload,
  hexToBytes,
  IOTSAFE_AID,
  type PersoOperation,
  utf8,
} from '@iotsafe/protocol';
import { ISD_AID, type Scp81Options, scp80KeySet, serveTcp, VirtualSim } from '@iotsafe/sim';
import {
  type AdminScript,
  type AdminServerOptions,
  startAdminServer,
  startRecordTap,
} from '../../../test/helpers/admin-server.js';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';

/** TEST keys: a TLS-PSK for the SCP81 key set 40, and SCP80 keys for the trigger SMS. */
const PSK = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const IDENTITY = 'test-sim-0001';
const KIC = new Uint8Array(16).fill(0x11);
const KID = new Uint8Array(16).fill(0x22);

const expanded = (...commands: Uint8Array[]) => encodeExpandedScript(commands, true);
const apdu = (hex: string) => hexToBytes(hex);
const GET_STATUS_ISD = apdu('80F28002024F0000');
const perso = (ops: PersoOperation[]) =>
  expanded(
    encodeCommandApdu(buildInstallForPersonalization(IOTSAFE_AID)),
    encodeCommandApdu(buildStoreData(0, true, encodePersoScript(ops))),
  );
const CERTIFICATE = utf8('a new certificate, written over SCP81');
const WRITE_FILE = perso([
  {
    op: 'content',
    objectClass: 'file',
    ref: { id: Uint8Array.of(0x03) },
    content: { kind: 'file', content: CERTIFICATE },
  },
]);
const LIST_OBJECTS = perso([{ op: 'list' }]);

interface Run {
  sim: VirtualSim;
  server: Awaited<ReturnType<typeof startAdminServer>>;
  record: VirtualSim['admin']['sessions'][number];
}

async function runSession(
  scripts: AdminScript[],
  options: {
    server?: Partial<AdminServerOptions>;
    scp81?: Scp81Options;
    serverPsk?: Uint8Array;
    identity?: string;
    port?: (serverPort: number) => Promise<number>;
    retry?: { counter: number; delaySeconds: number };
    /** The terminal's link to the card: in process (with the wake hint) or TCP (vpcd framing, polled). */
    link?: 'memory' | 'tcp';
    background?: boolean;
  } = {},
): Promise<Run> {
  const server = await startAdminServer({
    keys: new Map([[IDENTITY, options.serverPsk ?? PSK]]),
    scripts: new Map([[IDENTITY, scripts]]),
    ...options.server,
  });
  const port = options.port ? await options.port(server.port) : server.port;
  const sim = VirtualSim.inMemory(TEST_PROFILE, {
    scp81: {
      keys: { psk: PSK, dek: new Uint8Array(16).fill(0x44) },
      parameters: {
        address: '127.0.0.1',
        port,
        host: 'admin.test',
        agentId: '//se-id/iccid/8944000000000000001',
        uri: '/admin',
        pskIdentity: options.identity ?? IDENTITY,
        retry: options.retry ?? { counter: 0, delaySeconds: 0 },
        background: options.background ?? false,
      },
      timeouts: { handshakeMs: 5000, responseMs: 5000, terminalResponseMs: 5000 },
      ...options.scp81,
    },
  });
  const served = options.link === 'tcp' ? await serveTcp(sim.card) : undefined;
  const terminal = served
    ? await runBipTerminal(new TcpTransport({ host: '127.0.0.1', port: served.port }), { pollIntervalMs: 20 })
    : await runBipTerminal(new MemoryTransport(sim.card), {
        wake: (notify) => sim.card.toolkit.onPending(notify),
        pollIntervalMs: 50,
      });
  try {
    sim.requestAdminSession();
    await sim.admin.idle();
  } finally {
    await terminal.stop();
    await server.close();
    await served?.stop();
  }
  return { sim, server, record: sim.admin.sessions.at(-1)! };
}

const resultsOf = (run: Run) => run.server.results.get(IDENTITY) ?? [];
const rapdus = (body: Uint8Array) => decodeExpandedResponse(body).responses;
const sw = (rapdu: Uint8Array) => (rapdu[rapdu.length - 2]! << 8) | rapdu[rapdu.length - 1]!;

describe('SCP81 admin session: card, BIP terminal, PSK-TLS, HTTP', () => {
  test('GET STATUS of the ISD, the IoT SAFE object list and a file container written, in one session', async () => {
    const run = await runSession([
      { body: expanded(GET_STATUS_ISD) },
      { body: LIST_OBJECTS },
      { body: WRITE_FILE },
    ]);
    assert.equal(run.record.outcome, 'completed', run.record.error);
    assert.equal(run.record.scripts, 3);
    const [status, list, write] = resultsOf(run);
    assert.equal(status?.status, 'ok');
    const entry = rapdus(status!.body)[0]!;
    assert.equal(sw(entry), 0x9000);
    assert.deepEqual([...decodeStatusEntries(entry.subarray(0, -2))[0]!.aid], [...ISD_AID]);
    const listed = rapdus(list!.body);
    assert.equal(sw(listed[1]!), 0x9000);
    const objects = decodeObjectList(listed[1]!.subarray(0, -2));
    assert.equal(objects.length, run.sim.containers().length);
    assert.ok(objects.some((o) => o.label === 'device-certificate'));
    assert.equal(sw(rapdus(write!.body)[1]!), 0x9000);
    const file = run.sim.containers().find((c) => c.objectClass === 'file' && c.id[0] === 3);
    assert.deepEqual(file?.objectClass === 'file' && [...(file.content ?? [])], [...CERTIFICATE]);
    // what Node's HTTP parser read from the card
    const [first, second] = run.server.requests;
    assert.equal(first!.url, '/admin');
    assert.equal(first!.headers.host, 'admin.test');
    assert.equal(first!.headers['x-admin-protocol'], 'globalplatform-remote-admin/1.0');
    assert.equal(first!.headers['x-admin-from'], '//se-id/iccid/8944000000000000001');
    assert.equal(first!.body.length, 0);
    assert.equal(second!.url, '/admin?step=1', 'the Next-URI echoed verbatim');
    assert.equal(second!.headers['transfer-encoding'], 'chunked');
    assert.equal(
      second!.headers['content-type'],
      'application/vnd.globalplatform.card-content-mgt-response;version=1.0',
    );
    // The real card's hello: its first suite, which the server takes (RFC 5487).
    assert.equal(run.server.connections[0]?.cipher, 'PSK-AES128-CBC-SHA256');
    assert.equal(run.server.connections[0]?.protocol, 'TLSv1.2');
  });

  test('a personalisation-locked applet takes the session scripts: the lock, then a file written after it', async () => {
    const run = await runSession([{ body: perso([{ op: 'lock', scope: 'ota' }]) }, { body: WRITE_FILE }]);
    assert.equal(run.record.outcome, 'completed', run.record.error);
    const [lock, write] = resultsOf(run);
    assert.equal(sw(rapdus(lock!.body)[1]!), 0x9000);
    assert.equal(run.sim.store.personalizationLocked, 'ota');
    assert.equal(sw(rapdus(write!.body)[1]!), 0x9000, 'the SCP81 session is the issuer’s channel');
    const file = run.sim.containers().find((c) => c.objectClass === 'file' && c.id[0] === 3);
    assert.deepEqual(file?.objectClass === 'file' && [...(file.content ?? [])], [...CERTIFICATE]);
  });

  test('GET DATA 00 85 over the session: the stored parameters, as a live ISD answered them', async () => {
    const run = await runSession([{ body: expanded(apdu('80CA008500')) }]);
    const answer = rapdus(resultsOf(run)[0]!.body)[0]!;
    assert.equal(sw(answer), 0x9000);
    const [wrapper] = decodeBerTlvs(answer.subarray(0, -2));
    assert.equal(wrapper?.tag, 0x85);
    const fields = new Map(decodeBerTlvs(wrapper!.value).map((t) => [t.tag, t.value]));
    assert.equal(new TextDecoder().decode(fields.get(0x8c)), '/admin');
    assert.equal(new TextDecoder().decode(fields.get(0x85)), IDENTITY);
    assert.deepEqual([...fields.get(0xbe)!], [0x21, 127, 0, 0, 1]);
    assert.equal(fields.has(0x01), false, 'no key material');
  });

  test('chunked responses in 100-byte chunks are read as well as Content-Length ones; Content-Length bodies from the card', async () => {
    const run = await runSession([{ body: WRITE_FILE }, { body: expanded(GET_STATUS_ISD) }], {
      server: { bodyEncoding: 'chunked' },
      scp81: { bodyEncoding: 'content-length' },
    });
    assert.equal(run.record.outcome, 'completed', run.record.error);
    assert.equal(resultsOf(run).length, 2);
    assert.equal(run.server.requests[1]!.headers['content-length'], String(resultsOf(run)[0]!.body.length));
  });

  test('over a TCP link to the card (vpcd framing), the terminal polling with STATUS; a background OPEN CHANNEL', async () => {
    const run = await runSession([{ body: WRITE_FILE }, { body: expanded(GET_STATUS_ISD) }], {
      link: 'tcp',
      background: true,
    });
    assert.equal(run.record.outcome, 'completed', run.record.error);
    assert.equal(resultsOf(run).length, 2);
  });

  test('a target that is not a security domain, an unknown one, and the ISD named explicitly', async () => {
    const run = await runSession([
      { body: expanded(GET_STATUS_ISD), target: '//aid/A000000559/0010' },
      { body: expanded(GET_STATUS_ISD), target: '//aid/A000000999/0001' },
      { body: expanded(GET_STATUS_ISD), target: '//aid/A000000151/000000' },
    ]);
    assert.equal(run.record.outcome, 'completed', run.record.error);
    const [notSd, unknown, isd] = resultsOf(run);
    assert.equal(notSd!.status, 'not-a-security-domain');
    assert.equal(notSd!.body.length, 0);
    assert.equal(unknown!.status, 'unknown-application');
    assert.equal(isd!.status, 'ok');
    assert.equal(sw(rapdus(isd!.body)[0]!), 0x9000);
  });

  test('a wrong PSK: the handshake fails, retried as the policy says, nothing executed', async () => {
    const run = await runSession([{ body: WRITE_FILE }], {
      serverPsk: new Uint8Array(16).fill(7),
      retry: { counter: 1, delaySeconds: 0 },
    });
    assert.equal(run.record.outcome, 'failed');
    assert.equal(run.record.attempts.length, 2);
    assert.match(run.record.error!, /Tls/);
    assert.equal(run.record.scripts, 0);
    assert.equal(run.server.requests.length, 0);
  });

  test('an identity the server does not know is refused', async () => {
    const run = await runSession([{ body: WRITE_FILE }], { identity: 'nobody' });
    assert.equal(run.record.outcome, 'failed');
    assert.equal(run.server.requests.length, 0);
    assert.ok(run.server.tlsErrors.length > 0);
  });

  for (const when of ['before-response', 'mid-response'] as const) {
    test(`a connection cut ${when} at step 2 resumes with X-Admin-Resume: nothing executed twice, nothing lost`, async () => {
      const executed: number[] = [];
      const scripts = [1, 2, 3].map((n) => ({
        body: expanded(apdu(`80CA00${n === 1 ? '66' : n === 2 ? 'CF' : 'E0'}00`)),
      }));
      const run = await runSession(scripts, {
        server: { cut: { step: 2, when } },
        retry: { counter: 2, delaySeconds: 0 },
        scp81: { onSessionEnd: (r) => executed.push(r.scripts) },
      });
      assert.equal(run.record.outcome, 'completed', run.record.error);
      assert.equal(run.record.attempts.length, 2);
      assert.equal(run.record.attempts[1]!.resumed, true);
      assert.equal(run.record.scripts, 3, 'each script executed once');
      assert.deepEqual(
        resultsOf(run).map((r) => r.step),
        [1, 2, 3],
        'each result recorded once, in order',
      );
      assert.equal(run.server.duplicates, 1, 'the resumed POST repeated one result');
      const resumed = run.server.requests.filter((r) => r.headers['x-admin-resume'] === 'true');
      assert.equal(resumed.length, 1);
      assert.equal(resumed[0]!.url, '/admin?step=2', 'the last request, sent again');
      assert.deepEqual(executed, [3]);
    });
  }

  test('a 200 without X-Admin-Next-URI: the script runs and the session ends unreported', async () => {
    const run = await runSession([{ body: WRITE_FILE, last: true }, { body: expanded(GET_STATUS_ISD) }]);
    assert.equal(run.record.outcome, 'completed');
    assert.equal(run.record.scripts, 1);
    assert.equal(resultsOf(run).length, 0);
    const file = run.sim.containers().find((c) => c.objectClass === 'file' && c.id[0] === 3);
    assert.ok(file?.objectClass === 'file' && file.content?.length === CERTIFICATE.length);
  });

  test('card-side timeouts: a server that accepts TCP and never answers, one that never answers the POST', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const run = await runSession([{ body: WRITE_FILE }], {
        port: async () => (silent.address() as { port: number }).port,
        scp81: { timeouts: { handshakeMs: 200, responseMs: 200, terminalResponseMs: 5000 } },
      });
      assert.equal(run.record.outcome, 'failed');
      assert.match(run.record.error!, /timed out/);
    } finally {
      silent.close();
    }
    const mute = await runSession([{ body: WRITE_FILE }], {
      server: { cut: { step: 0, when: 'before-response' } },
      scp81: { timeouts: { handshakeMs: 5000, responseMs: 300, terminalResponseMs: 5000 } },
    });
    assert.equal(mute.record.outcome, 'failed');
    assert.equal(mute.record.scripts, 0);
  });

  test('every record the card sends keeps to its 512-byte fragment size, a long POST included', async () => {
    // sixteen GET DATA CPLC: a result template near 800 bytes, so the POST spans records
    const cplcs = expanded(...Array.from({ length: 16 }, () => apdu('80CA9F7F00')));
    let tap: Awaited<ReturnType<typeof startRecordTap>> | undefined;
    const run = await runSession([{ body: cplcs }], {
      port: async (serverPort) => {
        tap = await startRecordTap(serverPort);
        return tap.port;
      },
    });
    await tap!.close();
    assert.equal(run.record.outcome, 'completed', run.record.error);
    assert.ok(resultsOf(run)[0]!.body.length > 700);
    const application = tap!.records.filter((r) => r.type === 23);
    assert.ok(application.length >= 3, JSON.stringify(tap!.records));
    // PSK-AES128-CBC-SHA256: an explicit IV, HMAC-SHA256 and at most a block of padding (RFC 5246 §6.2.3.2)
    const overhead = 16 + 32 + 16;
    for (const record of tap!.records)
      assert.ok(record.length - (record.type === 23 ? overhead : 0) <= 512, `a ${record.length}-byte record`);
  });
});

describe('the trigger: an SCP80-secured SMS to the ISD', () => {
  test('81 00 starts a session with the stored parameters; a full trigger overrides them', async () => {
    const server = await startAdminServer({
      keys: new Map([
        [IDENTITY, PSK],
        ['from-the-trigger', PSK],
      ]),
      scripts: new Map([
        [IDENTITY, [{ body: expanded(GET_STATUS_ISD) }]],
        ['from-the-trigger', [{ body: expanded(GET_STATUS_ISD) }]],
      ]),
    });
    const sim = VirtualSim.inMemory(TEST_PROFILE, {
      scp81: {
        keys: { psk: PSK },
        parameters: { address: '127.0.0.1', port: server.port, uri: '/admin', pskIdentity: IDENTITY },
      },
    });
    sim.isd.keySets.push(scp80KeySet(1, { kic: KIC, kid: KID }));
    const terminal = await runBipTerminal(new MemoryTransport(sim.card), {
      wake: (notify) => sim.card.toolkit.onPending(notify),
    });
    const sms = (data: Uint8Array, counter: bigint) => {
      const packet = encodeCommandPacket(
        { spi: hexToBytes('1601'), kic: 0x12, kid: 0x12, tar: hexToBytes('000000'), counter, data },
        { kic: KIC, kid: KID },
      );
      const tpdu = encodeSmsDeliver({
        originator: { digits: '447700900123', toa: 0x91 },
        pid: 0x7f,
        dcs: 0xf6,
        timestamp: new Uint8Array(7),
        userData: commandPacketUserData(packet)[0]!,
        userDataHeader: true,
      });
      return encodeSmsPpDownload(tpdu).subarray(5);
    };
    try {
      const first = await terminal.envelope(sms(encodeAdminTrigger(), 1n));
      assert.equal(first.sw, 0x9000);
      await sim.admin.idle();
      assert.equal(sim.admin.sessions[0]?.outcome, 'completed', sim.admin.sessions[0]?.error);
      await terminal.envelope(
        sms(
          encodeAdminTrigger({
            security: { pskIdentity: utf8('from-the-trigger'), keyVersion: 0x40, keyId: 0x01 },
            http: { uri: '/from-trigger?x=1', host: 'trigger.host' },
          }),
          2n,
        ),
      );
      await sim.admin.idle();
      assert.equal(sim.admin.sessions[1]?.outcome, 'completed', sim.admin.sessions[1]?.error);
      const second = server.requests.find((r) => r.identity === 'from-the-trigger');
      assert.equal(second?.url, '/from-trigger?x=1');
      assert.equal(second?.headers.host, 'trigger.host');
    } finally {
      await terminal.stop();
      await server.close();
    }
  });
});
