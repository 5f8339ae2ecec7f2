export { ApduPump, type GetResponseClass, type PumpOptions, type PumpResponse } from './apdu-pump.js';
export { type ChannelEvents, TerminalChannel } from './bip/channel.js';
export {
  BipTerminal,
  type BipTerminalOptions,
  type BipTerminalStats,
  runBipTerminal,
} from './bip/terminal.js';
export {
  type Candidate,
  candidates,
  type Picked,
  readCredentialSelector,
  withSelectedCredential,
} from './credential-selector.js';
export {
  type CsrRequest,
  createCsr,
  type DistinguishedName,
  encodeEcPublicKeyInfo,
  encodeName,
  encodeP256PublicKeyInfo,
  toPem,
} from './csr.js';
export * from './est/index.js';
export {
  CARD_STATE,
  ClearSecretError,
  GlobalPlatform,
  type GlobalPlatformOptions,
  IOTSAFE_LOAD_FILE_AID,
  IOTSAFE_MODULE_AID,
  ISD_AID,
  requireConfidentiality,
} from './global-platform.js';
export {
  AppletNotFoundError,
  byId,
  byLabel,
  CardBusyError,
  type GeneratedKeyPair,
  type HkdfInput,
  IoTSafe,
  type IoTSafeOptions,
  type PrfInput,
  type SessionNumbers,
  type SignOptions,
  type SignPayload,
} from './iotsafe.js';
export {
  type EarlySignatureInit,
  IoTSafeKeyOps,
  type IoTSafeKeyOpsOptions,
  type OffloadLevel,
} from './iotsafe-keyops.js';
export { openScp03, Scp03Transport, type Scp03TransportOptions } from './scp03-transport.js';
export { CommandFormatter, formatCommand, formatResponse, type TraceSink } from './trace.js';
export {
  type CardLike,
  type LatencyModel,
  MemoryTransport,
  modemSimLatency,
  type Transport,
  TransportError,
} from './transport.js';
export { AtChannel } from './transports/at-channel.js';
export { type AtMode, type AtModemOptions, AtModemTransport } from './transports/at-modem.js';
export {
  type ModemProbe,
  type ModemProbeOptions,
  probeModem,
  probeModemStream,
} from './transports/modem-probe.js';
export { type PcscEvent, type PcscOptions, type PcscReader, PcscTransport } from './transports/pcsc.js';
export { type PinResult, verifyPin } from './transports/pin.js';
export { TcpTransport, type TcpTransportOptions } from './transports/tcp.js';
