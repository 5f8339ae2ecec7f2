// KeyOps whose every call pauses the DTLS retransmission timer while it runs: network time excludes
// the time the SIM takes (RFC 6347 §4.2.4 timers measure the round trip, not the card).
import type { HashAlgorithm } from '@iotsafe/protocol';
import type { NamedGroup } from '../constants.js';
import type { KeyOps, KeyShare, PskProvider } from '../keyops.js';

export interface Pausable {
  pause(): void;
  resume(): void;
}

async function paused<T>(timer: Pausable, work: () => Promise<T>): Promise<T> {
  timer.pause();
  try {
    return await work();
  } finally {
    timer.resume();
  }
}

function pausedPsk(psk: PskProvider, timer: Pausable): PskProvider {
  return {
    identity: psk.identity,
    hash: psk.hash,
    ...(psk.versions ? { versions: psk.versions } : {}),
    earlySecret: () => paused(timer, () => psk.earlySecret()),
    tls12MasterSecret: (labelAndSeed, other) =>
      paused(timer, () => psk.tls12MasterSecret(labelAndSeed, other)),
  };
}

export function pausingKeyOps(inner: KeyOps, timer: Pausable): KeyOps {
  const psk = inner.psk;
  return {
    ...(psk ? { psk: pausedPsk(psk, timer) } : {}),
    groups: inner.groups,
    ...(inner.groupsLimitedBy ? { groupsLimitedBy: inner.groupsLimitedBy } : {}),
    certificateChain: inner.certificateChain,
    signatureSchemes: inner.signatureSchemes,
    ...(inner.signatureSchemes12 ? { signatureSchemes12: inner.signatureSchemes12 } : {}),
    generateKeyShare: (group: NamedGroup) =>
      paused(timer, async (): Promise<KeyShare> => {
        const share = await inner.generateKeyShare(group);
        return {
          group: share.group,
          publicKey: share.publicKey,
          computeSecret: (peer) => paused(timer, () => share.computeSecret(peer)),
        };
      }),
    hkdfExtract: (hash: HashAlgorithm, salt: Uint8Array, ikm: Uint8Array) =>
      paused(timer, () => inner.hkdfExtract(hash, salt, ikm)),
    sign: (scheme: number, content: Uint8Array) => paused(timer, () => inner.sign(scheme, content)),
    // afterFlight runs while the server answers: it must not hold our retransmissions back.
    ...(inner.afterFlight ? { afterFlight: () => inner.afterFlight!() } : {}),
  };
}
