// Device-initiated renewal over EST (RFC 7030 §4.2.2): when the policy says it is due, a new key pair is
// generated in the SIM in a second container, a CSR for it is signed in the SIM with the current
// certificate's subject, and simplereenroll is asked over mutual TLS with the current SIM credential.
// The new certificate must be for the new key and from the CA the server distributes (cacerts); it is
// then proven — a mutual TLS exchange with the new key and certificate the server accepts — and only
// then written into the SIM. Until that write the current credential is untouched and stays the one in
// use: a failure at any step leaves the device as it was (the new key container holds an unused key).
import { X509Certificate } from 'node:crypto';
import { type CurveName, decodeBerTlvs, encodeBerTlv, type ObjectRef } from '@iotsafe/protocol';
import { createCsr } from '../csr.js';
import type { IoTSafe } from '../iotsafe.js';
import { IoTSafeKeyOps, type OffloadLevel } from '../iotsafe-keyops.js';
import {
  certificatesOfAnswer,
  checkAnswer,
  type EstEndpoint,
  EstError,
  estRequest,
  type RetryPolicy,
  withRetries,
} from './client.js';

/** When to renew: after `fraction` of the validity (default 2/3), or `beforeExpiryMs` before its end. */
export interface RenewalPolicy {
  fraction?: number;
  beforeExpiryMs?: number;
}

/** Where a credential lives in the SIM: its private key container and its certificate's file. */
export interface CredentialSlot {
  privateKey: ObjectRef;
  certificate: ObjectRef;
}

export interface RenewOptions {
  iotsafe: IoTSafe;
  endpoint: EstEndpoint;
  /** The credential in use. */
  current: CredentialSlot;
  /** Where the new one goes: another key container (keyGeneration) and another file. */
  next: CredentialSlot;
  /**
   * Writes the proven certificate into the SIM file. IoT.05 gives the device no command for it: a
   * virtual SIM's host side writes it (VirtualSim.writeFile); on a real SIM it is the operator's remote
   * administration (SCP80/SCP81) or a vendor's command.
   */
  writeCertificate: (file: ObjectRef, certificate: Uint8Array) => Promise<void> | void;
  policy?: RenewalPolicy;
  /** Renew even when the policy says it is not due. */
  force?: boolean;
  retry?: RetryPolicy;
  /** How much of the TLS handshakes runs in the SIM (default 'sign'). */
  offload?: OffloadLevel;
  now?: () => Date;
}

export interface RenewResult {
  renewed: boolean;
  /** When the policy makes the current certificate due. */
  dueAt: Date;
  /** The credential to use from now on. */
  active: CredentialSlot;
  certificate?: Uint8Array;
  serial?: string;
  notAfter?: Date;
  /** EST requests made (retries included). */
  attempts: number;
}

/** A renewal that would destroy a credential: the next slot holds one newer than the current. */
export class RenewalSlotError extends Error {
  override name = 'RenewalSlotError';
}

/** When `certificate` falls due under `policy`. */
export function renewalDueAt(certificate: X509Certificate, policy: RenewalPolicy = {}): Date {
  const from = Date.parse(certificate.validFrom);
  const to = Date.parse(certificate.validTo);
  if (policy.beforeExpiryMs !== undefined) return new Date(to - policy.beforeExpiryMs);
  const fraction = policy.fraction ?? 2 / 3;
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError('the renewal fraction is in (0, 1]');
  return new Date(from + (to - from) * fraction);
}

