export {
  certificatesOfAnswer,
  checkAnswer,
  type EstEndpoint,
  EstError,
  type EstFailure,
  estRequest,
  RetryLater,
  type RetryPolicy,
} from './client.js';
export {
  activeCredential,
  type CredentialSlot,
  type RenewalPolicy,
  RenewalSlotError,
  type RenewOptions,
  type RenewResult,
  renewalDueAt,
  renewCertificate,
} from './renewal.js';
