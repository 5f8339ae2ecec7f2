// Network-initiated rotation over SCP81 (docs/rotation.md) end to end on this machine: each step's
// script queued on the admin server's per-SIM queue, the trigger SMS through the local SMSC, the SIM's
// admin agent running the script over PSK-TLS through its BIP terminal, the result recorded per step;
// the same two-phase state machine as over SCP80. Then the admin server crashing under a session: the
// card resumes (X-Admin-Resume) and no script runs twice.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { IoTSafe, MemoryTransport, readCredentialSelector } from '@iotsafe/device';
import { type JobWorker, OtaServer, type OtaStore, type RotationService, SmppLink } from '@iotsafe/ota';
import { CertificateAuthority } from '@iotsafe/pki';
import { bytesToHex } from '@iotsafe/protocol';
import { CREDENTIALS, ICCID, MSISDN, type Rig, STORAGE_KEY, startRig } from './rig.js';
import {
  type AdminRig,
  type Cloud,
  deviceExchange,
  firstCertificate,
  MemoryPskStore,
  newService,
  rotationWorker,
  startAdminRig,
  startCloud,
} from './rotation-rig.js';

let rig: Rig;
let adminRig: AdminRig;
let store: OtaStore;
let ca: CertificateAuthority;
let cloud: Cloud;
let service: RotationService;
let worker: JobWorker;
let close: () => Promise<void>;
let firstSerial: string;
const pskStore = new MemoryPskStore();
/** Every SMS-PP download the handset gave the SIM: only triggers travel by SMS over SCP81. */
const envelopes: Uint8Array[] = [];

before(async () => {
  rig = await startRig();
  store = await rig.openStore();
  adminRig = await startAdminRig(rig, store);
  const card = adminRig.sim.card;
  rig.network.attach(MSISDN, {
    transmit(command) {
      if (command[1] === 0xc2) envelopes.push(command.slice());
      return card.transmit(command);
    },
  });
  ca = await CertificateAuthority.create({ commonName: 'Operator Test CA' });
  firstSerial = new X509Certificate(Buffer.from(await firstCertificate(ca, adminRig.sim))).serialNumber;
  const link = await SmppLink.connect({ host: '127.0.0.1', port: rig.network.port, ...CREDENTIALS });
  const server = new OtaServer(store, link, { worker: false, timeoutMs: 5000 });
  service = newService(store, STORAGE_KEY, { ca, pskStore, pskSlots: [{ secret: '10' }, { secret: '13' }] });
  worker = rotationWorker(store, [server.scp80, service.kind(server.scp80)]);
  cloud = await startCloud(ca, (certificate) => service.certificateSeen(certificate));
  close = async () => {
    await worker.stop();
    await server.close();
    await link.close();
  };
});
after(async () => {
  await close();
  await adminRig.stop();
  cloud.close();
  await store.close();
  await rig.stop();
});

async function selectorNow() {
  const client = await IoTSafe.connect(new MemoryTransport(adminRig.sim.card));
  try {
    return await readCredentialSelector(client);
  } finally {
    await client.close();
  }
}

