// Chapter 1, the factory: a blank SIM whose ISD holds keys known to the issuer is personalised over
// SCP03 (GPCS §11.11 STORE DATA, docs/perso-format.md): containers created, a key pair generated in the
// SIM, a CSR signed in the SIM, the certificate issued by the CA and written back with the CA's, and an
// SCP80 key set loaded by PUT KEY (GP Amd D §7.2) for the operator's OTA server, and what the SIM needs
// for SCP81 (GP Amd B): a TLS-PSK key set by PUT KEY and the ISD's HTTP administration parameters by
// STORE DATA to the ISD (docs/scp81.md, "Personalising an ISD for SCP81"); the applet's personalisation
// locked, open only to the issuer's channel (docs/perso-format.md).
import { randomBytes, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { byId, createCsr, GlobalPlatform, IoTSafe, MemoryTransport, toPem } from '@iotsafe/device';
import { CertificateAuthority } from '@iotsafe/pki';
import {
  bytesToHex,
  IOTSAFE_AID,
  KEY_TYPE_TLS_PSK,
  type PersoOperation,
  type StaticKeys,
} from '@iotsafe/protocol';
import {
  BLANK_PROFILE,
  encodeStoredParameters,
  parseAdminParameters,
  personalizationFromProfile,
  TYPE1_PROFILE,
  VirtualSim,
} from '@iotsafe/sim';
import type { Report } from './report.js';

/** The demo SIM as the operator's systems know it (the OTA and admin servers' key store). */
export const DEMO_SIM = { iccid: '89000123456789012341', msisdn: '4917000001', pskIdentity: 'demo-sim-0001' };
/** The SCP81 key set (GP Amd B: KVN 40..4F; key 01 TLS-PSK, key 02 DEK). */
const SCP81_KVN = 0x40;
const AES_KEY = 0x88;
/** The file container the operator fills later, over SCP81. */
export const OPERATOR_FILE = { id: '07', label: 'operator-data' } as const;

interface Personalised {
  sim: VirtualSim;
  ca: CertificateAuthority;
  certificate: Uint8Array;
  /** The SCP80 key set 01 loaded into the ISD (what the OTA server gets). */
  scp80: { kic: Uint8Array; kid: Uint8Array; kik: Uint8Array };
  /** The SCP81 key set 40's TLS-PSK (what the admin server gets) and the identity the SIM presents. */
  scp81: { psk: Uint8Array; pskIdentity: string; keyVersion: number };
  apdus: number;
}

const RENC = 0x33; // C-MAC, C-DECRYPTION, R-MAC, R-ENCRYPTION: keys and secrets may travel

/** Type I without its certificate files' content: the containers, and the key generated on the card. */
const type1Containers = (): PersoOperation[] =>
  personalizationFromProfile(
    {
      ...TYPE1_PROFILE,
      containers: [...TYPE1_PROFILE.containers, { class: 'file', ...OPERATOR_FILE, access: ['read'] }],
    },
    false,
  );

/**
 * The ISD's stored HTTP administration parameters: where the operator's admin server is and what the
 * SIM says to it. Port 443 as shipped; this run's server listens on a port of its own, which the trigger
 * SMS carries (GP Amd B: the trigger's connection parameters override the stored ones).
 */
const adminParameters = () =>
  encodeStoredParameters(
    parseAdminParameters({
      address: '127.0.0.1',
      port: 443,
      host: 'admin.demo',
      agentId: `//se-id/iccid/${DEMO_SIM.iccid}`,
      uri: `/ram?sim=${DEMO_SIM.iccid}`,
      pskIdentity: DEMO_SIM.pskIdentity,
      keyVersion: SCP81_KVN,
      retry: { counter: 0, delaySeconds: 0 },
    }),
    'swapped-bcd',
  );

export async function personalise(
  report: Report,
  base: string,
  storageKey: Uint8Array,
  isdKeys: StaticKeys,
  scp80: Personalised['scp80'],
): Promise<Personalised> {
  report.chapter('Factory: a blank SIM personalised over SCP03 (keys, certificate, CA)');
  const sim = VirtualSim.create(join(base, 'sim'), BLANK_PROFILE, { storageKey, isdKeys: { keys: isdKeys } });
  report.line(
    `blank SIM ${sim.directory}: an ISD with this run's test keys, an IoT SAFE applet without containers`,
  );
  const transport = new MemoryTransport(sim.card);
  const gp = await GlobalPlatform.open(transport, isdKeys, { securityLevel: RENC });
  const containers = type1Containers();
  await gp.personalize(IOTSAFE_AID, containers);
  report.line(
    `SCP03 (level 33) STORE DATA: ${containers.length} operations, the key pair generated in the SIM`,
  );

  const client = await IoTSafe.connect(transport);
  const point = await client.readPublicKey(byId('01'));
  const csr = await createCsr(client, {
    key: byId('01'),
    publicKey: point,
    subject: { commonName: 'demo-device-0001', organization: 'iotsafe-stack demo' },
  });
  writeFileSync(join(base, 'device.csr'), toPem(csr, 'CERTIFICATE REQUEST'));
  const ca = await CertificateAuthority.create({ commonName: 'iotsafe-stack demo CA (test key)', days: 30 });
  const certificate = await ca.issue(csr, { days: 30 });
  writeFileSync(join(base, 'device.pem'), toPem(certificate, 'CERTIFICATE'));
  writeFileSync(join(base, 'ca.pem'), toPem(ca.certificate, 'CERTIFICATE'));
  const x509 = new X509Certificate(Buffer.from(certificate));
  report.line(
    `CSR signed in the SIM; the CA issued "${x509.subject.replace(/\n/g, ', ')}", valid to ${x509.validTo}`,
  );

  const files: PersoOperation[] = [
    { op: 'content', objectClass: 'file', ref: byId('02'), content: { kind: 'file', content: certificate } },
    {
      op: 'content',
      objectClass: 'file',
      ref: byId('03'),
      content: { kind: 'file', content: ca.certificate },
    },
    // locked over the air only: the factory's SCP03 route closes, the issuer's SCP80 and SCP81 go on
    // administering the applet — the rotation included (docs/perso-format.md, "The personalisation lock")
    { op: 'lock', scope: 'ota' },
  ];
  const again = await GlobalPlatform.open(transport, isdKeys, { securityLevel: RENC });
  await again.personalize(IOTSAFE_AID, files);
  await again.putKeySet(0x01, { enc: scp80.kic, mac: scp80.kid, dek: scp80.kik });
  const scp81 = {
    psk: new Uint8Array(randomBytes(16)),
    pskIdentity: DEMO_SIM.pskIdentity,
    keyVersion: SCP81_KVN,
  };
  await again.putKeys(SCP81_KVN, [
    { type: KEY_TYPE_TLS_PSK, value: scp81.psk },
    { type: AES_KEY, value: new Uint8Array(randomBytes(16)) },
  ]);
  await again.storeIsdData(adminParameters());
  await again.close();
  await gp.close().catch(() => undefined);
  const locked = sim.store.personalizationLocked;
  report.line(
    `SCP03: certificate → file 02, CA → file 03; SCP80 key set 01 loaded (PUT KEY); personalisation ${locked ? 'locked (A0FF): administered over the air from now on' : 'open'}`,
  );
  report.line(
    `SCP03: SCP81 key set ${SCP81_KVN.toString(16)} (TLS-PSK, DEK) by PUT KEY; the ISD's admin parameters (server, URI, PSK identity "${DEMO_SIM.pskIdentity}") by STORE DATA`,
  );

  const stored = await client.readFile(byId('02'));
  if (bytesToHex(stored) !== bytesToHex(certificate)) throw new Error('the certificate read back differs');
  const apdus = client.apduCount;
  await client.close();
  report.set('personalisation', {
    sim: sim.directory,
    operations: containers.length + files.length,
    certificateSubject: x509.subject.replace(/\n/g, ', '),
    scp80KeySet: '01',
    scp81KeySet: SCP81_KVN.toString(16),
    personalisationLock: locked || 'open',
  });
  return { sim, ca, certificate, scp80, scp81, apdus };
}
