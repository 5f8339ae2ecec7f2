// The rotation job kind: a rotation's state machine on the job engine, one SIM per job. SCP80 steps go
// through the SCP80 kind (the attempt and its counter recorded before any SMS leaves, an attempt that
// was out when its worker died resumed and never resent); local steps (issue, await the proof, retire)
// are idempotent on the rotation's row. What a step learns is written to that row before the step is
// reported done, so the step after it is built from stored facts only.
import { createHash, X509Certificate } from 'node:crypto';
import {
  type CredentialSelector,
  compactPersonalizationScript,
  decodeCompactResponse,
  decodeCompactScript,
  encodePersoScript,
  hexToBytes,
  IOTSAFE_AID,
  PERSO_ANSWER_TAG,
  type PersoOperation,
  utf8,
} from '@iotsafe/protocol';
import type { JobKind, PlannedSim, RetryPolicy, StepContext, StepResult } from '../jobs/kind.js';
import type { Scp80Kind } from '../jobs/scp80-kind.js';
import { StorageError } from '../storage/engine.js';
import type { SimRecord } from '../storage/sim-store.js';
import type { RotationRecord, RotationState, RotationStore } from './records.js';
import { runAdminStep } from './scp81-step.js';
import {
  answerField,
  assembleCsr,
  type CertificateSlot,
  DEFAULT_CERTIFICATE_SLOTS,
  DEFAULT_PSK_SLOTS,
  finishCertificateOps,
  finishPskOps,
  generateOps,
  type PskSlot,
  requestInfoFor,
  signOps,
  writeCertificateOps,
  writePskOps,
} from './scripts.js';

/** What the rotation needs of the operator's CA (@iotsafe/pki's CertificateAuthority fits it). */
export interface RotationCa {
  issue(csr: Uint8Array, options: { iccid?: string; expectedPublicKey?: Uint8Array }): Promise<Uint8Array>;
  revoke(serial: string, reason?: 'superseded' | 'cessationOfOperation'): unknown;
  readonly issued: readonly { serial: string; keySha256?: string; revokedAt?: string }[];
}

/** The cloud side's PSK store: the operator hands it each new PSK, and retires the old one. */
export interface PskStore {
  put(identity: string, psk: Uint8Array): Promise<void> | void;
  remove(identity: string): Promise<void> | void;
}

export interface RotationJobSpec {
  rotation: string;
  credential: RotationRecord['credential'];
  /** SCP80 key set (default 1). */
  kvn?: number;
  porTimeoutMs?: number;
  retry?: RetryPolicy;
  certificateSlots?: readonly [CertificateSlot, CertificateSlot];
  pskSlots?: readonly [PskSlot, PskSlot];
  /** How often the proof is looked for while awaiting it (default 200 ms). */
  pollMs?: number;
  /** SCP81: how long an admin session has to post a step's result once its trigger is answered. */
  sessionTimeoutMs?: number;
}

type StepName = 'handover' | 'generate' | 'sign' | 'issue' | 'write' | 'await' | 'finish' | 'retire';

export const ROTATION_STEPS: Record<RotationRecord['credential'], readonly StepName[]> = {
  certificate: ['generate', 'sign', 'issue', 'write', 'await', 'finish', 'retire'],
  psk: ['handover', 'write', 'await', 'finish', 'retire'],
};

const STATE_OF: Record<StepName, RotationState> = {
  handover: 'handing-over',
  generate: 'generating',
  sign: 'signing',
  issue: 'issuing',
  write: 'writing',
  await: 'awaiting-proof',
  finish: 'committing',
  retire: 'retiring',
};

/** What the SIM's selector says once a rotation is over, for the rotations after it. */
export type SelectorOf = (iccid: string, except: string) => Promise<CredentialSelector>;

export interface RotationKindOptions {
  scp80: Scp80Kind;
  rotations: RotationStore;
  selectorOf: SelectorOf;
  ca?: RotationCa;
  pskStore?: PskStore;
}

const invalid = (message: string) => new StorageError(message, 'invalid');
const idBytes = (hex: string) => hexToBytes(hex);
const failed = (detail: string, code = 'rotation_failed'): StepResult => ({
  outcome: 'failed',
  detail,
  code,
});

