// The rotation rig: the OTA rig's SIM with a first certificate from an operator CA (@iotsafe/pki), a
// cloud server (node:tls, mutual TLS 1.3, CRL checked) that reports each new certificate it accepts to
// the rotation service, a PSK cloud server over a PSK store, and the device: it reads the SIM's
// credential selector and connects with the pending credential first, then the active one.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import {
  byId,
  IoTSafe,
  IoTSafeKeyOps,
  MemoryTransport,
  readCredentialSelector,
  runBipTerminal,
  type Transport,
  toPem,
  withSelectedCredential,
} from '@iotsafe/device';
import {
  AdminServer,
  type JobKind,
  JobWorker,
  type OtaStore,
  type PskStore,
  RotationService,
  type RotationServiceOptions,
} from '@iotsafe/ota';
import type { CertificateAuthority } from '@iotsafe/pki';
import { bytesToHex } from '@iotsafe/protocol';
import { scp80KeySet, VirtualSim } from '@iotsafe/sim';
import { connect as connectTls } from '@iotsafe/tls';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';
import { ICCID, KIC, KID, MSISDN, type Rig } from './rig.js';

export const DEFAULT_CREDENTIAL = { key: Uint8Array.of(0x01), certificate: Uint8Array.of(0x02) };

/** Issues the SIM's first certificate for its key 01 (CSR signed in the SIM) and writes it to file 02. */
export async function firstCertificate(
  ca: CertificateAuthority,
  sim: {
    card: { transmit(c: Uint8Array): Uint8Array };
    writeFile(ref: { id: Uint8Array }, content: Uint8Array): void;
  },
): Promise<Uint8Array> {
  const { createCsr } = await import('@iotsafe/device');
  const client = await IoTSafe.connect(new MemoryTransport(sim.card));
  try {
    const publicKey = await client.readPublicKey(byId('01'));
    const csr = await createCsr(client, { key: byId('01'), publicKey, subject: { commonName: ICCID } });
    const certificate = await ca.issue(csr, { iccid: ICCID });
    sim.writeFile({ id: Uint8Array.of(0x02) }, certificate);
    return certificate;
  } finally {
    await client.close();
  }
}

export interface Cloud {
  port: number;
  /** Serials of the client certificates accepted, in order. */
  accepted: string[];
  /** Serials refused by policy (the deny list) after the handshake. */
  denied: Set<string>;
  refreshCrl(): Promise<void>;
  close(): void;
}

