// A virtual SIM ready for mutual TLS: its device key generated inside it (container 01) and certified by
// the test CA, the certificate in file 02; and the KeyOps a TLS client takes from it.
import {
  byId,
  encodeP256PublicKeyInfo,
  IoTSafe,
  IoTSafeKeyOps,
  type IoTSafeOptions,
  type LatencyModel,
  MemoryTransport,
  type OffloadLevel,
} from '@iotsafe/device';
import { TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { type Issued, issue } from './pki.js';

type CertificateAuthority = Issued & { commonName: string };

export async function provisionedSim(ca: CertificateAuthority, personality = 'reference') {
  const sim = VirtualSim.inMemory(TYPE1_PROFILE, { personality });
  const setup = await IoTSafe.connect(new MemoryTransport(sim.card));
  const { point } = await setup.generateKeyPair(byId('01'));
  sim.writeFile(
    byId('02'),
    issue({ commonName: 'sim-device', issuer: ca, publicKeySpki: encodeP256PublicKeyInfo(point) })
      .certificateDer,
  );
  await setup.close(); // frees the applet for cards that are not multi-selectable
  return sim;
}

export interface SimKeyOpsOptions extends IoTSafeOptions {
  /** The applet personality of the virtual SIM (default reference). */
  personality?: string;
  /** A card + link latency model for the memory transport (modemSimLatency, for example). */
  latency?: LatencyModel;
}

/** A client of a provisioned SIM, and its KeyOps at the given offload level. */
export async function simKeyOps(
  ca: CertificateAuthority,
  offload: OffloadLevel,
  { personality, latency, ...options }: SimKeyOpsOptions = {},
) {
  const sim = await provisionedSim(ca, personality);
  const client = await IoTSafe.connect(new MemoryTransport(sim.card, latency), options);
  const keyOps = await IoTSafeKeyOps.create(client, {
    privateKey: byId('01'),
    certificateChain: [byId('02')],
    offload,
  });
  return { sim, client, keyOps };
}
