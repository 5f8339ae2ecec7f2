// Network-initiated certificate rotation (docs/rotation.md): time, SMS and APDUs per rotation over SCP80
// only and over SCP81, in process (local SMSC, virtual SIM, BIP terminal, PSK-TLS admin server), with
// the card under the modem + SIM latency model: each APDU the card runs costs what modemSimLatency says
// (the card's time per instruction and AT+CSIM at 115200 baud), added to the measured time. Baseline
// in the same run: one SCP80 script (GET STATUS of the ISD) sent and answered. The terminal's idle
// STATUS polls are left out of the APDU counts. Beside them, the device-initiated renewal over EST
// (RFC 7030 §4.2.2, renewCertificate): the key generated and the CSR signed in the SIM, cacerts and
// simplereenroll over mutual TLS with the SIM's current key, the proof with the new one; its messages
// are the HTTPS exchanges, each on a new TLS connection (no SMS).
import { X509Certificate } from 'node:crypto';
import {
  byId,
  type CredentialSlot,
  createCsr,
  IoTSafe,
  MemoryTransport,
  modemSimLatency,
  renewCertificate,
} from '@iotsafe/device';
import { OtaServer, type OtaStore, SmppLink } from '@iotsafe/ota';
import { CertificateAuthority, pem, startEstServer } from '@iotsafe/pki';
import { type Profile, TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { CREDENTIALS, ICCID, type Rig, STORAGE_KEY, startRig } from '../packages/ota/test/rig.js';
import {
  firstCertificate,
  newService,
  rotationWorker,
  startAdminRig,
} from '../packages/ota/test/rotation-rig.js';
import { printTable } from './harness.js';

const ROTATIONS = Number(process.env.BENCH_ROTATIONS ?? 3);
const latency = modemSimLatency();

interface Tally {
  apdus: number;
  modelledMs: number;
}

async function setUp(via: 'scp80' | 'scp81') {
  const rig: Rig = await startRig();
  const store: OtaStore = await rig.openStore();
  const tally: Tally = { apdus: 0, modelledMs: 0 };
  const tap = (command: Uint8Array, response: Uint8Array) => {
    // the BIP terminal's idle STATUS polls (TS 102 221 §11.1.2, every 20 ms here) are not the rotation's
    if (command[1] === 0xf2) return;
    tally.apdus++;
    tally.modelledMs += latency(command, response);
  };
  const adminRig = await startAdminRig(rig, store, undefined, tap);
  const ca = await CertificateAuthority.create({ commonName: 'Bench CA' });
  const first = await firstCertificate(ca, adminRig.sim);
  const link = await SmppLink.connect({ host: '127.0.0.1', port: rig.network.port, ...CREDENTIALS });
  const server = new OtaServer(store, link, { worker: false, timeoutMs: 10_000 });
  const service = newService(store, STORAGE_KEY, { ca });
  const worker = rotationWorker(store, [server.scp80, service.kind(server.scp80)]);
  let serial: string | undefined = new X509Certificate(Buffer.from(first)).serialNumber;
  return {
    tally,
    server,
    async rotate() {
      const rotation = await service.start({
        sim: ICCID,
        via,
        deadlineMs: 60_000,
        ...(serial ? { currentSerial: serial } : {}),
      });
      serial = undefined;
      // the cloud's proof as soon as the certificate is written (the device's reconnect is not timed)
      for (;;) {
        const status = await service.status(rotation.id);
        if (status.state === 'awaiting-proof') {
          await service.certificateSeen((await service.rotations.get(rotation.id)).certificate!);
          break;
        }
        if (['completed', 'rolled-back', 'failed'].includes(status.state))
          throw new Error(JSON.stringify(status));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const status = await service.waitFor(rotation.id, 5);
      if (status.state !== 'completed') throw new Error(JSON.stringify(status));
      return status;
    },
    async close() {
      await worker.stop();
      await server.close();
      await link.close();
      await adminRig.stop();
      await store.close();
      await rig.stop();
    },
  };
}

async function measureVia(via: 'scp80' | 'scp81') {
  const rig = await setUp(via);
  try {
    // baseline: one SCP80 script to the ISD, sent and answered (GET STATUS)
    const baseStart = performance.now();
    const baseTally = { ...rig.tally };
    await rig.server.send({
      sim: ICCID,
      tar: '000000',
      script: Uint8Array.from(Buffer.from('80F28002024F00', 'hex')),
    });
    const baseline = {
      ms: performance.now() - baseStart + (rig.tally.modelledMs - baseTally.modelledMs),
      apdus: rig.tally.apdus - baseTally.apdus,
    };
    let ms = 0;
    let sms = 0;
    let apdus = 0;
    for (let i = 0; i < ROTATIONS; i++) {
      const before = { ...rig.tally };
      const started = performance.now();
      const status = await rig.rotate();
      ms += performance.now() - started + (rig.tally.modelledMs - before.modelledMs);
      sms += status.sms;
      apdus += rig.tally.apdus - before.apdus;
    }
    return { baseline, ms: ms / ROTATIONS, sms: sms / ROTATIONS, apdus: apdus / ROTATIONS };
  } finally {
    await rig.close();
  }
}

/** Type I with a second key (11, keyGeneration) and certificate file (12): where an EST renewal goes. */
const TWO_SLOTS: Profile = {
  ...TYPE1_PROFILE,
  description: 'Type I with a second credential slot (bench)',
  containers: [
    ...TYPE1_PROFILE.containers,
    { class: 'privateKey', id: '11', functions: ['sign', 'keyGeneration'], publicKeyId: '11' },
    { class: 'publicKey', id: '11', functions: ['verify'], access: ['read'] },
    { class: 'file', id: '12', usage: 'certificate' },
  ],
};

/** Device-initiated renewals over EST, alternating between the two slots, the card under the model. */
async function measureEst() {
  const tally: Tally = { apdus: 0, modelledMs: 0 };
  const ca = await CertificateAuthority.create({ commonName: 'Bench CA' });
  const identity = await ca.issueServer('est.bench');
  const server = await startEstServer({
    ca,
    tls: { key: identity.keyPem, cert: pem(identity.certificate, 'CERTIFICATE') },
  });
  const sim = VirtualSim.inMemory(TWO_SLOTS);
  const card = {
    transmit(command: Uint8Array) {
      const response = sim.card.transmit(command);
      tally.apdus++;
      tally.modelledMs += latency(command, response);
      return response;
    },
  };
  const iotsafe = await IoTSafe.connect(new MemoryTransport(card));
  try {
    // the first certificate, for key 01 (not measured)
    const { point } = await iotsafe.generateKeyPair(byId('01'));
    const csr = await createCsr(iotsafe, {
      key: byId('01'),
      publicKey: point,
      subject: { commonName: ICCID },
    });
    sim.writeFile(byId('02'), await ca.issue(csr));
    const endpoint = { url: server.url, ca: ca.certificatePem, servername: 'est.bench', timeoutMs: 10_000 };
    let slots: [CredentialSlot, CredentialSlot] = [
      { privateKey: byId('01'), certificate: byId('02') },
      { privateKey: byId('11'), certificate: byId('12') },
    ];
    let ms = 0;
    let messages = 0;
    let apdus = 0;
    for (let i = 0; i < ROTATIONS; i++) {
      // not timed: the next second, since renewCertificate takes a slot whose certificate is as new as
      // the current one (validFrom has whole seconds) for the credential in use and refuses it
      await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 5));
      const before = { ...tally };
      const started = performance.now();
      const result = await renewCertificate({
        iotsafe,
        endpoint,
        current: slots[0],
        next: slots[1],
        force: true,
        writeCertificate: (ref, der) => sim.writeFile(ref, der),
      });
      if (!result.renewed) throw new Error('the EST renewal did not renew');
      ms += performance.now() - started + (tally.modelledMs - before.modelledMs);
      messages += result.attempts;
      apdus += tally.apdus - before.apdus;
      slots = [slots[1], slots[0]];
    }
    return { ms: ms / ROTATIONS, messages: messages / ROTATIONS, apdus: apdus / ROTATIONS };
  } finally {
    await iotsafe.close();
    await server.close();
  }
}

