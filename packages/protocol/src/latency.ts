// The card side of the latency model (docs/hardware.md, "Timing"): how long a real SIM spends on each
// IoT SAFE instruction, in ms. One table for the virtual SIM's front ends and the device's transports.
import { INS } from './iotsafe/constants.js';

export const TYPICAL_SIM_CARD_MS: Readonly<Record<number, number>> = {
  [INS.GENERATE_KEY_PAIR]: 1000,
  [INS.COMPUTE_SIGNATURE_UPDATE]: 300,
  [INS.VERIFY_SIGNATURE_UPDATE]: 300,
  [INS.COMPUTE_DH]: 60,
  [INS.COMPUTE_HKDF]: 40,
  [INS.COMPUTE_PRF]: 40,
  [INS.PUT_PUBLIC_KEY_UPDATE]: 30,
};
/** Every other instruction. */
export const TYPICAL_SIM_DEFAULT_MS = 20;
