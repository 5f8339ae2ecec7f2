export { CIPHER_SUITES, type CipherSuiteInfo, RecordProtection, suiteByCode } from './aead.js';
export { trustAnchors, verifyServerChain } from './certificates.js';
export { type ConnectOptions, connect, TlsClientSocket } from './client.js';
export * from './constants.js';
export { TlsError } from './errors.js';
export {
  deriveSecret,
  emptyHash,
  expandLabel,
  finishedVerifyData,
  Transcript,
  trafficKeys,
} from './key-schedule.js';
export {
  groupsForKey,
  type KeyOps,
  type KeyShare,
  type PskProvider,
  SoftwareKeyOps,
  schemesForCurve,
} from './keyops.js';
export { sessionFromJson, sessionToJson, sessionUsable, type TlsSession } from './session.js';