/** The cloud side: trusts the CA, checks its CRL, and proves rotations through `seen`. */
export async function startCloud(
  ca: CertificateAuthority,
  seen: (certificate: Uint8Array) => Promise<unknown>,
): Promise<Cloud> {
  const server = await ca.issueServer('localhost', 1);
  const context = async () => ({
    key: server.keyPem,
    cert: toPem(server.certificate, 'CERTIFICATE'),
    ca: ca.certificatePem,
    crl: toPem(await ca.crl(), 'X509 CRL'),
  });
  const accepted: string[] = [];
  const denied = new Set<string>();
  const tlsServer = tls.createServer(
    { ...(await context()), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' },
    (socket) => {
      socket.on('error', () => {});
      const peer = socket.getPeerX509Certificate();
      const serial = peer?.serialNumber.toUpperCase() ?? '';
      if (!peer || denied.has(serial)) {
        socket.destroy();
        return;
      }
      accepted.push(serial);
      socket.once('data', async (d) => {
        await seen(new Uint8Array(peer.raw));
        socket.end(`hello ${peer.subject.replace(/\n/g, ', ')}, you sent "${d}"`);
      });
    },
  );
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  return {
    port: (tlsServer.address() as AddressInfo).port,
    accepted,
    denied,
    refreshCrl: async () => tlsServer.setSecureContext(await context()),
    close: () => tlsServer.close(),
  };
}

/** The device: one exchange with the cloud, with the credential the selector picks. */
export function deviceExchange(
  card: { transmit(c: Uint8Array): Uint8Array },
  ca: { certificatePem: string },
  port: number,
): Promise<DeviceExchange> {
  return deviceExchangeOver(new MemoryTransport(card), ca, port);
}

export interface DeviceExchange {
  role: string;
  key: string;
  reply: string;
  refused: number;
}

/** The same over any transport to the card (a device process reaching the SIM over TCP). */
export async function deviceExchangeOver(
  transport: Transport,
  ca: { certificatePem: string },
  port: number,
): Promise<DeviceExchange> {
  const client = await IoTSafe.connect(transport);
  try {
    const selector = await readCredentialSelector(client);
    const picked = await withSelectedCredential(
      selector?.certificate,
      DEFAULT_CREDENTIAL,
      async (credential) => {
        const keyOps = await IoTSafeKeyOps.create(client, {
          privateKey: byId(credential.key),
          certificateChain: [byId(credential.certificate)],
          offload: 'sign',
        });
        const socket = connectTls({
          host: '127.0.0.1',
          servername: 'localhost',
          port,
          ca: ca.certificatePem,
          keyOps,
        });
        try {
          await once(socket, 'secureConnect');
          socket.write('telemetry 21.5C');
          const [reply] = (await Promise.race([
            once(socket, 'data'),
            once(socket, 'close').then(() => {
              throw new Error('the server closed the connection');
            }),
          ])) as [Buffer];
          return String(reply);
        } finally {
          socket.destroy();
        }
      },
    );
    return {
      role: picked.used.role,
      key: bytesToHex(picked.used.credential.key),
      reply: picked.result,
      refused: picked.refused.length,
    };
  } finally {
    await client.close();
  }
}

/** A PSK store in memory: the cloud's side of PSK rotation. */
export class MemoryPskStore implements PskStore {
  readonly keys = new Map<string, Uint8Array>();
  put(identity: string, psk: Uint8Array): void {
    this.keys.set(identity, psk.slice());
  }
  remove(identity: string): void {
    this.keys.delete(identity);
  }
}

/** A worker that runs SCP80 scripts and rotations (the OtaServer's own worker left off). */
export function rotationWorker(
  store: OtaStore,
  kinds: readonly JobKind[],
  options: { leaseMs?: number } = {},
): JobWorker {
  const worker = new JobWorker(store, kinds, { idleMs: 10, sweepMs: 50, leaseMs: options.leaseMs ?? 2000 });
  worker.start();
  return worker;
}

export const newService = (store: OtaStore, storageKey: Uint8Array, options: RotationServiceOptions) =>
  new RotationService(store, storageKey, { pollMs: 20, ...options });

/** TEST keys only: the SCP81 TLS-PSK of the admin rig's SIM and its identity. */
export const ADMIN_PSK = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
export const ADMIN_IDENTITY = 'rotation-sim';

export interface AdminRig {
  sim: VirtualSim;
  admin: AdminServer;
  /** Restarts the admin server on the same port (after `admin.close()`: a crash as the card sees it). */
  restartAdmin(): Promise<AdminServer>;
  stop(): Promise<void>;
}

/**
 * The SCP81 half of a rotation rig: the OTA rig's SIM made with an SCP81 key set whose stored admin
 * parameters name `admin`'s port (so the bare trigger `81 00` leads there), its BIP terminal running the
 * sessions, and the SIM's PSK in the store. The card retries a broken session (X-Admin-Resume).
 */
export async function startAdminRig(
  rig: Rig,
  store: OtaStore,
  port?: number,
  /** Told of every APDU the card runs (the handset's and the BIP terminal's), e.g. for a benchmark. */
  tap?: (command: Uint8Array, response: Uint8Array) => void,
): Promise<AdminRig> {
  let admin = await AdminServer.start(store, port === undefined ? {} : { port });
  const bound = admin.port;
  const sim = VirtualSim.inMemory(TEST_PROFILE, {
    scp81: {
      keys: { psk: ADMIN_PSK },
      parameters: {
        address: '127.0.0.1',
        port: bound,
        host: 'admin.rotation.test',
        agentId: `//se-id/iccid/${ICCID}`,
        uri: `/ram?sim=${ICCID}`,
        pskIdentity: ADMIN_IDENTITY,
        retry: { counter: 5, delaySeconds: 1 },
      },
      timeouts: { handshakeMs: 10_000, responseMs: 10_000, terminalResponseMs: 10_000 },
    },
  });
  sim.isd.keySets.push(scp80KeySet(1, { kic: KIC, kid: KID }));
  const card = tap
    ? {
        transmit(command: Uint8Array) {
          const response = sim.card.transmit(command);
          tap(command, response);
          return response;
        },
      }
    : sim.card;
  rig.network.attach(MSISDN, card);
  const terminal = await runBipTerminal(new MemoryTransport(card), {
    wake: (notify) => sim.card.toolkit.onPending(notify),
    pollIntervalMs: 20,
  });
  await store.sims.add({ iccid: ICCID, msisdn: MSISDN, pskIdentity: ADMIN_IDENTITY });
  await store.sims.putPsk(ICCID, ADMIN_PSK);
  await admin.reloadKeys();
  const rigOf: AdminRig = {
    sim,
    admin,
    async restartAdmin() {
      admin = await AdminServer.start(store, { port: bound });
      rigOf.admin = admin;
      return admin;
    },
    async stop() {
      await terminal.stop();
      await admin.close();
    },
  };
  return rigOf;
}
