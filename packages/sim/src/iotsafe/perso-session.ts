// STORE DATA personalisation of the IoT SAFE applet (GPCS §11.11, docs/perso-format.md), as the ISD
// forwards it: blocks gathered per channel, the script applied as one change after the last block.
// The lock rule: before A0FF any security the ISD admits will do; after it (the applet is SECURED) only
// the issuer's own channel — an SCP03 session with C-MAC, an SCP80 packet with a cryptographic
// checksum, an SCP81 session — may administer the objects (GP Amd B, GSMA IoT.05 remote management);
// a lock scoped 'ota' (A0FF = 01) also closes the terminal's SCP03 route: over the air only.
import { carriesSecret, concatBytes, decodePersoScript, SW } from '@iotsafe/protocol';
import { decodeOrRefuse, fail } from '../card/card-error.js';
import { isIssuerChannel, LEVEL, type RequestSecurity } from '../gp/request-security.js';
import { applyPersonalization } from './personalization.js';
import { narrowedLock, type ObjectStore } from './store.js';

/** Largest personalisation script one STORE DATA series may carry. */
const MAX_PERSO_BYTES = 256 * 1024;

export class PersoSession {
  /** Channel → the blocks of the script arriving there (logical channels, or a remote source's). */
  private readonly blocks = new Map<number, Uint8Array[]>();

  constructor(private readonly store: ObjectStore) {}

  reset(): void {
    this.blocks.clear();
  }

  /** One STORE DATA block; after the last, the script's answer (what its A003, A005, A006 give). */
  receive(block: Uint8Array, blockNumber: number, last: boolean, security: RequestSecurity): Uint8Array {
    const { channel } = security;
    const lock = this.store.personalizationLocked;
    if (lock === 'ota' && security.via === 'scp03') {
      this.blocks.delete(channel);
      fail(SW.CONDITIONS_NOT_SATISFIED, 'personalisation is locked: administration over the air only');
    }
    if (lock && !isIssuerChannel(security)) {
      this.blocks.delete(channel);
      fail(SW.SECURITY_STATUS_NOT_SATISFIED, 'personalisation is locked: only the issuer may administer');
    }
    const blocks = blockNumber === 0 ? [] : (this.blocks.get(channel) ?? []);
    blocks.push(block.slice());
    if (blocks.reduce((n, b) => n + b.length, 0) > MAX_PERSO_BYTES) {
      this.blocks.delete(channel);
      fail(SW.INSUFFICIENT_MEMORY, 'personalisation script too long');
    }
    if (!last) {
      this.blocks.set(channel, blocks);
      return new Uint8Array(0);
    }
    this.blocks.delete(channel);
    const ops = decodeOrRefuse(() => decodePersoScript(concatBytes(...blocks)));
    if (ops.some(carriesSecret) && (security.level & LEVEL.C_DECRYPTION) === 0) {
      fail(SW.SECURITY_STATUS_NOT_SATISFIED, 'keys and secrets are personalised under C-DECRYPTION only');
    }
    const result = applyPersonalization(this.store.containers, ops);
    // a lock is for good: a script without A0FF keeps it, a later one may only narrow it
    this.store.replaceAll(result.containers, narrowedLock(lock, result.locked));
    return result.answer;
  }
}
