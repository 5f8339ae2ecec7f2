// A virtual SIM ready for mutual TLS: its device key generated inside it (container 01) and certified by
// the test CA, the certificate in file 02; and the KeyOps a TLS client takes from it — over the card
// directly, or through an SCP03 channel to the applet.
import {
  byId,
  type EarlySignatureInit,
  encodeP256PublicKeyInfo,
  IoTSafe,
  IoTSafeKeyOps,
  type IoTSafeOptions,
  type LatencyModel,
  MemoryTransport,
  type OffloadLevel,
  openScp03,
  type Transport,
} from '@iotsafe/device';
import { IOTSAFE_AID } from '@iotsafe/protocol';
import { TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { GP_TEST_KEYS } from './cards.js';
import { type Issued, issue } from './pki.js';

type CertificateAuthority = Issued & { commonName: string };

/** Generates the device key inside the SIM (container 01) and stores its certificate from `ca` in file 02. */
export async function certifySimKey(sim: VirtualSim, ca: CertificateAuthority, commonName = 'sim-device') {
  const setup = await IoTSafe.connect(new MemoryTransport(sim.card));
  const { point } = await setup.generateKeyPair(byId('01'));
  const certificate = issue({ commonName, issuer: ca, publicKeySpki: encodeP256PublicKeyInfo(point) });
  sim.writeFile(byId('02'), certificate.certificateDer);
  await setup.close(); // frees the applet for cards that are not multi-selectable
  return certificate;
}

export async function provisionedSim(ca: CertificateAuthority, personality = 'reference') {
  // The ISD knows the SCP03 test keys, for the clients that reach the applet through a secure channel.
  const sim = VirtualSim.inMemory(TYPE1_PROFILE, { personality, isdKeys: { keys: GP_TEST_KEYS } });
  await certifySimKey(sim, ca);
  return sim;
}

export interface SimKeyOpsOptions extends IoTSafeOptions {
  /** The applet personality of the virtual SIM (default reference). */
  personality?: string;
  /** A card + link latency model for the memory transport (modemSimLatency, for example). */
  latency?: LatencyModel;
  /** Reach the applet through an SCP03 channel at this security level (0x33: C-DEC C-MAC R-MAC R-ENC). */
  scp03Level?: number;
  /** Sees every command the link carries (after SCP03 wrapping), when it starts. */
  onTransmit?: (command: Uint8Array) => void;
  /** IoTSafeKeyOps' deferSessionEnd (default true). */
  deferSessionEnd?: boolean;
  /** IoTSafeKeyOps' prepareKeyShare (default false). */
  prepareKeyShare?: boolean;
  /** IoTSafeKeyOps' earlySignatureInit (default 'certain'). */
  earlySignatureInit?: EarlySignatureInit;
}

/** A transport that reports each command as it starts, then passes it on. */
function watched(inner: Transport, onTransmit: (command: Uint8Array) => void): Transport {
  return {
    transmit: (command) => {
      onTransmit(command);
      return inner.transmit(command);
    },
    reset: () => inner.reset(),
    close: () => inner.close(),
  };
}

/** A client of a provisioned SIM, and its KeyOps at the given offload level. */
export async function simKeyOps(
  ca: CertificateAuthority,
  offload: OffloadLevel,
  {
    personality,
    latency,
    scp03Level,
    onTransmit,
    deferSessionEnd,
    prepareKeyShare,
    earlySignatureInit,
    ...options
  }: SimKeyOpsOptions = {},
) {
  const sim = await provisionedSim(ca, personality);
  const memory = new MemoryTransport(sim.card, latency);
  const link = onTransmit ? watched(memory, onTransmit) : memory;
  const client =
    scp03Level === undefined
      ? await IoTSafe.connect(link, options)
      : IoTSafe.attach(
          await openScp03(link, GP_TEST_KEYS, { select: IOTSAFE_AID, securityLevel: scp03Level }),
          0,
          IOTSAFE_AID,
          options,
        );
  const keyOps = await IoTSafeKeyOps.create(client, {
    privateKey: byId('01'),
    certificateChain: [byId('02')],
    offload,
    ...(deferSessionEnd !== undefined ? { deferSessionEnd } : {}),
    ...(prepareKeyShare !== undefined ? { prepareKeyShare } : {}),
    ...(earlySignatureInit !== undefined ? { earlySignatureInit } : {}),
  });
  return { sim, client, keyOps };
}
