// A virtual SIM for the admin-trigger tests: SCP80 key set 1 and an SCP81 key set, in a handset of the
// local test network with a BIP terminal running its sessions, known to the key store and the admin
// server. Its stored admin parameters lead nowhere (port 9, an unknown PSK identity), so a session that
// completes proves the card used the trigger's.
import { MemoryTransport, runBipTerminal } from '@iotsafe/device';
import type { AdminServer, OtaStore, TestNetwork } from '@iotsafe/ota';
import { scp80KeySet, VirtualSim } from '@iotsafe/sim';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';

export interface TriggerCardOptions {
  iccid: string;
  msisdn: string;
  /** TEST keys only: the SCP81 TLS-PSK and identity, the SCP80 KIC and KID (key set 1). */
  psk: Uint8Array;
  identity: string;
  kic: Uint8Array;
  kid: Uint8Array;
  otaMinimumSecurityLevel?: number;
}

/** The card, attached and known; `stop` ends its terminal. */
export async function triggerCard(
  rig: { network: TestNetwork; store: OtaStore; admin: AdminServer },
  o: TriggerCardOptions,
): Promise<{ sim: VirtualSim; stop: () => Promise<void> }> {
  const sim = VirtualSim.inMemory(TEST_PROFILE, {
    ...(o.otaMinimumSecurityLevel === undefined
      ? {}
      : { otaMinimumSecurityLevel: o.otaMinimumSecurityLevel }),
    scp81: {
      keys: { psk: o.psk, dek: new Uint8Array(16).fill(0x44) },
      parameters: {
        address: '127.0.0.1',
        port: 9,
        pskIdentity: 'not-a-known-identity',
        retry: { counter: 0, delaySeconds: 0 },
      },
      timeouts: { handshakeMs: 10_000, responseMs: 10_000, terminalResponseMs: 10_000 },
    },
  });
  sim.isd.keySets.push(scp80KeySet(1, { kic: o.kic, kid: o.kid }));
  rig.network.attach(o.msisdn, sim.card);
  const terminal = await runBipTerminal(new MemoryTransport(sim.card), {
    wake: (notify) => sim.card.toolkit.onPending(notify),
    pollIntervalMs: 50,
  });
  await rig.store.sims.add({ iccid: o.iccid, msisdn: o.msisdn, pskIdentity: o.identity });
  await rig.store.sims.putKeySet(o.iccid, { kvn: 1, kicByte: 0x12, kidByte: 0x12, kic: o.kic, kid: o.kid });
  await rig.store.sims.putPsk(o.iccid, o.psk);
  await rig.admin.reloadKeys();
  return { sim, stop: () => terminal.stop() };
}
