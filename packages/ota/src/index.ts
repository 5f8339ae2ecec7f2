export { type ServedApi, serveOtaApi } from './http-api.js';
export { KeyStoreError, type OtaKeySet, OtaKeyStore, type SimRecord } from './key-store.js';
export {
  type OtaResult,
  type OtaScript,
  OtaServer,
  type OtaServerOptions,
  OtaTimeoutError,
} from './server.js';
export { rawShortMessage, SmppError, SmppLink, type SmsLink } from './smpp-link.js';
export { type HandsetCard, TestNetwork, type TestNetworkOptions } from './test-network.js';