export async function rotationBenchmarks(): Promise<void> {
  const scp80 = await measureVia('scp80');
  const scp81 = await measureVia('scp81');
  const est = await measureEst();
  const base = scp80.baseline.ms;
  printTable(
    `Certificate rotation and EST renewal (mean of ${ROTATIONS}; card under the modem + SIM latency model; ratio to one SCP80 script)`,
    [
      { name: 'baseline: one SCP80 script (GET STATUS)', value: base.toFixed(0), unit: 'ms', ratio: '1.00' },
      { name: 'baseline: its APDUs on the card', value: String(scp80.baseline.apdus), unit: 'APDUs' },
      {
        name: 'rotation over SCP80 only',
        value: scp80.ms.toFixed(0),
        unit: 'ms',
        ratio: (scp80.ms / base).toFixed(2),
      },
      { name: 'rotation over SCP80: SMS', value: scp80.sms.toFixed(1), unit: 'SMS' },
      { name: 'rotation over SCP80: APDUs on the card', value: scp80.apdus.toFixed(0), unit: 'APDUs' },
      {
        name: 'rotation over SCP81',
        value: scp81.ms.toFixed(0),
        unit: 'ms',
        ratio: (scp81.ms / base).toFixed(2),
      },
      { name: 'rotation over SCP81: SMS (triggers)', value: scp81.sms.toFixed(1), unit: 'SMS' },
      { name: 'rotation over SCP81: APDUs on the card', value: scp81.apdus.toFixed(0), unit: 'APDUs' },
      {
        name: 'renewal by the device over EST',
        value: est.ms.toFixed(0),
        unit: 'ms',
        ratio: (est.ms / base).toFixed(2),
      },
      { name: 'renewal over EST: HTTPS exchanges (0 SMS)', value: est.messages.toFixed(1), unit: 'msgs' },
      { name: 'renewal over EST: APDUs on the card', value: est.apdus.toFixed(0), unit: 'APDUs' },
    ],
  );
}