export function parseRotationJobSpec(spec: unknown): RotationJobSpec {
  const s = spec as Partial<RotationJobSpec> | null;
  if (!s || typeof s !== 'object' || typeof s.rotation !== 'string')
    throw invalid('a rotation job names its rotation');
  if (s.credential !== 'certificate' && s.credential !== 'psk')
    throw invalid('a rotation is of a certificate or a PSK');
  if (s.kvn !== undefined && !(Number.isInteger(s.kvn) && s.kvn >= 1 && s.kvn <= 15))
    throw invalid('the KVN is 1 to 15');
  return s as RotationJobSpec;
}

export class RotationKind implements JobKind {
  readonly name = 'rotation';

  constructor(private readonly options: RotationKindOptions) {}

  parse(spec: unknown): RotationJobSpec {
    return parseRotationJobSpec(spec);
  }

  steps(spec: unknown): number {
    return ROTATION_STEPS[(spec as RotationJobSpec).credential].length;
  }

  retry(spec: unknown): RetryPolicy {
    return (spec as RotationJobSpec).retry ?? { noPor: 2, smscError: 3, cardError: 0, backoffMs: 500 };
  }

  async plan(_spec: unknown, sim: SimRecord): Promise<PlannedSim> {
    return { iccid: sim.iccid, steps: [] };
  }

  async runStep(context: StepContext): Promise<StepResult> {
    const spec = context.spec as RotationJobSpec;
    const rotation = await this.options.rotations.get(spec.rotation);
    const steps = ROTATION_STEPS[rotation.credential];
    const name = steps[context.item.step];
    if (!name) return failed(`a ${rotation.credential} rotation has no step ${context.item.step + 1}`);
    if (rotation.state !== STATE_OF[name] && !(name === 'finish' && rotation.state === 'rolling-back'))
      await this.options.rotations.update(rotation.id, {
        state: name === 'finish' && rotation.decision === 'rollback' ? 'rolling-back' : STATE_OF[name],
      });
    return this.run(name, context, spec, rotation);
  }

