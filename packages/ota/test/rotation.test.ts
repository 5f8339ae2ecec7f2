// Network-initiated rotation over SCP80 (docs/rotation.md) end to end on this machine: the operator's
// rotation job → SMPP → the test network → the virtual SIM; the CA issues for the key the SIM generated;
// the device picks the pending credential and the cloud's acceptance proves it; the old certificate
// is then revoked (OpenSSL's -crl_check agrees). Rollback when the cloud refuses the new certificate;
// a request for another key refused by the CA; a replayed rotation packet refused by the SIM's counter.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { byId, createCsr, IoTSafe, MemoryTransport, readCredentialSelector } from '@iotsafe/device';
import { type JobWorker, OtaServer, type RotationService, SmppLink } from '@iotsafe/ota';
import { CertificateAuthority } from '@iotsafe/pki';
import {
  bytesToHex,
  decodeResponsePacket,
  decodeSpi,
  hexToBytes,
  parseResponseApdu,
} from '@iotsafe/protocol';
import { peerAvailable } from '../../../test/helpers/peers.js';
import { opensslVerify } from '../../pki/test/csr-helpers.js';
import { CREDENTIALS, ICCID, KIC, KID, MSISDN, type Rig, STORAGE_KEY, startRig } from './rig.js';
import {
  type Cloud,
  deviceExchange,
  firstCertificate,
  MemoryPskStore,
  newService,
  rotationWorker,
  startCloud,
} from './rotation-rig.js';

const openssl = peerAvailable('openssl');

let rig: Rig;
let ca: CertificateAuthority;
let cloud: Cloud;
let service: RotationService;
let worker: JobWorker;
let close: () => Promise<void>;
let firstSerial: string;
let firstDer: Uint8Array;
const pskStore = new MemoryPskStore();
/** Every SMS-PP download the handset gave the SIM (for the replay test). */
const envelopes: Uint8Array[] = [];

before(async () => {
  rig = await startRig();
  const card = rig.sim.card;
  rig.network.attach(MSISDN, {
    transmit(command) {
      if (command[1] === 0xc2) envelopes.push(command.slice());
      return card.transmit(command);
    },
  });
  ca = await CertificateAuthority.create({ commonName: 'Operator Test CA' });
  firstDer = await firstCertificate(ca, rig.sim);
  firstSerial = new X509Certificate(Buffer.from(firstDer)).serialNumber;
  const store = await rig.openStore();
  const link = await SmppLink.connect({ host: '127.0.0.1', port: rig.network.port, ...CREDENTIALS });
  const server = new OtaServer(store, link, { worker: false, timeoutMs: 3000 });
  // the PSK slots: the profile's secret 10 is the PSK in use, 13 is free (11 and 12 hold other secrets)
  service = newService(store, STORAGE_KEY, { ca, pskStore, pskSlots: [{ secret: '10' }, { secret: '13' }] });
  worker = rotationWorker(store, [server.scp80, service.kind(server.scp80)]);
  cloud = await startCloud(ca, (certificate) => service.certificateSeen(certificate));
  close = async () => {
    await worker.stop();
    await server.close();
    await link.close();
    await store.close();
  };
});
after(async () => {
  await close();
  cloud.close();
  await rig.stop();
});

/** Waits until the SIM's selector names a pending certificate (the rotation's write step has landed). */
async function pendingWritten(): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const client = await IoTSafe.connect(new MemoryTransport(rig.sim.card));
    const selector = await readCredentialSelector(client);
    await client.close();
    if (selector?.certificate?.pending) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the rotation never wrote its pending certificate');
}

const activeCertificates = () =>
  rig.sim
    .containers()
    .filter((c) => c.objectClass === 'privateKey' && (c.id[0] === 0x01 || c.id[0] === 0x11));

