export {
  CertificateAuthority,
  type CertificateStatus,
  type CreateCaOptions,
  type CrlOptions,
  type IssueOptions,
  REVOCATION_REASONS,
} from './authority.js';
export { MAX_CSR_BYTES, sameKey, type VerifiedCsr, verifyCsr } from './csr.js';
export { CaStoreError, CsrError, type CsrProblem, RevocationError } from './errors.js';
export {
  base64Body,
  certificatesOf,
  certsOnly,
  csrAttributes,
  decodeBase64Body,
  MEDIA,
} from './est/media.js';
export { type EstServer, type EstServerOptions, startEstServer } from './est/server.js';
export {
  type CertificateProfile,
  checkIccid,
  DEVICE_PROFILE,
  keyIdentifier,
  SERVER_PROFILE,
  subjectFromIccid,
} from './profiles.js';
export type { CaRecords, CaStore, CertificateRole, IssuedRecord, RevocationReason } from './store.js';
export { derFromPem, pem } from './x509.js';
