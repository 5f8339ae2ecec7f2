export { trustAnchors, verifyServerChain } from './certificates.js';
export { connect, type HandshakeStats, TlsClientSocket } from './client.js';
export * from './constants.js';
export { connectDtls, DtlsClient, type DtlsHandshakeStats, dtlsTransport } from './dtls/client.js';
export { DtlsError, type DtlsErrorCode } from './dtls/errors.js';
export { DTLS_DEFAULT_SUITES } from './dtls/handshake.js';
export type { DatagramLink, DtlsConnectOptions } from './dtls/options.js';
export { RETRANSMIT_DEFAULTS, type RetransmitOptions } from './dtls/retransmit.js';
export type { DtlsSession } from './dtls/session.js';
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
export { aeadBackend, setNativeAead } from './record/aead.js';
export { Tls13RecordCipher } from './record/protection.js';
export { sessionFromJson, sessionToJson, sessionUsable, type TlsSession } from './session.js';
export { CIPHER_SUITES, type CipherSuiteInfo, suiteByCode } from './suites.js';
export { SUITES_12, type Suite12, suite12ByName } from './tls12/suites.js';
