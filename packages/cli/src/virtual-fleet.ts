// A virtual fleet: N virtual SIMs (no IoT SAFE objects; SCP80 key set 1 with random AES keys of their
// own, generated for this run) in the handsets of one local SMSC, a share of them faulty (handsets
// off, slow, losing PoRs) and the SMSC optionally throttling (ESME_RTHROTTLED beyond a submit rate).
// The SIMs' vendor batch file (the CSV `fleet import` reads, keys optionally encrypted under a
// transport key with their KCVs) is how an operator's store learns them. Test keys: never for a real
// card. Used by `iotsafe fleet simulate`, the demo and the fleet tests.
import { randomBytes } from 'node:crypto';
import { type HandsetFault, TestNetwork, type TestNetworkOptions } from '@iotsafe/ota';
import { aesCbcEncrypt, aesKcv, bytesToHex } from '@iotsafe/protocol';
import { type Profile, scp80KeySet, VirtualSim } from '@iotsafe/sim';

const EMPTY_PROFILE: Profile = { description: 'virtual fleet SIM (test keys only)', containers: [] };

/** Shares of the fleet (percent, 0–100 in all) whose handsets misbehave. */
export interface FleetFaults {
  /** Handsets off: the SMSC takes the SMS, no handset gets it. */
  off?: number;
  /** Slow handsets: each SMS reaches the card after `slowMs`. */
  slow?: number;
  /** Handsets that lose the first PoR (the card ran the script; a resend is refused by its counter). */
  losePor?: number;
  /** How late a slow handset is (default 500 ms). */
  slowMs?: number;
}

export interface VirtualFleetOptions {
  sims: number;
  faults?: FleetFaults;
  /** The SMSC: port, account, submit rate limit (maxSubmitsPerSecond). */
  network?: TestNetworkOptions;
  /** The batch name in the vendor file (default "sim"). */
  batch?: string;
  /** First digits of the fleet's ICCIDs (default 8988299, an unassigned test range) and MSISDNs. */
  iccidPrefix?: string;
  msisdnPrefix?: string;
}

export interface VirtualFleetSim {
  iccid: string;
  msisdn: string;
  keys: { kic: Uint8Array; kid: Uint8Array; kik: Uint8Array };
  sim: VirtualSim;
  fault?: HandsetFault;
}

export interface FaultCounts {
  healthy: number;
  off: number;
  slow: number;
  losePor: number;
}

export const MAX_VIRTUAL_SIMS = 100_000;

/**
 * Which SIMs are faulty: index i falls in a share by (i × 37) mod 100, so each percent point is spread
 * over the fleet (and, for a fleet of a multiple of 100 SIMs, exact).
 */
export function faultOf(i: number, faults: FleetFaults = {}): HandsetFault | undefined {
  const at = (i * 37) % 100;
  const off = faults.off ?? 0;
  const slow = off + (faults.slow ?? 0);
  const lose = slow + (faults.losePor ?? 0);
  if (at < off) return { kind: 'off' };
  if (at < slow) return { kind: 'slow', delayMs: faults.slowMs ?? 500 };
  if (at < lose) return { kind: 'lose-por', count: 1 };
  return undefined;
}

export function checkFaults(faults: FleetFaults): void {
  const shares = [faults.off ?? 0, faults.slow ?? 0, faults.losePor ?? 0];
  if (shares.some((n) => !Number.isInteger(n) || n < 0) || shares.reduce((a, b) => a + b, 0) > 100)
    throw new RangeError('fault shares are whole percents, 100 at most in all');
}

const aes = () => new Uint8Array(randomBytes(16));

// GlobalPlatform key encryption under a DEK: AES-CBC, IV zero, no padding (the importer's default).
const encrypted = (transportKey: Uint8Array, key: Uint8Array) =>
  bytesToHex(aesCbcEncrypt(transportKey, new Uint8Array(16), key));

export class VirtualFleet {
  private constructor(
    readonly network: TestNetwork,
    readonly sims: readonly VirtualFleetSim[],
    private readonly batch: string,
  ) {}

  static async start(options: VirtualFleetOptions): Promise<VirtualFleet> {
    if (!Number.isInteger(options.sims) || options.sims < 1 || options.sims > MAX_VIRTUAL_SIMS)
      throw new RangeError(`a virtual fleet has 1 to ${MAX_VIRTUAL_SIMS} SIMs`);
    checkFaults(options.faults ?? {});
    const iccidPrefix = options.iccidPrefix ?? '8988299';
    const msisdnPrefix = options.msisdnPrefix ?? '4915';
    const sims: VirtualFleetSim[] = [];
    for (let i = 0; i < options.sims; i++) {
      const keys = { kic: aes(), kid: aes(), kik: aes() };
      const sim = VirtualSim.inMemory(EMPTY_PROFILE);
      sim.isd.keySets.push(scp80KeySet(1, keys));
      const fault = faultOf(i, options.faults);
      sims.push({
        iccid: `${iccidPrefix}${String(i).padStart(19 - iccidPrefix.length, '0')}`,
        msisdn: `${msisdnPrefix}${String(i).padStart(8, '0')}`,
        keys,
        sim,
        ...(fault ? { fault } : {}),
      });
    }
    const network = await TestNetwork.start({ recordSubmits: false, ...options.network });
    for (const s of sims) network.attach(s.msisdn, s.sim.card, s.fault);
    return new VirtualFleet(network, sims, options.batch ?? 'sim');
  }

  get faults(): FaultCounts {
    const count = (kind: HandsetFault['kind']) => this.sims.filter((s) => s.fault?.kind === kind).length;
    const off = count('off');
    const slow = count('slow');
    const losePor = count('lose-por');
    return { healthy: this.sims.length - off - slow - losePor, off, slow, losePor };
  }

  /**
   * The fleet's vendor batch file (CSV): ICCID, MSISDN, batch, tags (healthy or the fault), key set 1
   * (KIc, KID, KIK, AES-128) with KCVs; the keys encrypted under `transportKey` when given.
   */
  vendorCsv(transportKey?: Uint8Array): string {
    const key = (k: Uint8Array) => (transportKey ? encrypted(transportKey, k) : bytesToHex(k));
    const kcv = (k: Uint8Array) => bytesToHex(aesKcv(k));
    const lines = ['iccid,msisdn,batch,tags,kvn,kic,kid,kik,kic_kcv,kid_kcv,kik_kcv'];
    for (const s of this.sims) {
      const { kic, kid, kik } = s.keys;
      const tags = ['virtual', s.fault?.kind ?? 'healthy'].join(';');
      lines.push(
        [
          s.iccid,
          s.msisdn,
          this.batch,
          tags,
          1,
          key(kic),
          key(kid),
          key(kik),
          kcv(kic),
          kcv(kid),
          kcv(kik),
        ].join(','),
      );
    }
    return `${lines.join('\n')}\n`;
  }

  stop(): Promise<void> {
    return this.network.stop();
  }
}
