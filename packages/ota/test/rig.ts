// The OTA test rig: a virtual SIM with SCP80 key set 1 in a handset of the local test network, and a
// key store that knows it, so each test opens an OtaServer over a real SMPP link in one line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  OtaServer,
  type OtaServerOptions,
  OtaStore,
  SmppLink,
  type SmppLinkOptions,
  TestNetwork,
  type TestNetworkOptions,
} from '@iotsafe/ota';
import { scp80KeySet, VirtualSim } from '@iotsafe/sim';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';

export const STORAGE_KEY = new Uint8Array(32).fill(0x5c);
export const KIC = new Uint8Array(16).fill(0x61);
export const KID = new Uint8Array(16).fill(0x62);
export const ICCID = '8988211000000467285';
export const MSISDN = '4915112345678';
export const CREDENTIALS = { systemId: 'iotsafe', password: 'iotsafe' };

/** A submit_sm the local SMSC takes: SIM data download (PID 7F), 8-bit class 2 (DCS F6), a UDH. */
export const SIM_DOWNLOAD_SUBMIT = {
  source_addr_ton: 0,
  source_addr_npi: 1,
  source_addr: '1234',
  dest_addr_ton: 1,
  dest_addr_npi: 1,
  destination_addr: '4917000001',
  esm_class: 0x40,
  protocol_id: 0x7f,
  data_coding: 0xf6,
  short_message: Buffer.from('027000aabbcc', 'hex'),
} as const;

/**
 * How long a test's server waits for a PoR before it counts one as lost. Generous by default (a busy
 * 2-core CI runner delays the virtual card's answer by seconds); IOTSAFE_TEST_POR_TIMEOUT_MS sets it.
 * Nothing waits this long unless a PoR really is lost: correctness never hangs on it, as a lost PoR is
 * resent with the same counter and refused by the card's counter check.
 */
export const TEST_POR_TIMEOUT_MS = Number(process.env.IOTSAFE_TEST_POR_TIMEOUT_MS ?? 10_000);

export interface Rig {
  network: TestNetwork;
  sim: VirtualSim;
  dir: string;
  /** A store at `path` (a fresh one in the rig's directory by default) holding the SIM and its keys. */
  openStore(path?: string): Promise<OtaStore>;
  /** A link, and a server over it on a store; close() ends both. */
  openServer(options?: {
    link?: Partial<SmppLinkOptions>;
    server?: OtaServerOptions;
    store?: string;
  }): Promise<{ server: OtaServer; link: SmppLink; store: OtaStore; close(): Promise<void> }>;
  stop(): Promise<void>;
}

export async function startRig(networkOptions: TestNetworkOptions = {}): Promise<Rig> {
  const network = await TestNetwork.start({ ...CREDENTIALS, ...networkOptions });
  const sim = VirtualSim.inMemory(TEST_PROFILE);
  sim.isd.keySets.push(scp80KeySet(1, { kic: KIC, kid: KID }));
  network.attach(MSISDN, sim.card);
  const dir = mkdtempSync(join(tmpdir(), 'iotsafe-ota-rig-'));
  const openStore = async (path = join(dir, 'ota.db')) => {
    const store = await OtaStore.open(path, STORAGE_KEY, { create: true });
    await store.sims.add({ iccid: ICCID, msisdn: MSISDN });
    await store.sims.putKeySet(ICCID, { kvn: 1, kicByte: 0x12, kidByte: 0x12, kic: KIC, kid: KID });
    return store;
  };
  return {
    network,
    sim,
    dir,
    openStore,
    async openServer(options = {}) {
      const store = await openStore(options.store);
      const link = await SmppLink.connect({
        host: '127.0.0.1',
        port: network.port,
        ...CREDENTIALS,
        ...options.link,
      });
      const server = new OtaServer(store, link, { timeoutMs: 3000, ...options.server });
      return {
        server,
        link,
        store,
        close: async () => {
          await server.close();
          await link.close();
          await store.close();
        },
      };
    },
    async stop() {
      await network.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until `condition` holds (polling), or fails after `ms`. */
export async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
