// @iotsafe/coap: a CoAP client (RFC 7252, RFC 7959, RFC 7641) over any DatagramTransport.
export { type BlockValue, blockSize, decodeBlock, encodeBlock, MAX_SZX, sizeExponent } from './block.js';
export {
  type BlockwiseSettings,
  type Exchange,
  fetchBlock2,
  type RequestParts,
  sendBlock1,
} from './blockwise.js';
export {
  CoapClient,
  type CoapClientOptions,
  type ConnectOptions,
  type RequestOptions,
} from './client.js';
export {
  code,
  codeToString,
  describeCode,
  isRequestCode,
  isResponseCode,
  isSuccessCode,
  Method,
  type MethodName,
  methodCode,
  ResponseCode,
} from './codes.js';
export { contentFormatName, knownContentFormats, parseContentFormat } from './content-format.js';
export { DuplicateCache } from './duplicates.js';
export {
  CoapAbortError,
  CoapBlockwiseError,
  CoapError,
  CoapFormatError,
  CoapResetError,
  CoapResponseError,
  CoapsTransportRequiredError,
  CoapTimeoutError,
  CoapUriError,
} from './errors.js';
export {
  type CoapMessage,
  decodeMessage,
  emptyMessage,
  encodeMessage,
  MESSAGE_TYPE_NAMES,
  MessageType,
} from './message.js';
export { type Confirmable, MessageLayer, type MessageLayerOptions, type Verdict } from './message-layer.js';
export { Observation } from './observation.js';
export { isFresher, OBSERVE_FRESHNESS_WINDOW_MS, OBSERVE_MODULUS } from './observe.js';
export {
  type CoapOption,
  decodeString,
  decodeUint,
  encodeUint,
  findOption,
  findOptions,
  findUintOption,
  firstUnrecognizedCritical,
  isCritical,
  isNoCacheKey,
  isUnsafe,
  OptionNumber,
  optionDefinition,
  optionName,
  stringOption,
  uintOption,
  withoutOptions,
} from './options.js';
export { CoapResponse } from './response.js';
export {
  describeMessage,
  describeOption,
  formatTraceEvent,
  type TraceEvent,
  type TraceKind,
} from './trace.js';
export {
  DEFAULT_TRANSMISSION,
  derivedTimes,
  type Retransmission,
  retransmit,
  type TransmissionParameters,
  transmissionParameters,
} from './transmission.js';
export { type DatagramPeer, type DatagramTransport, UdpTransport } from './transport.js';
export { COAP_PORT, COAPS_PORT, type CoapUri, parseCoapUri, resourceOptions } from './uri.js';
