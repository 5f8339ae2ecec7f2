// A virtual SIM ready for mutual TLS: its device key generated inside it (container 01) and certified by
// the test CA, the certificate in file 02; and the KeyOps a TLS client takes from it.
import {
  byId,
  encodeP256PublicKeyInfo,
  IoTSafe,
  IoTSafeKeyOps,
  type IoTSafeOptions,
  MemoryTransport,
  type OffloadLevel,
} from '@iotsafe/device';
import { TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { type Issued, issue } from './pki.js';

type CertificateAuthority = Issued & { commonName: string };

export async function provisionedSim(ca: CertificateAuthority, commonName = 'sim-device') {
  const sim = VirtualSim.inMemory(TYPE1_PROFILE);
  const setup = await IoTSafe.connect(new MemoryTransport(sim.card));
  const { point } = await setup.generateKeyPair(byId('01'));
  sim.writeFile(
    byId('02'),
    issue({ commonName, issuer: ca, publicKeySpki: encodeP256PublicKeyInfo(point) }).certificateDer,
  );
  await setup.close();
  return sim;
}

/** A client of a provisioned SIM, and its KeyOps at the given offload level. */
export async function simKeyOps(
  ca: CertificateAuthority,
  offload: OffloadLevel,
  options: IoTSafeOptions = {},
) {
  const sim = await provisionedSim(ca);
  const client = await IoTSafe.connect(new MemoryTransport(sim.card), options);
  const keyOps = await IoTSafeKeyOps.create(client, {
    privateKey: byId('01'),
    certificateChain: [byId('02')],
    offload,
  });
  return { sim, client, keyOps };
}
