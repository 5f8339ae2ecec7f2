// SIGKILL at seeded random moments (issue 15), on both sides. The server side: a rotation server
// process runs the rotation's job; it is killed at a random time, a spare that waited loaded takes over
// (it binds, its worker recovers the dead worker's lease and resumes from the ledger), and so on. The
// device side: a device process (the SIM over TCP, the cloud over our TLS client) reconnects again and
// again with the credential the selector picks; it is killed at random moments during the rotations and
// a spare restarts (resetting the SIM, as a device that restarts does). Then the worker of an SCP81
// rotation killed while its admin sessions run. After every rotation: exactly one active credential,
// which the cloud accepts; each SIM step executed exactly once (PoRs with status 00 counted on the
// card's side; over SCP81 each admin script sent and run once); no counter ever reused or refused.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { IoTSafe, MemoryTransport, readCredentialSelector } from '@iotsafe/device';
import { FINAL_ROTATION_STATES, type OtaStore, type RotationService } from '@iotsafe/ota';
import { CertificateAuthority } from '@iotsafe/pki';
import {
  bytesToHex,
  decodeResponsePacket,
  decodeSpi,
  hexToBytes,
  parseResponseApdu,
} from '@iotsafe/protocol';
import { serveTcp } from '@iotsafe/sim';
import { bundle } from '../../../scripts/bundle.mjs';
import { ICCID, KIC, KID, MSISDN, type Rig, STORAGE_KEY, startRig } from './rig.js';
import {
  assertCountersTakenOnce,
  children,
  lineAfter,
  momentsOf,
  random,
  type Server,
  sparesOf,
  spawnLoaded,
  until,
} from './rotation-kill-rig.js';
import {
  type Cloud,
  deviceExchange,
  firstCertificate,
  newService,
  startAdminRig,
  startCloud,
} from './rotation-rig.js';

/**
 * The issue asks 100 kills, server and device side: 50 of the rotation server, 40 of the device, 10 of
 * an SCP81 rotation's worker by default (~2 minutes on a loaded 2-core runner); IOTSAFE_ROTATION_KILLS
 * sets the server's count (the device's and the SCP81 worker's follow in the same ratio), for a quicker
 * local run or a longer soak. The moments are seeded (SEED): a failing run can be replayed.
 */
const KILLS = Number(process.env.IOTSAFE_ROTATION_KILLS ?? 50);
const DEVICE_KILLS = Math.round(KILLS * 0.8);
const SCP81_KILLS = Math.max(1, Math.round(KILLS / 5));
/** A kill falls in the rotation's first KILL_WINDOW_MS (one runs in ~0.5 s undisturbed). */
const KILL_WINDOW_MS = 900;
const SEED = 0x15ca7;

let rig: Rig;
/** The rotation server, bundled once: a plain `node child.mjs` starts in ~0.4 s, under tsx in seconds. */
let childBundle: string;
let ca: CertificateAuthority;
let cloud: Cloud;
let store: OtaStore;
let firstSerial: string;
let service: RotationService;
/** Status of every PoR the SIM gave (the card's side of the ledger). */
const porStatuses: number[] = [];

function spawnServer(on: Rig = rig): Server {
  return spawnLoaded(
    [
      childBundle,
      join(on.dir, 'ota.db'),
      join(on.dir, 'ca'),
      String(on.network.port),
      bytesToHex(STORAGE_KEY),
    ],
    'rotation server',
  );
}

before(async () => {
  rig = await startRig();
  // under the package, so that its native and external modules (better-sqlite3, pg) resolve from node_modules
  childBundle = bundle(
    join(import.meta.dirname, 'rotation-child.ts'),
    join(import.meta.dirname, '..', '.test-bundle', `rotation-child-${process.pid}.mjs`),
  );
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
  firstSerial = new X509Certificate(Buffer.from(await firstCertificate(ca, rig.sim))).serialNumber;
  store = await rig.openStore();
  service = newService(store, STORAGE_KEY, { ca });
  cloud = await startCloud(ca, (certificate) => service.certificateSeen(certificate));
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(childBundle, { force: true });
  cloud.close();
  await store.close();
  await rig.stop();
});

async function selectorNow(card: { transmit(c: Uint8Array): Uint8Array } = rig.sim.card) {
  const client = await IoTSafe.connect(new MemoryTransport(card));
  try {
    return await readCredentialSelector(client);
  } finally {
    await client.close();
  }
}

/** Valid client certificates in the CA's records (the cloud's server certificate aside). */
const validClientSerials = () =>
  ca.issued.filter((r) => r.role === 'client' && !r.revokedAt).map((r) => r.serial);

