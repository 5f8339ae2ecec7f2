// PUT KEY for the ISD (GP Amd D §7.2, GPCS §11.8): adds a key set or replaces one, the new keys
// decrypted with the protecting key of the request's security and checked against their KCVs.
import {
  type CommandApdu,
  concatBytes,
  decodePutKeyData,
  KeyCheckError,
  type KeyWrapping,
  keyWrappingFor,
  SW,
} from '@iotsafe/protocol';
import { type AppletResponse, ok } from '../card/applet.js';
import { decodeOrRefuse, fail } from '../card/card-error.js';
import { type IsdState, type KeySet, scp03Keys } from './isd-state.js';
import type { RequestSecurity } from './request-security.js';

/**
 * Adds a key set (P1 = 00) or replaces set P1, keys from KID P2 on (P2 b8: several keys). AES keys
 * for SCP03, DES/3DES or AES for SCP80 (KIc/KID/KIK), TLS-PSK for SCP81; all decrypted with the
 * session's Key-DEK and checked against their KCVs. Answer: KVN ‖ KCVs.
 */
export function putKey(
  apdu: CommandApdu,
  security: RequestSecurity,
  state: IsdState,
  commit: (change: () => void) => void,
): AppletResponse {
  const firstKeyId = apdu.p2 & 0x7f;
  if (firstKeyId === 0) return fail(SW.INCORRECT_P1P2, 'key identifiers start at 1');
  const current = currentKeySet(security);
  const decoded = decodeOrRefuse(
    () => decodePutKeyData(current.dek, apdu.data, current.wrapping),
    (error) => (error instanceof KeyCheckError ? SW.SECURITY_STATUS_NOT_SATISFIED : SW.INCORRECT_DATA),
  );
  const newVersion = decoded.keyVersion;
  if (decoded.keys.length === 0) return fail(SW.INCORRECT_DATA, 'no key in PUT KEY');
  if ((apdu.p2 & 0x80) === 0 && decoded.keys.length !== 1)
    return fail(SW.INCORRECT_P1P2, 'several keys need P2 b8');
  if (newVersion < 0x01 || newVersion > 0x7f)
    return fail(SW.INCORRECT_DATA, 'key version numbers are 01..7F');
  const sets = state.keySets;
  const replaced = apdu.p1 === 0 ? undefined : sets.find((s) => s.keyVersion === apdu.p1);
  if (apdu.p1 !== 0 && !replaced)
    return fail(SW.REFERENCED_DATA_NOT_FOUND, `no key set ${apdu.p1.toString(16)}`);
  if (sets.some((s) => s.keyVersion === newVersion && s !== replaced))
    return fail(SW.CONDITIONS_NOT_SATISFIED, 'that key version exists');
  const keys = decoded.keys.map((k, index) => ({ id: firstKeyId + index, type: k.type, value: k.key }));
  const candidate: KeySet = { keyVersion: newVersion, i: current.set.i, keys, sequenceCounter: 0 };
  if (keys.every((k) => k.type === 0x88) && keys.length === 3 && !scp03Keys(candidate)) {
    return fail(SW.INCORRECT_DATA, 'the keys of an SCP03 set have one length');
  }
  commit(() => {
    if (replaced) {
      replaced.keyVersion = newVersion;
      replaced.keys = keys;
      replaced.sequenceCounter = 0;
    } else sets.push(candidate);
  });
  return ok(concatBytes(Uint8Array.of(newVersion), ...decoded.keys.map((k) => k.kcv)));
}

/** The key set of the open session, and its Key-DEK (or KIK) and how that encrypts new keys. */
function currentKeySet(security: RequestSecurity): { set: KeySet; dek: Uint8Array; wrapping: KeyWrapping } {
  const set = security.keySet ?? fail(SW.SECURITY_STATUS_NOT_SATISFIED);
  if (security.via !== 'scp03') {
    // over SCP80 the key set's KIK (key 3) protects new keys, as the Key-DEK does over SCP03; over
    // SCP81 the DEK of the TLS-PSK key set (key 2, GP Amd B)
    const id = security.via === 'scp80' ? 3 : 2;
    const kik = set.keys.find((k) => k.id === id);
    const wrapping = kik && keyWrappingFor(kik.type);
    if (!kik || !wrapping)
      return fail(SW.SECURITY_STATUS_NOT_SATISFIED, 'the key set has no key to protect keys');
    return { set, dek: kik.value, wrapping };
  }
  const keys = scp03Keys(set) ?? fail(SW.SECURITY_STATUS_NOT_SATISFIED);
  return { set, dek: keys.dek, wrapping: 'aes' };
}
