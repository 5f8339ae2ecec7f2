export * from './constants.js';
export { TlsError } from './errors.js';
export { CIPHER_SUITES, RecordProtection, suiteByCode, type CipherSuiteInfo } from './aead.js';
export { Transcript, deriveSecret, emptyHash, expandLabel, finishedVerifyData, trafficKeys } from './key-schedule.js';
export { SoftwareKeyOps, type KeyOps, type KeyShare } from './keyops.js';
export { trustAnchors, verifyServerChain } from './certificates.js';
export { TlsClientSocket, connect, type ConnectOptions } from './client.js';