describe('certificate rotation over SCP80', () => {
  test('the new key generated in the SIM, its certificate written beside the old, proven by the cloud, the old revoked', async () => {
    assert.match((await deviceExchange(rig.sim.card, ca, cloud.port)).reply, /hello CN=8988211000000467285/);
    const rotation = await service.start({ sim: ICCID, deadlineMs: 60_000, currentSerial: firstSerial });
    await pendingWritten();
    assert.equal(activeCertificates().length, 2, 'the new key beside the old one');
    const during = await deviceExchange(rig.sim.card, ca, cloud.port);
    assert.equal(during.role, 'pending');
    assert.equal(during.key, '11');
    const status = await service.waitFor(rotation.id);
    assert.equal(status.state, 'completed', JSON.stringify(status));
    assert.equal(status.decision, 'commit');
    assert.equal(status.oldSerial, firstSerial.toUpperCase());
    // the old key pair and certificate are gone; the selector names the new one only
    assert.deepEqual(
      activeCertificates().map((c) => c.id[0]),
      [0x11],
    );
    assert.ok(!rig.sim.containers().some((c) => c.objectClass === 'file' && c.id[0] === 0x02));
    const after = await deviceExchange(rig.sim.card, ca, cloud.port);
    assert.equal(after.role, 'active');
    assert.equal(after.key, '11');
    assert.equal(ca.status(firstSerial), 'revoked');
    assert.equal(ca.status(status.newSerial!), 'valid');
    // every step exactly once: one attempt per SCP80 step, each with its own counter
    const ledger = await service.list({ sim: ICCID });
    assert.equal(ledger[0]!.attempts, 4, 'generate, sign, write, finish');
    assert.ok(ledger[0]!.sms >= 4);
  });

  test('OpenSSL: the new certificate verifies with -crl_check, the revoked old one does not', {
    skip: openssl === true ? false : openssl,
  }, async () => {
    const [last] = await service.list({ sim: ICCID });
    const crl = await ca.crl();
    const record = await service.rotations.get(last!.id);
    assert.match(opensslVerify(ca.certificatePem, record.certificate!, crl), /: OK/);
    assert.match(opensslVerify(ca.certificatePem, firstDer, crl), /certificate revoked/);
  });

  test('the cloud refuses the new certificate: the device falls back, the rotation rolls back at its deadline', async () => {
    const [previous] = await service.list({ sim: ICCID });
    const rotation = await service.start({ sim: ICCID, deadlineMs: 2500 });
    await pendingWritten();
    const record = await service.rotations.get(rotation.id);
    cloud.denied.add(record.newSerial!);
    const during = await deviceExchange(rig.sim.card, ca, cloud.port);
    assert.equal(during.role, 'active', 'refused with the pending one, it fell back to the active one');
    assert.equal(during.refused, 1);
    assert.equal(during.key, '11');
    const status = await service.waitFor(rotation.id);
    assert.equal(status.state, 'rolled-back', JSON.stringify(status));
    assert.equal(ca.status(record.newSerial!), 'revoked');
    assert.equal(ca.status(previous!.newSerial!), 'valid', 'the credential in use stays');
    assert.deepEqual(
      activeCertificates().map((c) => c.id[0]),
      [0x11],
      'the new key container is deleted',
    );
    const again = await deviceExchange(rig.sim.card, ca, cloud.port);
    assert.equal(again.role, 'active');
    assert.equal(again.refused, 0);
  });

  test('a request signed by another key than the one the rotation generated is refused by the CA', async () => {
    const [last] = await service.list({ sim: ICCID });
    const generated = (await service.rotations.get(last!.id)).publicKey!;
    // a request the SIM signs with its key in use (11), well formed and self-signed: not the rotation's key
    const client = await IoTSafe.connect(new MemoryTransport(rig.sim.card));
    const csr = await createCsr(client, {
      key: byId('11'),
      publicKey: await client.readPublicKey(byId('11')),
      subject: { commonName: ICCID },
    }).finally(() => client.close());
    await assert.rejects(
      ca.issue(csr, { iccid: ICCID, expectedPublicKey: generated }),
      (error: Error) => error.name === 'CsrError' && /another key than the one generated/.test(error.message),
    );
  });

  test('the rotation packets replayed to the SIM are refused (counter low): nothing applied, no counter moved', () => {
    assert.ok(envelopes.length >= 8, 'the rotations went in several SMS');
    const containers = () =>
      JSON.stringify(rig.sim.containers().map((c) => [c.objectClass, bytesToHex(c.id)]));
    const before = containers();
    const counter = rig.sim.isd.keySets[0]!.otaCounter;
    const statuses: number[] = [];
    for (const envelope of envelopes) {
      const answer = parseResponseApdu(rig.sim.card.transmit(envelope));
      const data =
        answer.sw >> 8 === 0x61
          ? parseResponseApdu(rig.sim.card.transmit(Uint8Array.of(0x00, 0xc0, 0, 0, answer.sw & 0xff))).data
          : answer.data;
      if (data.length > 0)
        statuses.push(
          decodeResponsePacket(
            data,
            { spi: decodeSpi(hexToBytes('1619')), kic: 0x12, kid: 0x12 },
            { kic: KIC, kid: KID },
          ).status,
        );
    }
    assert.ok(statuses.length >= 8, `a PoR per replayed packet (${statuses.length})`);
    assert.ok(
      statuses.every((s) => s === 0x02),
      `PoR 02 counter low for each: ${statuses}`,
    );
    assert.equal(containers(), before);
    assert.equal(rig.sim.isd.keySets[0]!.otaCounter, counter);
  });
});

