// Network-initiated credential rotation (docs/rotation.md): start one per SIM (a job of kind
// 'rotation' on the job engine), see where each stands, and the cloud side's callbacks that prove a new
// credential — certificateSeen when a TLS peer presented the new certificate, pskSeen when a PSK
// session ran on the new identity. The rotation commits only on that proof, else rolls back at its
// deadline.
import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import type { CredentialSelector } from '@iotsafe/protocol';
import { hexToBytes, utf8 } from '@iotsafe/protocol';
import type { RetryPolicy } from '../jobs/kind.js';
import type { Scp80Kind } from '../jobs/scp80-kind.js';
import { StorageError } from '../storage/engine.js';
import type { OtaStore } from '../storage/store.js';
import {
  type PskStore,
  ROTATION_STEPS,
  type RotationCa,
  type RotationJobSpec,
  RotationKind,
  type SelectorOf,
} from './kind.js';
import {
  FINAL_ROTATION_STATES,
  type RotationCredential,
  type RotationRecord,
  type RotationState,
  RotationStore,
  type RotationVia,
} from './records.js';
import {
  type CertificateSlot,
  DEFAULT_CERTIFICATE_SLOTS,
  DEFAULT_PSK_SLOTS,
  type PskSlot,
} from './scripts.js';

export interface StartRotation {
  /** ICCID or MSISDN. */
  sim: string;
  credential?: RotationCredential;
  via?: RotationVia;
  /** How long the device has to prove the new credential once written (default 1 h). */
  deadlineMs?: number;
  /** The serial of the certificate in use (hex), revoked once the new one is proven. */
  currentSerial?: string;
  /** A PSK rotation: the identity in use. */
  currentIdentity?: string;
  kvn?: number;
  porTimeoutMs?: number;
  /** SCP81: how long an admin session has to post a step's result once its trigger is answered (30 s). */
  sessionTimeoutMs?: number;
  retry?: RetryPolicy;
  createdBy?: string;
}

/** Where a rotation stands, with its job item's progress. */
export interface RotationStatus {
  id: string;
  iccid: string;
  credential: RotationCredential;
  via: RotationVia;
  state: RotationState;
  step: number;
  steps: number;
  deadline: string;
  decision?: 'commit' | 'rollback';
  provenAt?: string;
  oldSerial?: string;
  newSerial?: string;
  oldIdentity?: string;
  newIdentity?: string;
  /** SMS sent and attempts made by the rotation so far (the job's ledger). */
  sms: number;
  attempts: number;
  detail?: string;
  createdAt: string;
}

export interface RotationServiceOptions {
  ca?: RotationCa;
  pskStore?: PskStore;
  certificateSlots?: readonly [CertificateSlot, CertificateSlot];
  pskSlots?: readonly [PskSlot, PskSlot];
  /** How often the await step looks for the proof (default 200 ms). */
  pollMs?: number;
}

export const DEFAULT_ROTATION_DEADLINE_MS = 3_600_000;

export class RotationService {
  readonly rotations: RotationStore;

  constructor(
    private readonly store: OtaStore,
    storageKey: Uint8Array,
    private readonly options: RotationServiceOptions = {},
  ) {
    this.rotations = new RotationStore(store.engine, storageKey);
  }

  /** The job kind a worker runs rotations with (give it to OtaServer's `kinds`). */
  kind(scp80: Scp80Kind): RotationKind {
    return new RotationKind({
      scp80,
      rotations: this.rotations,
      selectorOf: this.selectorOf,
      ...(this.options.ca ? { ca: this.options.ca } : {}),
      ...(this.options.pskStore ? { pskStore: this.options.pskStore } : {}),
    });
  }

