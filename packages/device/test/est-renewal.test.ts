// Device-initiated renewal over EST against the pki package's server: the key generated in the SIM's
// second container, the CSR signed in the SIM, simplereenroll over our TLS with the current SIM
// credential, the new certificate proven by mutual TLS before it is written; the policy (2/3 of the
// validity by default), refusals without retries, bounded retries, and a failed proof that changes nothing.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  activeCredential,
  byId,
  type CredentialSlot,
  createCsr,
  EstError,
  IoTSafe,
  MemoryTransport,
  renewalDueAt,
  renewCertificate,
} from '@iotsafe/device';
import { CertificateAuthority, type EstServer, pem, startEstServer } from '@iotsafe/pki';
import { type Profile, TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { freePort } from '../../../test/helpers/peers.js';

/** Type I with a second credential slot: key 11 (and its public half), certificate file 12. */
const TWO_SLOTS: Profile = {
  ...TYPE1_PROFILE,
  description: 'Type I with a second key and certificate for renewals (test)',
  containers: [
    ...TYPE1_PROFILE.containers,
    {
      class: 'privateKey',
      id: '11',
      label: 'device-key-next',
      functions: ['sign', 'keyGeneration'],
      publicKeyId: '11',
    },
    {
      class: 'publicKey',
      id: '11',
      label: 'device-key-next-public',
      functions: ['verify'],
      access: ['read'],
    },
    { class: 'file', id: '12', label: 'device-certificate-next', usage: 'certificate' },
  ],
};
const CURRENT: CredentialSlot = { privateKey: byId('01'), certificate: byId('02') };
const NEXT: CredentialSlot = { privateKey: byId('11'), certificate: byId('12') };
const DAY = 86_400_000;

describe('EST renewal from the SIM', () => {
  let ca: CertificateAuthority;
  let server: EstServer;
  let afterEnroll: () => void = () => {};
  before(async () => {
    ca = await CertificateAuthority.create({ commonName: 'Operator Test CA' });
    const credential = await ca.issueServer('est.test');
    server = await startEstServer({
      ca,
      tls: { key: credential.keyPem, cert: pem(credential.certificate, 'CERTIFICATE') },
      log: (line) => {
        if (line.startsWith('POST /.well-known/est/simplereenroll 200')) afterEnroll();
      },
    });
  });
  after(() => server.close());

  /** A SIM whose key 01 the CA certified for `days` (file 02), and a client of it. */
  async function provisioned(days = 3) {
    const sim = VirtualSim.inMemory(TWO_SLOTS);
    const iotsafe = await IoTSafe.connect(new MemoryTransport(sim.card));
    const { point } = await iotsafe.generateKeyPair(byId('01'));
    const csr = await createCsr(iotsafe, {
      key: byId('01'),
      publicKey: point,
      subject: { commonName: '8944000000000000074' },
    });
    const certificate = await ca.issue(csr, { days });
    sim.writeFile(byId('02'), certificate);
    const endpoint = { url: server.url, ca: ca.certificatePem, servername: 'est.test', timeoutMs: 10_000 };
    return { sim, iotsafe, certificate: new X509Certificate(Buffer.from(certificate)), endpoint };
  }
  const fileOf = (sim: VirtualSim, id: number) => {
    const file = sim.containers().find((c) => c.objectClass === 'file' && c.id[0] === id);
    return file?.objectClass === 'file' ? (file.content ?? new Uint8Array(0)) : undefined;
  };

  test('not due before two thirds of the validity; renewed after: the new key in slot 11, proven, then written to file 12', async () => {
    const { sim, iotsafe, certificate, endpoint } = await provisioned(3);
    const from = Date.parse(certificate.validFrom);
    const base = {
      iotsafe,
      endpoint,
      current: CURRENT,
      next: NEXT,
      writeCertificate: (ref: { id: Uint8Array } | { label: string }, der: Uint8Array) =>
        sim.writeFile(ref, der),
    };
    const early = await renewCertificate({ ...base, now: () => new Date(from + 1.9 * DAY) });
    assert.equal(early.renewed, false);
    assert.equal(early.attempts, 0);
    assert.equal(early.dueAt.getTime(), renewalDueAt(certificate).getTime());
    assert.equal(fileOf(sim, 0x12)?.length, 0);

    const result = await renewCertificate({ ...base, now: () => new Date(from + 2.1 * DAY) });
    assert.equal(result.renewed, true);
    assert.deepEqual(result.active, NEXT);
    const renewed = new X509Certificate(Buffer.from(fileOf(sim, 0x12)!));
    assert.equal(renewed.subject, certificate.subject, 'the subject is kept (RFC 7030 §4.2.2)');
    assert.ok(renewed.verify(new X509Certificate(Buffer.from(ca.certificate)).publicKey));
    assert.notEqual(renewed.serialNumber, certificate.serialNumber);
    const newPoint = await iotsafe.readPublicKey(byId('11'));
    assert.ok(
      renewed.publicKey.export({ format: 'der', type: 'spki' }).subarray(-65).equals(Buffer.from(newPoint)),
    );
    assert.equal(result.attempts, 3, 'cacerts, simplereenroll, the proof');
    assert.deepEqual(await activeCredential(iotsafe, [CURRENT, NEXT]), NEXT);
    assert.ok(
      new X509Certificate(Buffer.from(fileOf(sim, 0x02)!)).serialNumber === certificate.serialNumber,
      'the old one is kept',
    );
    // the policy is configurable
    assert.equal(
      renewalDueAt(certificate, { fraction: 0.5 }).getTime(),
      from + (Date.parse(certificate.validTo) - from) / 2,
    );
    assert.equal(
      renewalDueAt(certificate, { beforeExpiryMs: DAY }).getTime(),
      Date.parse(certificate.validTo) - DAY,
    );
  });

  test('a new certificate the server does not accept: nothing written, the current credential stays active', async () => {
    const { sim, iotsafe, endpoint } = await provisioned();
    afterEnroll = () => {
      const last = ca.issued.at(-1)!;
      ca.revoke(last.serial, 'unspecified'); // the operator withdraws it before the device proves it
    };
    try {
      await assert.rejects(
        renewCertificate({
          iotsafe,
          endpoint,
          current: CURRENT,
          next: NEXT,
          force: true,
          writeCertificate: (r, d) => sim.writeFile(r, d),
        }),
        (e: unknown) => e instanceof EstError && e.kind === 'proof' && /current one stays/.test(e.message),
      );
    } finally {
      afterEnroll = () => {};
    }
    assert.equal(fileOf(sim, 0x12)?.length, 0, 'nothing written');
    assert.deepEqual(await activeCredential(iotsafe, [CURRENT, NEXT]), CURRENT);
  });

  test('a revoked current credential is refused at once, with the reason; no retries', async () => {
    const { sim, iotsafe, certificate, endpoint } = await provisioned();
    ca.revoke(certificate.serialNumber, 'keyCompromise');
    await assert.rejects(
      renewCertificate({
        iotsafe,
        endpoint,
        current: CURRENT,
        next: NEXT,
        force: true,
        retry: { attempts: 3, delayMs: 10 },
        writeCertificate: (r, d) => sim.writeFile(r, d),
      }),
      (e: unknown) =>
        e instanceof EstError &&
        e.kind === 'refused' &&
        e.status === 403 &&
        e.attempts === 1 &&
        /revoked/.test(e.message),
    );
    assert.equal(fileOf(sim, 0x12)?.length, 0);
  });

  test('an unreachable server: retried as the policy says, then a transport EstError', async () => {
    const { sim, iotsafe } = await provisioned();
    const endpoint = {
      url: `https://127.0.0.1:${await freePort()}/`,
      ca: ca.certificatePem,
      servername: 'est.test',
      timeoutMs: 2000,
    };
    await assert.rejects(
      renewCertificate({
        iotsafe,
        endpoint,
        current: CURRENT,
        next: NEXT,
        force: true,
        retry: { attempts: 3, delayMs: 10 },
        writeCertificate: (r, d) => sim.writeFile(r, d),
      }),
      (e: unknown) => e instanceof EstError && e.kind === 'transport' && e.attempts === 3,
    );
    await assert.rejects(
      renewCertificate({
        iotsafe,
        endpoint: { ...endpoint, url: 'http://127.0.0.1/' },
        current: CURRENT,
        next: NEXT,
        force: true,
        retry: { attempts: 1 },
        writeCertificate: () => {},
      }),
      /https:\/\/ only/,
    );
  });
});
