export {
  keySha256,
  type PskStore,
  parseRotationJobSpec,
  ROTATION_STEPS,
  type RotationCa,
  type RotationJobSpec,
  RotationKind,
} from './kind.js';
export {
  FINAL_ROTATION_STATES,
  type RotationCredential,
  type RotationRecord,
  type RotationState,
  RotationStore,
  type RotationVia,
} from './records.js';
export {
  type CertificateSlot,
  DEFAULT_CERTIFICATE_SLOTS,
  DEFAULT_PSK_SLOTS,
  type PskSlot,
  requestInfoFor,
} from './scripts.js';
export {
  DEFAULT_ROTATION_DEADLINE_MS,
  RotationService,
  type RotationServiceOptions,
  type RotationStatus,
  type StartRotation,
} from './service.js';
