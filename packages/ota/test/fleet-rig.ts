// A virtual fleet for job tests and the bench: N virtual SIMs (no IoT SAFE objects, SCP80 key set 1
// with keys of their own) in handsets of one local SMSC, optionally faulty, and a store that knows
// them. Each SIM's keys derive from its index, so a PoR opened with another SIM's keys fails.
import { type HandsetFault, type OtaStore, TestNetwork, type TestNetworkOptions } from '@iotsafe/ota';
import type { OtaKeys } from '@iotsafe/protocol';
import { type Profile, scp80KeySet, VirtualSim } from '@iotsafe/sim';
import { CREDENTIALS } from './rig.js';

const EMPTY_PROFILE: Profile = { description: 'virtual fleet SIM (test keys only)', containers: [] };

export interface FleetSim {
  iccid: string;
  msisdn: string;
  keys: Required<Pick<OtaKeys, 'kic' | 'kid'>>;
  sim: VirtualSim;
  fault?: HandsetFault;
}

export interface Fleet {
  network: TestNetwork;
  sims: FleetSim[];
  byMsisdn: Map<string, FleetSim>;
  /** Records every SIM and its key set in a store (one transaction). */
  populate(store: OtaStore, tags?: (i: number) => string[]): Promise<void>;
  stop(): Promise<void>;
}

export const fleetIccid = (i: number) => `8988211${String(i).padStart(12, '0')}`;
export const fleetMsisdn = (i: number) => `4917${String(i).padStart(8, '0')}`;

function keysOf(i: number) {
  const kic = new Uint8Array(16).fill(0x40);
  const kid = new Uint8Array(16).fill(0x50);
  new DataView(kic.buffer).setUint32(12, i);
  new DataView(kid.buffer).setUint32(12, i);
  return { kic, kid };
}

export async function startFleet(
  count: number,
  options: { faults?: (i: number) => HandsetFault | undefined; network?: TestNetworkOptions } = {},
): Promise<Fleet> {
  const network = await TestNetwork.start({ ...CREDENTIALS, ...options.network });
  const sims: FleetSim[] = [];
  for (let i = 0; i < count; i++) {
    const keys = keysOf(i);
    const sim = VirtualSim.inMemory(EMPTY_PROFILE);
    sim.isd.keySets.push(scp80KeySet(1, keys));
    const fault = options.faults?.(i);
    const entry: FleetSim = {
      iccid: fleetIccid(i),
      msisdn: fleetMsisdn(i),
      keys,
      sim,
      ...(fault ? { fault } : {}),
    };
    network.attach(entry.msisdn, sim.card, fault);
    sims.push(entry);
  }
  return {
    network,
    sims,
    byMsisdn: new Map(sims.map((s) => [s.msisdn, s])),
    async populate(store, tags) {
      await store.sims.addMany(
        sims.map((s, i) => ({
          sim: { iccid: s.iccid, msisdn: s.msisdn, batch: 'fleet', ...(tags ? { tags: tags(i) } : {}) },
          keySets: [{ kvn: 1, kicByte: 0x12, kidByte: 0x12, ...s.keys }],
        })),
      );
    },
    stop: () => network.stop(),
  };
}