  private async run(
    name: StepName,
    context: StepContext,
    spec: RotationJobSpec,
    rotation: RotationRecord,
  ): Promise<StepResult> {
    const certSlots = spec.certificateSlots ?? DEFAULT_CERTIFICATE_SLOTS;
    const pskSlots = spec.pskSlots ?? DEFAULT_PSK_SLOTS;
    const from = certSlots[rotation.fromSlot]!;
    const to = certSlots[rotation.toSlot]!;
    const rotations = this.options.rotations;
    switch (name) {
      case 'handover': {
        const store = this.options.pskStore;
        if (!store) return failed('no PSK store is configured for PSK rotations', 'no_psk_store');
        await store.put(rotation.newIdentity!, await rotations.newPsk(rotation));
        return { outcome: 'ok', detail: `the new PSK handed to the PSK store as ${rotation.newIdentity}` };
      }
      case 'generate':
        return this.script(context, spec, rotation, generateOps(to), async (answer) => {
          const point = answerField(answer, PERSO_ANSWER_TAG.EC_POINT);
          if (point?.length !== 65) return 'the SIM answered no public key';
          await rotations.update(rotation.id, { publicKey: point });
          return undefined;
        });
      case 'sign': {
        const point = rotation.publicKey;
        if (!point) return failed('no generated key recorded');
        const info = requestInfoFor(rotation.iccid, point);
        return this.script(context, spec, rotation, signOps(to, info), async (answer) => {
          const signature = answerField(answer, PERSO_ANSWER_TAG.SIGNATURE);
          if (!signature) return 'the SIM answered no signature';
          await rotations.update(rotation.id, { certificate: assembleCsr(info, signature) });
          return undefined;
        });
      }
      case 'issue': {
        const ca = this.options.ca;
        if (!ca) return failed('no CA is configured for certificate rotations', 'no_ca');
        if (rotation.newSerial) return { outcome: 'ok', detail: `issued ${rotation.newSerial}` };
        if (!rotation.certificate || !rotation.publicKey) return failed('no signed request recorded');
        let der: Uint8Array;
        try {
          // the request must be for the key the SIM generated in this rotation (else refused)
          der = await ca.issue(rotation.certificate, {
            iccid: rotation.iccid,
            expectedPublicKey: rotation.publicKey,
          });
        } catch (error) {
          // a request the CA refuses is final; anything else (its store busy…) is retried from the lease
          if ((error as Error).name === 'CsrError')
            return failed(`the CA refused the request: ${(error as Error).message}`, 'csr_refused');
          throw error;
        }
        const serial = new X509Certificate(Buffer.from(der)).serialNumber.toUpperCase();
        await rotations.update(rotation.id, { certificate: der, newSerial: serial });
        return { outcome: 'ok', detail: `issued ${serial}` };
      }
      case 'write': {
        const others = await this.options.selectorOf(rotation.iccid, rotation.id);
        if (rotation.credential === 'certificate') {
          if (!rotation.newSerial || !rotation.certificate) return failed('no certificate recorded');
          const selector: CredentialSelector = {
            ...others,
            certificate: { active: credentialOf(from), pending: credentialOf(to) },
          };
          return this.script(
            context,
            spec,
            rotation,
            writeCertificateOps(to, rotation.certificate, selector),
          );
        }
        const psk = await rotations.newPsk(rotation);
        const selector: CredentialSelector = {
          ...others,
          psk: {
            active: pskOf(pskSlots[rotation.fromSlot]!, rotation.oldIdentity!),
            pending: pskOf(pskSlots[rotation.toSlot]!, rotation.newIdentity!),
          },
        };
        return this.script(context, spec, rotation, writePskOps(pskSlots[rotation.toSlot]!, psk, selector));
      }
      case 'await':
        return this.awaitProof(context, spec, rotation);
      case 'finish': {
        const commit = rotation.decision === 'commit';
        const others = await this.options.selectorOf(rotation.iccid, rotation.id);
        if (rotation.credential === 'certificate') {
          const [kept, retired] = commit ? [to, from] : [from, to];
          const selector = { ...others, certificate: { active: credentialOf(kept) } };
          return this.script(context, spec, rotation, finishCertificateOps(retired, selector));
        }
        const [kept, retired] = commit
          ? [rotation.toSlot, rotation.fromSlot]
          : [rotation.fromSlot, rotation.toSlot];
        const identity = commit ? rotation.newIdentity! : rotation.oldIdentity!;
        const selector = { ...others, psk: { active: pskOf(pskSlots[kept]!, identity) } };
        return this.script(context, spec, rotation, finishPskOps(pskSlots[retired]!, selector));
      }
      case 'retire':
        return this.retire(rotation);
    }
  }

  // One personalisation script to the ISD: over SCP80 a RAM script (TAR 000000) as an SCP80 attempt,
  // over SCP81 the same C-APDUs on the SIM's admin queue; `learn` reads the card's answer into the
  // rotation's row (a string: what is wrong with it).
  private async script(
    context: StepContext,
    spec: RotationJobSpec,
    rotation: RotationRecord,
    ops: PersoOperation[],
    learn?: (answer: Uint8Array) => Promise<string | undefined>,
  ): Promise<StepResult> {
    const script = compactPersonalizationScript(IOTSAFE_AID, encodePersoScript(ops));
    let result: StepResult;
    let response: { sw: number; data: Uint8Array };
    if (rotation.via === 'scp81') {
      const scp81 = await runAdminStep(context, rotation.id, decodeCompactScript(script), {
        scp80: this.options.scp80,
        ...(spec.kvn ? { kvn: spec.kvn } : {}),
        ...(spec.porTimeoutMs ? { porTimeoutMs: spec.porTimeoutMs } : {}),
        ...(spec.sessionTimeoutMs ? { sessionTimeoutMs: spec.sessionTimeoutMs } : {}),
        ...(spec.pollMs ? { pollMs: spec.pollMs } : {}),
      });
      const { answer, ...rest } = scp81;
      if (!answer) return rest;
      [result, response] = [rest, answer];
    } else {
      result = await this.options.scp80.runScript(
        context,
        {
          tar: '000000',
          script: Buffer.from(script).toString('hex').toUpperCase(),
          ...(spec.kvn ? { kvn: spec.kvn } : {}),
        },
        spec.porTimeoutMs,
      );
      if (result.outcome !== 'ok') return result;
      const por = result.data as { data?: string } | undefined;
      if (por?.data === undefined)
        return { ...result, outcome: 'failed', detail: 'the PoR carries no response', code: 'no_response' };
      response = decodeCompactResponse(hexToBytes(por.data));
    }
    if (response.sw !== 0x9000)
      return {
        outcome: 'failed',
        detail: `the card refused the script: ${response.sw.toString(16).toUpperCase()}`,
        code: 'card_refused',
      };
    const wrong = await learn?.(response.data);
    if (wrong) return { outcome: 'failed', detail: wrong, code: 'bad_answer' };
    return result;
  }