  // The selector as the SIM holds it outside rotation `except`: each kind's last ended rotation decides
  private readonly selectorOf: SelectorOf = async (iccid, except) => {
    const selector: CredentialSelector = {};
    const certSlots = this.options.certificateSlots ?? DEFAULT_CERTIFICATE_SLOTS;
    const pskSlots = this.options.pskSlots ?? DEFAULT_PSK_SLOTS;
    for (const r of await this.rotations.list({ iccid, limit: 1000 })) {
      if (r.id === except || (r.state !== 'completed' && r.state !== 'rolled-back')) continue;
      const slot = r.state === 'completed' ? r.toSlot : r.fromSlot;
      if (r.credential === 'certificate' && !selector.certificate) {
        const s = certSlots[slot]!;
        selector.certificate = { active: { key: hexToBytes(s.key), certificate: hexToBytes(s.certificate) } };
      }
      if (r.credential === 'psk' && !selector.psk) {
        const identity = r.state === 'completed' ? r.newIdentity! : r.oldIdentity!;
        selector.psk = { active: { secret: hexToBytes(pskSlots[slot]!.secret), identity: utf8(identity) } };
      }
    }
    return selector;
  };

  /** Starts a rotation; refused (StorageError) when the SIM is unknown or one is already under way. */
  async start(request: StartRotation): Promise<RotationRecord> {
    const credential = request.credential ?? 'certificate';
    const via = request.via ?? 'scp80';
    if (via !== 'scp80' && via !== 'scp81')
      throw new StorageError('a rotation goes over scp80 or scp81', 'invalid');
    const sim = await this.store.sims.get(request.sim);
    // a SIM without the key set (SCP80: the scripts; SCP81: the trigger) is refused now
    await this.store.sims.keySet(sim.iccid, request.kvn ?? 1);
    if (via === 'scp81' && !(sim.pskIdentity && (await this.store.sims.hasPsk(sim.iccid))))
      throw new StorageError(
        `SIM ${sim.iccid} has no SCP81 PSK in the store: rotate it over scp80`,
        'invalid',
      );
    if (credential === 'certificate' && !this.options.ca)
      throw new StorageError('a certificate rotation needs the CA', 'invalid');
    if (credential === 'psk' && !this.options.pskStore)
      throw new StorageError('a PSK rotation needs the cloud PSK store', 'invalid');
    const history = await this.rotations.list({ iccid: sim.iccid, limit: 1000 });
    for (const r of history)
      if (!FINAL_ROTATION_STATES.includes((await this.status(r.id)).state))
        throw new StorageError(`SIM ${sim.iccid} has rotation ${r.id} under way`, 'invalid');
    const last = history.find((r) => r.credential === credential && r.state !== 'failed');
    const fromSlot = last ? (last.state === 'completed' ? last.toSlot : last.fromSlot) : 0;
    const deadlineMs = request.deadlineMs ?? DEFAULT_ROTATION_DEADLINE_MS;
    if (!(Number.isInteger(deadlineMs) && deadlineMs >= 1 && deadlineMs <= 30 * 86_400_000))
      throw new StorageError('the deadline is 1 ms to 30 days', 'invalid');
    const id = randomUUID();
    const common = {
      id,
      iccid: sim.iccid,
      credential,
      via,
      fromSlot,
      toSlot: 1 - fromSlot,
      // counted from the start: generating, issuing and writing take part of it
      deadline: Date.now() + deadlineMs,
      ...(request.createdBy ? { createdBy: request.createdBy } : {}),
    };
    if (credential === 'certificate') {
      const oldSerial =
        last?.state === 'completed'
          ? last.newSerial
          : last?.state === 'rolled-back'
            ? last.oldSerial
            : request.currentSerial;
      await this.rotations.insert({
        ...common,
        ...(oldSerial ? { oldSerial: oldSerial.toUpperCase() } : {}),
      });
    } else {
      const oldIdentity =
        last?.state === 'completed'
          ? last.newIdentity
          : last?.state === 'rolled-back'
            ? last.oldIdentity
            : request.currentIdentity;
      if (!oldIdentity) throw new StorageError('a first PSK rotation needs the identity in use', 'invalid');
      await this.rotations.insert({
        ...common,
        oldIdentity,
        // the operator makes the PSK (32 random bytes) and an identity that names the SIM
        newIdentity: `${sim.iccid}-${randomBytes(4).toString('hex')}`,
        newPsk: new Uint8Array(randomBytes(32)),
      });
    }
    const spec: RotationJobSpec = {
      rotation: id,
      credential,
      ...(request.kvn ? { kvn: request.kvn } : {}),
      ...(request.porTimeoutMs ? { porTimeoutMs: request.porTimeoutMs } : {}),
      ...(request.sessionTimeoutMs ? { sessionTimeoutMs: request.sessionTimeoutMs } : {}),
      ...(request.retry ? { retry: request.retry } : {}),
      ...(this.options.certificateSlots ? { certificateSlots: this.options.certificateSlots } : {}),
      ...(this.options.pskSlots ? { pskSlots: this.options.pskSlots } : {}),
      ...(this.options.pollMs ? { pollMs: this.options.pollMs } : {}),
    };
    await this.store.jobs.create({
      kind: 'rotation',
      spec,
      iccids: [sim.iccid],
      ...(request.createdBy ? { createdBy: request.createdBy } : {}),
      id,
    });
    return this.rotations.get(id);
  }

