// The last chapter: the credential lifecycle (docs/rotation.md). The operator rotates the device's
// certificate over the air (SCP80 through the local SMSC): a new key pair generated in the SIM beside
// the old one, a CSR signed in the SIM, a certificate from the operator's CA written back as pending;
// the device reconnects with it, which the cloud reports (the proof), and only then is the old key
// deleted and its certificate revoked — the cloud, checking the CRL, refuses it from then on. Then the
// Type II SIM's PSK is rotated the same way (the new PSK ciphered in the SMS, handed to the cloud's PSK
// store first) and a TLS-PSK session runs on the new one while the old identity is refused.
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import {
  byId,
  GlobalPlatform,
  IoTSafe,
  IoTSafeKeyOps,
  MemoryTransport,
  readCredentialSelector,
  withSelectedCredential,
} from '@iotsafe/device';
import {
  FINAL_ROTATION_STATES,
  JobWorker,
  OtaServer,
  OtaStore,
  RotationService,
  type RotationStatus,
  SmppLink,
  TestNetwork,
} from '@iotsafe/ota';
import type { CertificateAuthority } from '@iotsafe/pki';
import { bytesToHex, type StaticKeys, utf8 } from '@iotsafe/protocol';
import type { VirtualSim } from '@iotsafe/sim';
import { connect as connectTls, type KeyOps, SoftwareKeyOps, TlsError } from '@iotsafe/tls';
import { opensslPresent, startOpensslCloud } from './openssl-cloud.js';
import type { Report } from './report.js';
import { startCloud } from './tls.js';

const ICCID = '89000123456789012341';
const MSISDN = '4917000001';
const PSK_ICCID = '89000123456789012358';
const PSK_MSISDN = '4917000002';
const aes = () => new Uint8Array(randomBytes(16));

type Card = { transmit(command: Uint8Array): Uint8Array };

/** One exchange with the cloud over `keyOps`: the server's reply, or why the connection was refused. */
async function exchange(
  port: number,
  ca: CertificateAuthority,
  keyOps: KeyOps,
  message = 'telemetry 22.0C',
): Promise<string> {
  const socket = connectTls({
    host: '127.0.0.1',
    servername: 'localhost',
    port,
    ca: ca.certificatePem,
    keyOps,
  });
  try {
    const failed = new Promise<never>((_, reject) => {
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('the server closed the connection')));
    });
    await Promise.race([once(socket, 'secureConnect'), failed]);
    socket.write(message);
    const [reply] = (await Promise.race([once(socket, 'data'), failed])) as [Buffer];
    return String(reply).trim();
  } finally {
    socket.destroy();
  }
}

/** The device: it connects with the credential its SIM's selector names (pending first). */
async function deviceConnects(card: Card, ca: CertificateAuthority, port: number, message?: string) {
  const client = await IoTSafe.connect(new MemoryTransport(card));
  try {
    const selector = await readCredentialSelector(client);
    const picked = await withSelectedCredential(
      selector?.certificate,
      { key: Uint8Array.of(0x01), certificate: Uint8Array.of(0x02) },
      async (credential) =>
        exchange(
          port,
          ca,
          await IoTSafeKeyOps.create(client, {
            privateKey: byId(credential.key),
            certificateChain: [byId(credential.certificate)],
            offload: 'sign',
          }),
          message,
        ),
    );
    return { role: picked.used.role, key: bytesToHex(picked.used.credential.key), reply: picked.result };
  } finally {
    await client.close();
  }
}