  private async awaitProof(
    context: StepContext,
    spec: RotationJobSpec,
    rotation: RotationRecord,
  ): Promise<StepResult> {
    const rotations = this.options.rotations;
    for (;;) {
      const now = await rotations.get(rotation.id);
      if (now.decision)
        return { outcome: 'ok', detail: now.decision === 'commit' ? 'proven' : 'not proven in time' };
      if (now.provenAt !== undefined) await rotations.decide(rotation.id, 'commit');
      else if (Date.now() >= now.deadline) await rotations.decide(rotation.id, 'rollback');
      else {
        if (!(await context.stillRunning())) return { outcome: 'skipped', detail: 'the job stopped running' };
        const wait = Math.min(spec.pollMs ?? 200, Math.max(now.deadline - Date.now(), 1));
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  private async retire(rotation: RotationRecord): Promise<StepResult> {
    const commit = rotation.decision === 'commit';
    const rotations = this.options.rotations;
    if (rotation.credential === 'psk') {
      const store = this.options.pskStore;
      await store?.remove(commit ? rotation.oldIdentity! : rotation.newIdentity!);
      await rotations.update(rotation.id, { state: commit ? 'completed' : 'rolled-back', erasePsk: true });
      return { outcome: 'ok', detail: commit ? 'the old PSK retired' : 'the new PSK withdrawn' };
    }
    const ca = this.options.ca;
    const revoked: string[] = [];
    if (ca) {
      // a certificate of this rotation's key other than the one kept (a crash between issuing and
      // recording it leaves one) is revoked too
      const keyHash = rotation.publicKey ? keySha256(rotation.publicKey) : undefined;
      const drop = new Set<string>();
      if (commit && rotation.oldSerial) drop.add(rotation.oldSerial);
      if (!commit && rotation.newSerial) drop.add(rotation.newSerial);
      for (const record of ca.issued)
        if (keyHash && record.keySha256 === keyHash && !(commit && record.serial === rotation.newSerial))
          drop.add(record.serial);
      for (const serial of drop) {
        try {
          ca.revoke(serial, commit ? 'superseded' : 'cessationOfOperation');
          revoked.push(serial);
        } catch (error) {
          // not this CA's (a certificate from the factory's CA): nothing this CA can revoke
          revoked.push(`${serial} (not revoked: ${(error as Error).message})`);
        }
      }
    }
    await rotations.update(rotation.id, {
      state: commit ? 'completed' : 'rolled-back',
      detail: revoked.length ? `revoked ${revoked.join(', ')}` : 'nothing to revoke',
    });
    return { outcome: 'ok', detail: revoked.length ? `revoked ${revoked.join(', ')}` : 'nothing revoked' };
  }
}

const credentialOf = (slot: CertificateSlot) => ({
  key: idBytes(slot.key),
  certificate: idBytes(slot.certificate),
});
const pskOf = (slot: PskSlot, identity: string) => ({
  secret: idBytes(slot.secret),
  identity: utf8(identity),
});

/** SHA-256 of the P-256 SubjectPublicKeyInfo of `point`, hex: how the CA's records name a key. */
export function keySha256(point: Uint8Array): string {
  const spki = Buffer.concat([
    Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'),
    point,
  ]);
  return createHash('sha256').update(spki).digest('hex');
}