export async function renewCertificate(options: RenewOptions): Promise<RenewResult> {
  const { iotsafe, endpoint } = options;
  const now = options.now?.() ?? new Date();
  const currentDer = await iotsafe.readFile(options.current.certificate);
  let current: X509Certificate;
  try {
    current = new X509Certificate(Buffer.from(currentDer));
  } catch {
    throw new EstError('answer', 'the SIM holds no readable certificate for the current credential');
  }
  const dueAt = renewalDueAt(current, options.policy);
  if (!options.force && now < dueAt) return { renewed: false, dueAt, active: options.current, attempts: 0 };

  // The new key is generated over the next slot's: refuse when that slot holds the credential in use
  // (renewed before, the slots swapped): a valid certificate not older than the current one.
  const held = await readCertificate(iotsafe, options.next.certificate);
  if (
    held &&
    Date.parse(held.validTo) > now.getTime() &&
    Date.parse(held.validFrom) >= Date.parse(current.validFrom)
  )
    throw new RenewalSlotError(
      'the next slot holds a newer valid certificate (the credential in use?): renew from it, into the other slot',
    );

  const offload = options.offload ?? 'sign';
  const currentKeyOps = await IoTSafeKeyOps.create(iotsafe, {
    privateKey: options.current.privateKey,
    certificateChain: [currentDer],
    offload,
  });
  // The new key pair, in the SIM (its private half never leaves it), and a CSR signed there.
  const generated = await iotsafe.generateKeyPair(options.next.privateKey);
  const curve: CurveName =
    current.publicKey.asymmetricKeyDetails?.namedCurve === 'brainpoolP256r1' ? 'brainpoolP256r1' : 'p256';
  const csr = await createCsr(iotsafe, {
    key: generated.privateKey,
    publicKey: generated.point,
    curve,
    subject: subjectOf(current),
  });

  let attempts = 0;
  const counted = async <T>(run: () => Promise<T>) => {
    const { value, attempts: n } = await withRetries(options.retry ?? {}, run).catch((error: unknown) => {
      if (error instanceof EstError) attempts += error.attempts;
      throw error;
    });
    attempts += n;
    return value;
  };
  const anchors = await counted(async () =>
    certificatesOfAnswer(checkAnswer(await estRequest(endpoint, 'cacerts'), 'cacerts')),
  );
  const issued = await counted(async () =>
    certificatesOfAnswer(
      checkAnswer(
        await estRequest(endpoint, 'simplereenroll', { keyOps: currentKeyOps, csr }),
        'simplereenroll',
      ),
    ),
  );
  const certificate = issued.find((c) => samePoint(c, generated.point));
  if (!certificate) throw new EstError('answer', 'the EST server answered no certificate for the new key');
  if (!anchors.some((ca) => certificate.checkIssued(ca) && certificate.verify(ca.publicKey)))
    throw new EstError('answer', 'the new certificate is not signed by a CA the EST server distributes');
  if (certificate.subject !== current.subject)
    throw new EstError('answer', 'the new certificate has another subject than the current one');

  // Proof: mutual TLS with the new key and certificate, accepted by the server (it checks the
  // certificate on every request), before anything changes in the SIM.
  const newDer = new Uint8Array(certificate.raw);
  const nextKeyOps = await IoTSafeKeyOps.create(iotsafe, {
    privateKey: generated.privateKey,
    certificateChain: [newDer],
    offload,
  });
  try {
    checkAnswer(await estRequest(endpoint, 'cacerts', { keyOps: nextKeyOps }), 'cacerts');
    attempts++;
  } catch (error) {
    throw new EstError(
      'proof',
      `the new credential was not accepted: ${(error as Error).message}; the current one stays`,
    );
  }
  await options.writeCertificate(options.next.certificate, newDer);
  return {
    renewed: true,
    dueAt,
    active: { privateKey: generated.privateKey, certificate: options.next.certificate },
    certificate: newDer,
    serial: certificate.serialNumber,
    notAfter: new Date(certificate.validTo),
    attempts,
  };
}

/**
 * Of the credential slots, the one to use: the currently valid certificate issued last. A certificate
 * is written only once proven, so an interrupted renewal leaves its slot without one.
 */
export async function activeCredential(
  iotsafe: IoTSafe,
  slots: readonly CredentialSlot[],
  now = new Date(),
): Promise<CredentialSlot | undefined> {
  let best: { slot: CredentialSlot; from: number; to: number } | undefined;
  for (const slot of slots) {
    const certificate = await readCertificate(iotsafe, slot.certificate);
    if (!certificate) continue; // empty or not a certificate
    const from = Date.parse(certificate.validFrom);
    const to = Date.parse(certificate.validTo);
    if (from > now.getTime() || to < now.getTime()) continue;
    // issued last: the later start, then the later end, then the later slot (times are in seconds)
    if (!best || from > best.from || (from === best.from && to >= best.to)) best = { slot, from, to };
  }
  return best?.slot;
}

/** The certificate a file holds, or undefined when it is empty or holds something else. */
async function readCertificate(iotsafe: IoTSafe, file: ObjectRef): Promise<X509Certificate | undefined> {
  const content = await iotsafe.readFile(file);
  try {
    return new X509Certificate(Buffer.from(content));
  } catch {
    return undefined;
  }
}

/** The subject Name of a certificate, DER, as the certificate carries it. */
function subjectOf(certificate: X509Certificate): Uint8Array {
  // TBSCertificate ::= SEQUENCE { [0] version, serialNumber, signature, issuer, validity, subject, … }
  const [outer] = decodeBerTlvs(new Uint8Array(certificate.raw));
  const [tbs] = decodeBerTlvs(outer!.value);
  const fields = decodeBerTlvs(tbs!.value);
  const subject = fields[fields[0]!.tag === 0xa0 ? 5 : 4]!;
  return encodeBerTlv(subject.tag, subject.value);
}

function samePoint(certificate: X509Certificate, point: Uint8Array): boolean {
  const spki = certificate.publicKey.export({ format: 'der', type: 'spki' });
  return Buffer.compare(spki.subarray(spki.length - point.length), Buffer.from(point)) === 0;
}