test(`${KILLS} SIGKILLs of the rotation server: every rotation ends with one working credential, each step run once`, async () => {
  const next = random(SEED);
  const { spares, takeOver } = sparesOf(spawnServer);
  let current = await takeOver();
  let kills = 0;
  let rotations = 0;
  let seenBefore = 0;
  while (kills < KILLS) {
    const rotation = await service.start({
      sim: ICCID,
      deadlineMs: 60_000,
      porTimeoutMs: 1500,
      ...(rotations === 0 ? { currentSerial: firstSerial } : {}),
    });
    rotations++;
    const started = Date.now();
    const moments = momentsOf(next, KILL_WINDOW_MS);
    // the device: once the pending certificate is written, it connects with it (the cloud proves it)
    let proved = false;
    const device = (async () => {
      for (;;) {
        const status = await service.status(rotation.id);
        if (FINAL_ROTATION_STATES.includes(status.state)) return;
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
      await until(started + at);
      current.child.kill('SIGKILL');
      await once(current.child, 'exit');
      kills++;
      const selector = await selectorNow();
      assert.ok(!selector || selector.certificate?.active, 'an active credential at every kill');
      current = await takeOver();
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
    // one valid certificate, the new one (the old revoked, and any issued twice for the new key too)
    assert.deepEqual(validClientSerials(), [status.newSerial], `rotation ${rotations}`);
    assert.equal(ca.status(status.oldSerial!), 'revoked');
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
  await assertCountersTakenOnce(store);
  assert.ok(!porStatuses.includes(0x02), 'the SIM never saw a counter it had seen');
  for (const server of [current, ...spares]) server.child.stdin!.end();
});

test(`${DEVICE_KILLS} SIGKILLs of the device during rotations: it restarts, proves the new credential, uses it alone`, async (t) => {
  const killedIn = new Map<string, number>();
  const next = random(SEED + 1);
  const card = await serveTcp(rig.sim.card);
  const caFile = join(rig.dir, 'ca.pem');
  writeFileSync(caFile, ca.certificatePem);
  const deviceBundle = bundle(
    join(import.meta.dirname, 'rotation-device.ts'),
    join(import.meta.dirname, '..', '.test-bundle', `rotation-device-${process.pid}.mjs`),
  );
  let output: string[] = [];
  const devices = sparesOf(() => {
    const lines: string[] = [];
    const device = spawnLoaded(
      [deviceBundle, String(card.port), String(cloud.port), caFile],
      'device',
      lines,
    );
    return Object.assign(device, { lines });
  });
  const server = sparesOf(spawnServer);
  const worker = await server.takeOver();
  try {
    let device = (await devices.takeOver()) as Server & { lines: string[] };
    output = device.lines;
    let kills = 0;
    let rotations = 0;
    let window: number | undefined;
    while (kills < DEVICE_KILLS) {
      const porsBefore = porStatuses.length;
      const rotation = await service.start({ sim: ICCID, deadlineMs: 60_000, porTimeoutMs: 1500 });
      rotations++;
      const started = Date.now();
      // the first runs undisturbed: the kills fall in the time it took (the device's moments are while
      // the rotation runs: its proof, its switch), however fast or loaded the machine
      const moments = window === undefined ? [] : momentsOf(next, window);
      for (const at of moments) {
        if (kills >= DEVICE_KILLS) break;
        await until(started + at);
        const state = (await service.status(rotation.id)).state;
        device.child.kill('SIGKILL');
        await once(device.child, 'exit');
        kills++;
        killedIn.set(state, (killedIn.get(state) ?? 0) + 1);
        const selector = await selectorNow();
        assert.ok(!selector || selector.certificate?.active, 'an active credential at every kill');
        device = (await devices.takeOver()) as Server & { lines: string[] };
        output = device.lines;
      }
      const status = await service.waitFor(rotation.id);
      window ??= Date.now() - started;
      assert.equal(status.state, 'completed', `rotation ${rotations}: ${JSON.stringify(status)}`);
      // the device, running on, uses the new credential as the active one, and the cloud takes it
      const selector = await selectorNow();
      assert.ok(selector?.certificate && !selector.certificate.pending);
      const active = Buffer.from(selector.certificate.active.key).toString('hex');
      await lineAfter(
        output,
        output.length,
        (l) => l === `used active ${active}`,
        `the device on key ${active}`,
      );
      const keys = rig.sim
        .containers()
        .filter((c) => c.objectClass === 'privateKey' && (c.id[0] === 0x01 || c.id[0] === 0x11));
      assert.equal(keys.length, 1, `rotation ${rotations}: one key pair`);
      assert.deepEqual(validClientSerials(), [status.newSerial], `rotation ${rotations}`);
      assert.equal(ca.status(status.oldSerial!), 'revoked');
      const ok = porStatuses.slice(porsBefore).filter((s) => s === 0).length;
      assert.equal(ok, 4, `rotation ${rotations}: PoRs 00 on the card ${porStatuses.slice(porsBefore)}`);
    }
    await assertCountersTakenOnce(store);
    assert.ok(!porStatuses.includes(0x02), 'the SIM never saw a counter it had seen');
    t.diagnostic(
      `device kills in ${rotations - 1} rotations (the undisturbed one: ${window} ms), by rotation state: ${JSON.stringify(Object.fromEntries(killedIn))}`,
    );
  } finally {
    for (const p of [worker, ...server.spares, ...devices.spares]) p.child.stdin!.end();
    for (const child of children) child.kill('SIGKILL');
    await card.stop();
    rmSync(deviceBundle, { force: true });
  }
});

test(`${SCP81_KILLS} SIGKILLs of the worker of SCP81 rotations: each admin script sent and run once`, async (t) => {
  const killedIn = new Map<string, number>();
  const next = random(SEED + 2);
  const other = await startRig();
  const otherStore = await other.openStore();
  const admin = await startAdminRig(other, otherStore);
  const otherCa = await CertificateAuthority.create({ commonName: 'Operator Test CA' });
  await otherCa.save(join(other.dir, 'ca'), STORAGE_KEY);
  const scp81Ca = await CertificateAuthority.open(join(other.dir, 'ca'), STORAGE_KEY);
  const first = new X509Certificate(Buffer.from(await firstCertificate(scp81Ca, admin.sim))).serialNumber;
  const scp81Service = newService(otherStore, STORAGE_KEY, { ca: scp81Ca });
  const scp81Cloud = await startCloud(scp81Ca, (certificate) => scp81Service.certificateSeen(certificate));
  const selectorOf = () => selectorNow(admin.sim.card);
  const workers = sparesOf(() => spawnServer(other));
  let current = await workers.takeOver();
  try {
    let kills = 0;
    let rotations = 0;
    let window: number | undefined;
    while (kills < SCP81_KILLS) {
      const scriptsBefore = (await otherStore.admin.scripts(ICCID)).length;
      const rotation = await scp81Service.start({
        sim: ICCID,
        via: 'scp81',
        deadlineMs: 60_000,
        porTimeoutMs: 3000,
        sessionTimeoutMs: 20_000,
        ...(rotations === 0 ? { currentSerial: first } : {}),
      });
      rotations++;
      const started = Date.now();
      // the first runs undisturbed: the kills fall in the time it took (a trigger and a PSK-TLS admin
      // session per SIM step), however fast or loaded the machine
      const moments = window === undefined ? [] : momentsOf(next, window);
      // the device: once the pending certificate is written, it connects with it (the cloud proves it)
      let proved = false;
      const device = (async () => {
        for (;;) {
          if (FINAL_ROTATION_STATES.includes((await scp81Service.status(rotation.id)).state)) return;
          const selector = await selectorOf();
          if (selector?.certificate?.pending && !proved)
            proved = (await deviceExchange(admin.sim.card, scp81Ca, scp81Cloud.port)).role === 'pending';
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      for (const at of moments) {
        if (kills >= SCP81_KILLS) break;
        await until(started + at);
        const scripts = await otherStore.admin.scripts(ICCID);
        const moment = `${(await scp81Service.status(rotation.id)).state}/${scripts.at(-1)?.state ?? 'none'}`;
        current.child.kill('SIGKILL');
        await once(current.child, 'exit');
        kills++;
        killedIn.set(moment, (killedIn.get(moment) ?? 0) + 1);
        const selector = await selectorOf();
        assert.ok(!selector || selector.certificate?.active, 'an active credential at every kill');
        current = await workers.takeOver();
      }
      const status = await scp81Service.waitFor(rotation.id);
      await device;
      window ??= Date.now() - started;
      const scripts = (await otherStore.admin.scripts(ICCID)).slice(scriptsBefore);
      const shown = JSON.stringify(scripts.map((s) => [s.state, s.status, s.sentCount]));
      assert.equal(
        status.state,
        'completed',
        `SCP81 rotation ${rotations}: ${JSON.stringify(status)} ${shown}`,
      );
      // four SIM steps: four scripts, each sent once, run once (its result recorded), none left behind
      assert.equal(scripts.length, 4, shown);
      for (const script of scripts) {
        assert.equal(script.state, 'done', shown);
        assert.equal(script.status, 'ok', shown);
        assert.equal(script.sentCount, 1, shown);
      }
      const selector = await selectorOf();
      assert.ok(selector?.certificate && !selector.certificate.pending);
      const keys = admin.sim
        .containers()
        .filter((c) => c.objectClass === 'privateKey' && (c.id[0] === 0x01 || c.id[0] === 0x11));
      assert.equal(keys.length, 1, `SCP81 rotation ${rotations}: one key pair`);
      const exchange = await deviceExchange(admin.sim.card, scp81Ca, scp81Cloud.port);
      assert.equal(exchange.role, 'active');
      assert.equal(exchange.refused, 0);
      assert.deepEqual(
        scp81Ca.issued.filter((r) => r.role === 'client' && !r.revokedAt).map((r) => r.serial),
        [status.newSerial],
      );
      assert.equal(scp81Ca.status(status.oldSerial!), 'revoked');
    }
    await assertCountersTakenOnce(otherStore);
    t.diagnostic(
      `worker kills in ${rotations - 1} SCP81 rotations (the undisturbed one: ${window} ms), by rotation state/last script: ${JSON.stringify(Object.fromEntries(killedIn))}`,
    );
  } finally {
    for (const p of [current, ...workers.spares]) p.child.stdin!.end();
    scp81Cloud.close();
    await admin.stop();
    await otherStore.close();
    await other.stop();
  }
});