/** The device: it connects with the pending credential as soon as one is written, until the rotation ends. */
async function deviceUntilEnd(id: string): Promise<string[]> {
  const roles: string[] = [];
  for (;;) {
    const status = await service.status(id);
    if (['completed', 'rolled-back', 'failed'].includes(status.state)) return roles;
    const selector = await selectorNow();
    if (selector?.certificate?.pending && !roles.includes('pending'))
      roles.push((await deviceExchange(adminRig.sim.card, ca, cloud.port)).role);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('certificate rotation over SCP81', () => {
  test('each step one admin script run once over PSK-TLS, triggered by SMS; proven by the cloud, the old certificate revoked', async () => {
    const before = (await store.admin.scripts(ICCID)).length;
    const rotation = await service.start({
      sim: ICCID,
      via: 'scp81',
      deadlineMs: 60_000,
      currentSerial: firstSerial,
    });
    const roles = await deviceUntilEnd(rotation.id);
    const status = await service.waitFor(rotation.id);
    assert.equal(status.state, 'completed', JSON.stringify(status));
    assert.equal(status.via, 'scp81');
    assert.deepEqual(roles, ['pending']);
    assert.equal(ca.status(firstSerial), 'revoked');
    assert.equal(ca.status(status.newSerial!), 'valid');
    const after = await deviceExchange(adminRig.sim.card, ca, cloud.port);
    assert.equal(after.role, 'active');
    assert.equal(after.key, '11');
    // four SIM steps (generate, sign, write, finish): four scripts, each sent once and answered once
    const scripts = (await store.admin.scripts(ICCID)).slice(before);
    assert.equal(scripts.length, 4, JSON.stringify(scripts.map((s) => s.state)));
    for (const s of scripts) {
      assert.equal(s.state, 'done');
      assert.equal(s.status, 'ok');
      assert.equal(s.sentCount, 1);
    }
    // only the triggers went by SMS: one SCP80 attempt per SIM step, each PoR'd
    assert.equal(status.attempts, 4);
    assert.equal(status.sms, 4);
    const sessions = await store.admin.sessions(ICCID);
    assert.ok(sessions.length >= 4 && sessions.every((s) => s.protocol?.startsWith('TLS')));
  });

  test('the admin server crashes while the card holds a session: the card resumes, nothing runs twice', async () => {
    const before = (await store.admin.scripts(ICCID)).length;
    // the first result the card posts kills the server (sockets destroyed, no answer), once
    let crashed = false;
    const started = Date.now();
    const rotation = await service.start({ sim: ICCID, via: 'scp81', deadlineMs: 60_000 });
    const crash = (async () => {
      for (;;) {
        const [first] = (await store.admin.scripts(ICCID)).slice(before);
        if (first?.state === 'sent') {
          await adminRig.admin.close();
          crashed = true;
          await adminRig.restartAdmin();
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    const roles = await deviceUntilEnd(rotation.id);
    await crash;
    const status = await service.waitFor(rotation.id);
    assert.ok(crashed);
    assert.equal(status.state, 'completed', JSON.stringify(status));
    assert.deepEqual(roles, ['pending']);
    const scripts = (await store.admin.scripts(ICCID)).slice(before);
    assert.equal(scripts.length, 4);
    assert.ok(scripts.every((s) => s.state === 'done'));
    // the card ran each script once: each sent once, the resumed session's POST carrying its result
    const keys = adminRig.sim
      .containers()
      .filter((c) => c.objectClass === 'privateKey' && (c.id[0] === 0x01 || c.id[0] === 0x11));
    assert.equal(keys.length, 1);
    assert.deepEqual(
      scripts.map((s) => s.sentCount),
      [1, 1, 1, 1],
    );
    // the broken session, then the card's resumption (X-Admin-Resume) that posted the first result
    const sessions = (await store.admin.sessions(ICCID)).filter((s) => s.startedAt >= started);
    const broken = sessions.findIndex((s) => s.outcome === 'broken');
    assert.ok(broken >= 0 && sessions[broken + 1]?.resumed, JSON.stringify(sessions));
  });
});

describe('PSK rotation over SCP81 (Type II)', () => {
  test('the new PSK written over PSK-TLS (never in an SMS), proven by a session, the old one retired', async () => {
    const sms = envelopes.length;
    const rotation = await service.start({
      sim: ICCID,
      via: 'scp81',
      credential: 'psk',
      currentIdentity: 'device-1',
      deadlineMs: 60_000,
    });
    const identity = rotation.newIdentity!;
    for (let i = 0; i < 500 && !(await selectorNow())?.psk?.pending; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const handed = pskStore.keys.get(identity)!;
    assert.equal(handed.length, 32);
    assert.ok(envelopes.slice(sms).every((e) => !bytesToHex(e).includes(bytesToHex(handed))));
    assert.equal(await service.pskSeen(identity), rotation.id);
    const status = await service.waitFor(rotation.id);
    assert.equal(status.state, 'completed', JSON.stringify(status));
    assert.deepEqual([...pskStore.keys.keys()], [identity]);
    assert.equal(Buffer.from((await selectorNow())!.psk!.active.identity).toString(), identity);
  });

  test('a SIM with no SCP81 PSK in the store: refused at start, nothing queued', async () => {
    await store.sims.add({ iccid: '8988211000000467293', msisdn: '4915112345679' });
    await store.sims.putKeySet('8988211000000467293', {
      kvn: 1,
      kicByte: 0x12,
      kidByte: 0x12,
      kic: new Uint8Array(16),
      kid: new Uint8Array(16),
    });
    await assert.rejects(
      service.start({ sim: '8988211000000467293', via: 'scp81' }),
      /has no SCP81 PSK in the store: rotate it over scp80/,
    );
    assert.deepEqual(await store.admin.scripts('8988211000000467293'), []);
  });
});