/** Runs the rotation's job until it ends, the device reconnecting as soon as a pending credential is written. */
async function untilEnd(
  service: RotationService,
  id: string,
  device: (pending: boolean) => Promise<void>,
): Promise<RotationStatus> {
  let proved = false;
  for (;;) {
    const status = await service.status(id);
    if (FINAL_ROTATION_STATES.includes(status.state)) return status;
    if (status.state === 'awaiting-proof' && !proved) {
      await device(true);
      proved = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A client presenting the revoked certificate with a key of its own, to a cloud that checks the CRL:
 * openssl s_server (the CRL checked in the handshake) when openssl is here — the device with key 11
 * accepted, the old certificate refused with certificate_revoked (RFC 8446 §6.2, alert 44) — else the
 * chapter's Node server (which refuses it after the handshake: the failed signature is what shows).
 */
async function refuseOldCertificate(
  ca: CertificateAuthority,
  certificate: Uint8Array,
  base: string,
  card: Card,
): Promise<{ by: string; reason: string; line: string }> {
  const impostor = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keyOps = new SoftwareKeyOps({
    certificateChain: [certificate],
    privateKeyPem: impostor.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  });
  const refused = (port: number, message?: string) =>
    exchange(port, ca, keyOps, message).then(
      () => {
        throw new Error('the cloud accepted the revoked certificate');
      },
      (error: Error) => error,
    );
  if (!opensslPresent()) {
    const cloud = await startCloud(ca, { crl: () => ca.crl() });
    try {
      const error = await refused(cloud.port);
      return {
        by: 'node',
        reason: error.message,
        line: `a client presenting the old certificate is refused by Node's server (openssl not found; Node checks the CRL after the handshake: ${error.message})`,
      };
    } finally {
      cloud.close();
    }
  }
  const cloud = await startOpensslCloud(ca, base);
  try {
    const device = await deviceConnects(card, ca, cloud.port, 'telemetry 22.0C\n');
    if (device.key !== '11') throw new Error('the device does not use the new credential');
    const error = await refused(cloud.port, 'telemetry 22.0C\n');
    if (!(error instanceof TlsError) || error.alert !== 'certificate_revoked')
      throw new Error(`the revoked certificate was not refused as revoked: ${error.message}`);
    return {
      by: 'openssl s_server',
      reason: `certificate_revoked (alert ${error.alertCode})`,
      line: `openssl s_server with the CRL (-crl_check, -verify_return_error): the device with key 11 accepted (reply "${device.reply}"); a client presenting the old certificate refused with certificate_revoked (alert ${error.alertCode}): ${error.message}`,
    };
  } finally {
    await cloud.close();
  }
}

export async function rotateCredentials(
  report: Report,
  base: string,
  storageKey: Uint8Array,
  factory: { sim: VirtualSim; ca: CertificateAuthority; certificate: Uint8Array },
  typeTwo: { sim: VirtualSim; identity: string; psk: Uint8Array },
  isdKeys: StaticKeys,
) {
  report.chapter(
    'Credential lifecycle: the certificate and the PSK rotated over the air, the old ones retired',
  );
  const started = performance.now();
  const at = () => `${Math.round(performance.now() - started)} ms`;
  const account = { systemId: 'iotsafe', password: randomBytes(4).toString('hex') };
  const ca = factory.ca;
  const cleanup: (() => Promise<void> | void)[] = [];
  try {
    // the Type II SIM gets its SCP80 key set at the factory (PUT KEY over SCP03), like the Type I one
    const typeTwoScp80 = { kic: aes(), kid: aes(), kik: aes() };
    const gp = await GlobalPlatform.open(new MemoryTransport(typeTwo.sim.card), isdKeys, {
      securityLevel: 0x33,
    });
    await gp.putKeySet(0x01, { enc: typeTwoScp80.kic, mac: typeTwoScp80.kid, dek: typeTwoScp80.kik });
    await gp.close();

    const network = await TestNetwork.start({ ...account, port: 0 });
    cleanup.unshift(() => network.stop());
    network.attach(MSISDN, factory.sim.card);
    network.attach(PSK_MSISDN, typeTwo.sim.card);
    // the OTA chapter's key store: it holds the Type I SIM's key sets and their counters
    const store = await OtaStore.open(join(base, 'ota.db'), storageKey);
    cleanup.unshift(() => store.close());
    await store.sims.add({ iccid: PSK_ICCID, msisdn: PSK_MSISDN });
    await store.sims.putKeySet(PSK_ICCID, { kvn: 1, kicByte: 0x12, kidByte: 0x12, ...typeTwoScp80 });

    // the cloud: mutual TLS 1.3 trusting the CA, the CRL checked; each client it accepts proves a rotation
    let service: RotationService | undefined;
    const cloud = await startCloud(ca, {
      crl: () => ca.crl(),
      onClient: async (certificate) => {
        await service?.certificateSeen(certificate);
      },
    });
    cleanup.unshift(() => cloud.close());
    // the cloud's PSK store (what the operator hands PSKs to) and its TLS-PSK server
    const pskStore = new Map<string, Uint8Array>([[typeTwo.identity, typeTwo.psk]]);
    const identities = new WeakMap<tls.TLSSocket, string>();
    const pskServer = tls.createServer(
      {
        minVersion: 'TLSv1.3',
        ciphers: 'TLS_AES_128_GCM_SHA256',
        pskCallback: (socket: tls.TLSSocket, identity: string) => {
          const psk = pskStore.get(identity);
          if (psk) identities.set(socket, identity);
          return psk ? Buffer.from(psk) : null;
        },
      } as tls.TlsOptions,
      (socket) => {
        socket.on('error', () => {});
        const identity = identities.get(socket);
        socket.once('data', async (d) => {
          if (identity) await service?.pskSeen(identity);
          socket.end(`hello ${identity ?? 'PSK peer'}, you sent "${d}"`);
        });
      },
    );
    await new Promise<void>((resolve) => pskServer.listen(0, '127.0.0.1', resolve));
    cleanup.unshift(() => new Promise<void>((resolve) => pskServer.close(() => resolve())));
    const pskPort = (pskServer.address() as AddressInfo).port;

    const link = await SmppLink.connect({ host: '127.0.0.1', port: network.port, ...account });
    cleanup.unshift(() => link.close());
    const server = new OtaServer(store, link, { timeoutMs: 5000, worker: false });
    cleanup.unshift(() => server.close());
    service = new RotationService(store, storageKey, {
      ca,
      pskStore: {
        put: (identity, psk) => void pskStore.set(identity, psk.slice()),
        remove: (identity) => void pskStore.delete(identity),
      },
      pskSlots: [{ secret: '01' }, { secret: '02' }],
      pollMs: 20,
    });
    const worker = new JobWorker(store, [server.scp80, service.kind(server.scp80)], { idleMs: 10 });
    worker.start();
    cleanup.unshift(() => worker.stop());

    // --- the certificate
    const oldSerial = new X509Certificate(Buffer.from(factory.certificate)).serialNumber.toUpperCase();
    const before = await deviceConnects(factory.sim.card, ca, cloud.port);
    report.line(`${at()}: the device connects with key ${before.key}, certificate ${oldSerial}: accepted`);
    const rotation = await service.start({
      sim: ICCID,
      deadlineMs: 60_000,
      currentSerial: oldSerial,
      porTimeoutMs: 5000,
    });
    let during: Awaited<ReturnType<typeof deviceConnects>> | undefined;
    const certificate = await untilEnd(service, rotation.id, async () => {
      during = await deviceConnects(factory.sim.card, ca, cloud.port);
    });
    if (certificate.state !== 'completed' || during?.role !== 'pending')
      throw new Error(`the certificate rotation did not complete: ${JSON.stringify(certificate)}`);
    report.line(
      `${at()}: over SCP80 (${certificate.sms} SMS): key pair 11 generated in the SIM, CSR signed in the SIM, certificate ${certificate.newSerial} issued and written as pending`,
    );
    report.line(
      `the device reconnected with the pending key ${during.key}: the cloud accepted it, the rotation committed`,
    );
    await cloud.refreshCrl();
    const afterRotation = await deviceConnects(factory.sim.card, ca, cloud.port);
    if (afterRotation.role !== 'active' || afterRotation.key !== '11')
      throw new Error('the device does not use the new credential');
    if (ca.status(oldSerial) !== 'revoked') throw new Error('the old certificate is not revoked');
    // the old key is gone from the SIM; a client presenting the retired certificate (a copy, with any
    // other key) is refused: by openssl s_server, which checks the CRL in the handshake, with
    // certificate_revoked; without openssl, by Node's server, whose check comes after the handshake
    const refusal = await refuseOldCertificate(ca, factory.certificate, base, factory.sim.card);
    report.line(
      `${at()}: the old key deleted from the SIM and ${oldSerial} revoked; the device connects with key 11 (accepted)`,
    );
    report.line(refusal.line);

    // --- the PSK
    const pskRotation = await service.start({
      sim: PSK_ICCID,
      credential: 'psk',
      currentIdentity: typeTwo.identity,
      deadlineMs: 60_000,
      porTimeoutMs: 5000,
    });
    const pskSession = async () => {
      const client = await IoTSafe.connect(new MemoryTransport(typeTwo.sim.card));
      try {
        const selector = await readCredentialSelector(client);
        const picked = await withSelectedCredential(
          selector?.psk,
          { secret: Uint8Array.of(0x01), identity: utf8(typeTwo.identity) },
          async (credential) =>
            exchange(
              pskPort,
              ca,
              await IoTSafeKeyOps.create(client, {
                offload: 'sign',
                psk: { identity: credential.identity, secret: byId(credential.secret) },
              }),
            ),
        );
        return {
          role: picked.used.role,
          identity: Buffer.from(picked.used.credential.identity).toString(),
          reply: picked.result,
        };
      } finally {
        await client.close();
      }
    };
    let pskDuring: Awaited<ReturnType<typeof pskSession>> | undefined;
    const psk = await untilEnd(service, pskRotation.id, async () => {
      pskDuring = await pskSession();
    });
    if (psk.state !== 'completed' || pskDuring?.role !== 'pending')
      throw new Error(`the PSK rotation did not complete: ${JSON.stringify(psk)}`);
    const pskAfter = await pskSession();
    const oldRefused = await exchange(
      pskPort,
      ca,
      new SoftwareKeyOps({ psk: { identity: utf8(typeTwo.identity), key: typeTwo.psk } }),
    ).then(
      () => false,
      () => true,
    );
    if (pskAfter.identity !== psk.newIdentity || !oldRefused)
      throw new Error('the PSK session does not run on the new PSK only');
    report.line(
      `${at()}: the Type II SIM's PSK rotated over SCP80 (${psk.sms} SMS, ciphered): ${typeTwo.identity} → ${psk.newIdentity}; TLS 1.3 PSK on the new one: ${pskAfter.reply}; the old identity refused`,
    );
    const result = {
      certificate: {
        via: certificate.via,
        state: certificate.state,
        oldSerial,
        newSerial: certificate.newSerial!,
        sms: certificate.sms,
        provedBy: during.role,
        oldCertificate: 'refused',
        refusal: `${refusal.by}: ${refusal.reason}`,
      },
      psk: {
        via: psk.via,
        state: psk.state,
        oldIdentity: typeTwo.identity,
        newIdentity: psk.newIdentity!,
        sms: psk.sms,
        reply: pskAfter.reply,
        oldIdentityRefused: oldRefused,
      },
      milliseconds: Math.round(performance.now() - started),
    };
    report.set('rotation', result);
    return result;
  } finally {
    for (const step of cleanup) await step();
  }
}
