// NOT YET A TEST (named .wip.ts so the runner skips it): under this machine's load a tsx child takes ~10 s to
// start, so 100 kills do not fit the ~90 s budget; the child must be bundled (esbuild) first. It found
// the two PoR-loss bugs fixed in smpp-link.ts and test-network.ts and the CA's stale lock.
// The rotation server SIGKILLed at 100 seeded random moments (issue 15): a rotation server process runs
// the rotation's job; it is killed at a random time, a spare that waited loaded takes over (it binds, its
// worker recovers the dead worker's lease and resumes from the ledger), and so on. After every rotation:
// exactly one active credential, which the cloud accepts; each SCP80 step executed by the SIM exactly
// once (PoRs with status 00 counted on the card's side); no counter ever reused or refused.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { IoTSafe, MemoryTransport, readCredentialSelector } from '@iotsafe/device';
import type { OtaStore, RotationService } from '@iotsafe/ota';
import { CertificateAuthority } from '@iotsafe/pki';
import {
  bytesToHex,
  decodeResponsePacket,
  decodeSpi,
  hexToBytes,
  parseResponseApdu,
} from '@iotsafe/protocol';
import { ICCID, KIC, KID, MSISDN, type Rig, STORAGE_KEY, startRig } from './rig.js';
import { type Cloud, deviceExchange, firstCertificate, newService, startCloud } from './rotation-rig.js';

const KILLS = 100;
const KILLS_PER_ROTATION = 2;
const SEED = 0x15ca7;

// mulberry32: a small seeded generator, so a failing run can be replayed
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let rig: Rig;
let ca: CertificateAuthority;
let cloud: Cloud;
let store: OtaStore;
let service: RotationService;
const children = new Set<ChildProcess>();
/** Status of every PoR the SIM gave (the card's side of the ledger). */
const porStatuses: number[] = [];

function spawnServer(): { child: ChildProcess; loaded: Promise<void>; running: () => Promise<void> } {
  const child = spawn(
    'setpriv',
    [
      '--pdeathsig',
      'KILL',
      process.execPath,
      '--conditions=development',
      '--import',
      'tsx',
      join(import.meta.dirname, 'rotation-child.ts'),
      join(rig.dir, 'ota.db'),
      join(rig.dir, 'ca'),
      String(rig.network.port),
      bytesToHex(STORAGE_KEY),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines = createInterface({ input: child.stdout! });
  const seen = (what: string) =>
    new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => line === what && resolve());
      child.once('exit', () => reject(new Error(`the rotation server exited before "${what}"`)));
    });
  const loaded = seen('loaded');
  return {
    child,
    loaded,
    running: async () => {
      const running = seen('running');
      child.stdin!.write('go\n');
      await running;
    },
  };
}

before(async () => {
  rig = await startRig();
  const card = rig.sim.card;
  const security = { spi: decodeSpi(hexToBytes('1619')), kic: 0x12, kid: 0x12 };
  rig.network.attach(MSISDN, {
    transmit(command) {
      const response = card.transmit(command);
      if (command[1] === 0xc2) {
        const answer = parseResponseApdu(response);
        if (answer.data.length > 0)
          porStatuses.push(decodeResponsePacket(answer.data, security, { kic: KIC, kid: KID }).status);
      }
      return response;
    },
  });
  ca = await CertificateAuthority.create({ commonName: 'Operator Test CA' });
  await ca.save(join(rig.dir, 'ca'), STORAGE_KEY);
  ca = await CertificateAuthority.open(join(rig.dir, 'ca'), STORAGE_KEY);
  await firstCertificate(ca, rig.sim);
  store = await rig.openStore();
  service = newService(store, STORAGE_KEY, { ca });
  cloud = await startCloud(ca, (certificate) => service.certificateSeen(certificate));
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  cloud.close();
  await store.close();
  await rig.stop();
});

async function selectorNow() {
  const client = await IoTSafe.connect(new MemoryTransport(rig.sim.card));
  try {
    return await readCredentialSelector(client);
  } finally {
    await client.close();
  }
}

test(`${KILLS} SIGKILLs of the rotation server: every rotation ends with one working credential, each step run once`, async () => {
  const next = random(SEED);
  let current = spawnServer();
  await current.loaded;
  await current.running();
  let spare = spawnServer();
  let kills = 0;
  let rotations = 0;
  let seenBefore = 0;
  while (kills < KILLS) {
    const rotation = await service.start({ sim: ICCID, deadlineMs: 60_000, porTimeoutMs: 1500 });
    rotations++;
    const started = Date.now();
    const moments = Array.from({ length: KILLS_PER_ROTATION }, () => next() * 900).sort((a, b) => a - b);
    // the device: once the pending certificate is written, it connects with it (the cloud proves it)
    let proved = false;
    const device = (async () => {
      for (;;) {
        const status = await service.status(rotation.id);
        if (['completed', 'rolled-back', 'failed'].includes(status.state)) return;
        const selector = await selectorNow(); // always decodes: exactly one active entry
        if (selector?.certificate?.pending && !proved) {
          const exchange = await deviceExchange(rig.sim.card, ca, cloud.port);
          proved = exchange.role === 'pending';
        }
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
    })();
    for (const at of moments) {
      if (kills >= KILLS) break;
      const wait = started + at - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      current.child.kill('SIGKILL');
      await once(current.child, 'exit');
      kills++;
      const selector = await selectorNow();
      assert.ok(!selector || selector.certificate?.active, 'an active credential at every kill');
      await spare.loaded;
      current = spare;
      await current.running();
      spare = spawnServer();
    }
    const status = await service.waitFor(rotation.id);
    await device;
    assert.equal(status.state, 'completed', `rotation ${rotations}: ${JSON.stringify(status)}`);
    // one active credential, no pending one, one key pair in the two slots, and the cloud takes it
    const selector = await selectorNow();
    assert.ok(selector?.certificate && !selector.certificate.pending);
    const keys = rig.sim
      .containers()
      .filter((c) => c.objectClass === 'privateKey' && (c.id[0] === 0x01 || c.id[0] === 0x11));
    assert.equal(keys.length, 1, `rotation ${rotations}: one key pair`);
    const exchange = await deviceExchange(rig.sim.card, ca, cloud.port);
    assert.equal(exchange.role, 'active');
    assert.equal(exchange.refused, 0);
    assert.equal(ca.status(status.newSerial!), 'valid');
    if (status.oldSerial) assert.equal(ca.status(status.oldSerial), 'revoked');
    // the SIM executed each of the four SCP80 steps once
    const ok = porStatuses.slice(seenBefore).filter((s) => s === 0).length;
    const ledger = (await store.jobs.attemptsOf(rotation.id)).map(
      (a) => `${a.step}/${a.attempt} ${a.state} ${a.error ?? ''}`,
    );
    assert.equal(
      ok,
      4,
      `rotation ${rotations}: PoRs 00 on the card ${porStatuses.slice(seenBefore)}: ${ledger.join('; ')}`,
    );
    seenBefore = porStatuses.length;
  }
  const attempts = await store.jobs.ledger(ICCID, { limit: 10_000 });
  const counters = attempts.map((a) => String(a.counter));
  assert.equal(new Set(counters).size, counters.length, 'no counter used twice');
  assert.ok(!porStatuses.includes(0x02), 'the SIM never saw a counter it had seen');
  // one certificate per key generated: the CA's records hold each rotation's once (orphans revoked)
  const valid = ca.issued.filter((r) => !r.revokedAt);
  assert.equal(valid.length, 1, 'one valid certificate: the one in use');
  current.child.stdin!.end();
  spare.child.stdin!.end();
});
