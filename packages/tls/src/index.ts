export { trustAnchors, verifyServerChain } from './certificates.js';
export { connect, type HandshakeStats, TlsClientSocket } from './client.js';
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
  checkKeyShare,
  ECDSA_SCHEME_HASH,
  groupsForKey,
  HOST_GROUPS,
  hostKeyShare,
  type KeyOps,
  type KeyShare,
  type PskProvider,
  SoftwareKeyOps,
  schemes12ForCurve,
  schemesForCurve,
} from './keyops.js';
export type { ConnectOptions, TlsVersionName } from './options.js';
export { Tls13RecordCipher } from './record/protection.js';
export { sessionFromJson, sessionToJson, sessionUsable, type TlsSession } from './session.js';
export { CIPHER_SUITES, type CipherSuiteInfo, suiteByCode } from './suites.js';
export { SUITES_12, type Suite12, suite12ByName } from './tls12/suites.js';
