export {
  type ApiError,
  buildOtaApi,
  isLoopback,
  MIN_TOKEN_LENGTH,
  OtaApiConfigError,
  type OtaApiOptions,
  type ServedApi,
  serveOtaApi,
} from './http-api.js';
export {
  KeyStoreError,
  type KeyStoreErrorCode,
  type OtaKeySet,
  OtaKeyStore,
  type SimRecord,
} from './key-store.js';
export {
  DEFAULT_MAX_SMS_PER_SCRIPT,
  OtaLimitError,
  type OtaResult,
  type OtaScript,
  OtaServer,
  type OtaServerOptions,
  OtaTimeoutError,
} from './server.js';
export { SmppLink, type SmppLinkOptions, type SmsLink } from './smpp-link.js';
export {
  type AddressingOptions,
  commandStatusText,
  decodePdu,
  ESME,
  SMPP_INTERFACE_VERSION_34,
  type SmppAddress,
  SmppError,
  SmppPduError,
  shortMessageOf,
  smppAddress,
} from './smpp-pdu.js';
export { checkBind, checkSubmitSm, type DataCodingPolicy, deliveredDcs } from './smsc-checks.js';
export {
  type BindRecord,
  type HandsetCard,
  type SubmitFault,
  type SubmitRecord,
  TestNetwork,
  type TestNetworkOptions,
} from './test-network.js';