  async status(id: string): Promise<RotationStatus> {
    const rotation = await this.rotations.get(id);
    const [item] = await this.store.jobs.items(id).catch(() => []);
    const attempts = item ? await this.store.jobs.attemptsOf(id) : [];
    const itemFailed = item && ['failed', 'cancelled', 'expired'].includes(item.state);
    const state: RotationState =
      itemFailed && !FINAL_ROTATION_STATES.includes(rotation.state) ? 'failed' : rotation.state;
    const detail = itemFailed ? (item.detail ?? item.outcome ?? undefined) : rotation.detail;
    return {
      id,
      iccid: rotation.iccid,
      credential: rotation.credential,
      via: rotation.via,
      state,
      step: Math.min(
        (item?.step ?? 0) + (item?.state === 'done' ? 1 : 0),
        ROTATION_STEPS[rotation.credential].length,
      ),
      steps: ROTATION_STEPS[rotation.credential].length,
      deadline: new Date(rotation.deadline).toISOString(),
      ...(rotation.decision ? { decision: rotation.decision } : {}),
      ...(rotation.provenAt ? { provenAt: new Date(rotation.provenAt).toISOString() } : {}),
      ...(rotation.oldSerial ? { oldSerial: rotation.oldSerial } : {}),
      ...(rotation.newSerial ? { newSerial: rotation.newSerial } : {}),
      ...(rotation.oldIdentity ? { oldIdentity: rotation.oldIdentity } : {}),
      ...(rotation.newIdentity ? { newIdentity: rotation.newIdentity } : {}),
      sms: attempts.reduce((n, a) => n + a.smsCount, 0),
      attempts: attempts.length,
      ...(detail ? { detail } : {}),
      createdAt: new Date(rotation.createdAt).toISOString(),
    };
  }

  async list(options: { sim?: string; limit?: number } = {}): Promise<RotationStatus[]> {
    const iccid = options.sim ? (await this.store.sims.get(options.sim)).iccid : undefined;
    const rows = await this.rotations.list({
      ...(iccid ? { iccid } : {}),
      ...(options.limit ? { limit: options.limit } : {}),
    });
    return Promise.all(rows.map((r) => this.status(r.id)));
  }

  /** Waits until the rotation has ended (completed, rolled back or failed). */
  async waitFor(id: string, pollMs = 50): Promise<RotationStatus> {
    for (;;) {
      const status = await this.status(id);
      if (FINAL_ROTATION_STATES.includes(status.state)) return status;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** The cloud side accepted a TLS peer with `certificate` (DER or parsed): the proof of its rotation. */
  certificateSeen(certificate: Uint8Array | X509Certificate): Promise<string | undefined> {
    const parsed =
      certificate instanceof X509Certificate ? certificate : new X509Certificate(Buffer.from(certificate));
    return this.rotations.prove('new_serial', parsed.serialNumber.toUpperCase());
  }

  /** The cloud side ran a PSK session with `identity`: the proof of its rotation. */
  pskSeen(identity: string): Promise<string | undefined> {
    return this.rotations.prove('new_identity', identity);
  }
}