async function pskSelector() {
  const client = await IoTSafe.connect(new MemoryTransport(rig.sim.card));
  try {
    return (await readCredentialSelector(client))?.psk;
  } finally {
    await client.close();
  }
}

const secretValue = (id: number) => {
  const found = rig.sim.containers().find((c) => c.objectClass === 'secret' && c.id[0] === id);
  return found?.objectClass === 'secret' ? (found.value ?? new Uint8Array()) : undefined;
};

async function pendingPskWritten(): Promise<NonNullable<Awaited<ReturnType<typeof pskSelector>>>> {
  for (let i = 0; i < 500; i++) {
    const psk = await pskSelector();
    if (psk?.pending) return psk;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the rotation never wrote its pending PSK');
}

describe('PSK rotation over SCP80 (Type II)', () => {
  const oldPsk = hexToBytes('0102030405060708090A0B0C0D0E0F10');

  test('a new PSK handed to the cloud, written beside the old one, proven by a session, the old one retired', async () => {
    const rotation = await service.start({
      sim: ICCID,
      credential: 'psk',
      currentIdentity: 'device-1',
      deadlineMs: 60_000,
    });
    const identity = rotation.newIdentity!;
    assert.match(identity, new RegExp(`^${ICCID}-[0-9a-f]{8}$`));
    const psk = await pendingPskWritten();
    // the cloud has it before the device can use it; the SIM holds it beside the old one
    const handed = pskStore.keys.get(identity);
    assert.equal(handed?.length, 32);
    assert.deepEqual(secretValue(0x13), handed);
    assert.deepEqual(secretValue(0x10), oldPsk, 'the old PSK kept until the new one is proven');
    assert.equal(Buffer.from(psk.active.identity).toString(), 'device-1');
    assert.equal(Buffer.from(psk.pending!.identity).toString(), identity);
    assert.deepEqual([...psk.pending!.secret], [0x13]);
    // the new PSK travelled ciphered (SPI 1619): its bytes appear in no SMS the SIM received
    const hex = bytesToHex(handed!);
    assert.ok(envelopes.every((e) => !bytesToHex(e).includes(hex)));
    assert.equal(await service.pskSeen('device-1'), undefined, 'the old identity proves nothing');
    assert.equal(await service.pskSeen(identity), rotation.id);
    const status = await service.waitFor(rotation.id);
    assert.equal(status.state, 'completed', JSON.stringify(status));
    assert.equal(status.decision, 'commit');
    assert.equal(secretValue(0x10), undefined, 'the old secret deleted');
    assert.deepEqual(secretValue(0x13), handed);
    const after = await pskSelector();
    assert.equal(Buffer.from(after!.active.identity).toString(), identity);
    assert.equal(after!.pending, undefined);
    assert.deepEqual([...pskStore.keys.keys()], [identity]);
    // the operator's copy of the PSK is erased once the rotation has ended
    await assert.rejects(service.rotations.newPsk(await service.rotations.get(rotation.id)), /holds no PSK/);
    assert.equal(status.attempts, 2, 'write and finish');
  });

  test('not proven by the deadline: rolled back, the new secret deleted and withdrawn from the cloud', async () => {
    const [previous] = await service.list({ sim: ICCID });
    const kept = previous!.newIdentity!;
    const keptPsk = secretValue(0x13);
    const rotation = await service.start({ sim: ICCID, credential: 'psk', deadlineMs: 1500 });
    assert.equal(rotation.oldIdentity, kept, 'the identity in use comes from the rotation before');
    await pendingPskWritten();
    assert.ok(pskStore.keys.has(rotation.newIdentity!));
    const status = await service.waitFor(rotation.id);
    assert.equal(status.state, 'rolled-back', JSON.stringify(status));
    assert.equal(secretValue(0x10), undefined, 'the new secret (back in slot 10) deleted');
    assert.deepEqual(secretValue(0x13), keptPsk);
    assert.deepEqual([...pskStore.keys.keys()], [kept]);
    const after = await pskSelector();
    assert.equal(Buffer.from(after!.active.identity).toString(), kept);
    assert.equal(after!.pending, undefined);
  });
});
