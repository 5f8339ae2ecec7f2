// The bench's virtual fleet and its SMSC, in a process of their own (forked by bench/fleet.ts, IPC
// channel): so that the OTA side measured in the parent shares its event loop with nothing it would
// not share in production. Started with the number of SIMs and the SMSC's options; answers with the
// SMPP port and the SIMs (ICCID, MSISDN, test keys), then with the SMSC's counts when asked; exits
// when told to, or when the parent goes away.
import type { TestNetworkOptions } from '@iotsafe/ota';
import { bytesToHex } from '@iotsafe/protocol';
import { startFleet } from '../packages/ota/test/fleet-rig.js';

export interface NetworkStart {
  sims: number;
  network: TestNetworkOptions;
}

export interface NetworkReady {
  type: 'ready';
  port: number;
  sims: { iccid: string; msisdn: string; kic: string; kid: string }[];
}

export interface NetworkCounts {
  type: 'counts';
  accepted: number;
  throttled: number;
  refused: number;
  delivered: number;
  porsReturned: number;
  /** Accepted submit_sm per second, first to last, as the SMSC clocked them. */
  acceptedRate: number;
}

const send = (message: NetworkReady | NetworkCounts) => process.send?.(message);

if (process.send) {
  process.on('disconnect', () => process.exit(0));
  process.once('message', async (start: NetworkStart) => {
    const fleet = await startFleet(start.sims, { network: start.network });
    send({
      type: 'ready',
      port: fleet.network.port,
      sims: fleet.sims.map((s) => ({
        iccid: s.iccid,
        msisdn: s.msisdn,
        kic: bytesToHex(s.keys.kic),
        kid: bytesToHex(s.keys.kid),
      })),
    });
    process.on('message', async (message: { type: 'counts' | 'stop' }) => {
      if (message.type === 'stop') {
        await fleet.stop();
        process.exit(0);
      }
      const n = fleet.network;
      const at = n.acceptedAt;
      send({
        type: 'counts',
        accepted: n.accepted,
        throttled: n.throttled,
        refused: n.refused.length,
        delivered: n.delivered,
        porsReturned: n.porsReturned,
        acceptedRate: at.length > 1 ? ((at.length - 1) * 1000) / (at[at.length - 1]! - at[0]!) : 0,
      });
    });
  });
}
