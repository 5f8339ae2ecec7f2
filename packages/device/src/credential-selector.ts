// Which credential the device uses, as the operator's credential selector file says (docs/rotation.md,
// docs/perso-format.md): the pending one first when there is one — the new credential a rotation
// asks the device to prove — then the active one if the server refuses it. With no selector file the
// device keeps its configured default. The device never writes the selector: the operator moves it,
// so a device that falls back leaves the rotation to roll back at its deadline.
import {
  type CertificateCredential,
  type CredentialSelector,
  decodeCredentialSelector,
  FormatError,
  type PskCredential,
  SELECTOR_FILE_ID,
  StatusWordError,
} from '@iotsafe/protocol';
import type { IoTSafe } from './iotsafe.js';
import { byId } from './iotsafe.js';

/** The selector the SIM holds, or undefined when it has none (a SIM never rotated). */
export async function readCredentialSelector(
  iotsafe: IoTSafe,
  file: Uint8Array = SELECTOR_FILE_ID,
): Promise<CredentialSelector | undefined> {
  let content: Uint8Array;
  try {
    content = await iotsafe.readFile(byId(file));
  } catch (error) {
    if (error instanceof StatusWordError && error.sw === 0x6a82) return undefined;
    throw error;
  }
  if (content.length === 0) return undefined;
  return decodeCredentialSelector(content);
}

export interface Candidate<T> {
  credential: T;
  role: 'pending' | 'active' | 'default';
}

/** The credentials to try, in order: pending, then active (or the default when there is no selector). */
export function candidates<T>(choice: { active: T; pending?: T } | undefined, fallback: T): Candidate<T>[] {
  if (!choice) return [{ credential: fallback, role: 'default' }];
  return [
    ...(choice.pending ? [{ credential: choice.pending, role: 'pending' as const }] : []),
    { credential: choice.active, role: 'active' },
  ];
}

export interface Picked<T, R> {
  result: R;
  used: Candidate<T>;
  /** The candidates refused before it, with why. */
  refused: { candidate: Candidate<T>; error: Error }[];
}

/**
 * Runs `attempt` (a TLS connection…) with each candidate in order until one succeeds; throws the last
 * error when none does. A selector that does not parse is a FormatError (the SIM is not as written).
 */
export async function withSelectedCredential<T extends CertificateCredential | PskCredential, R>(
  choice: { active: T; pending?: T } | undefined,
  fallback: T,
  attempt: (credential: T, role: Candidate<T>['role']) => Promise<R>,
): Promise<Picked<T, R>> {
  const refused: Picked<T, R>['refused'] = [];
  for (const candidate of candidates(choice, fallback)) {
    try {
      return { result: await attempt(candidate.credential, candidate.role), used: candidate, refused };
    } catch (error) {
      if (error instanceof FormatError) throw error;
      refused.push({ candidate, error: error as Error });
    }
  }
  throw refused[refused.length - 1]!.error;
}
