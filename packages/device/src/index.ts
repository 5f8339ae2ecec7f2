export { MemoryTransport, TransportError, type Transport, type CardLike } from './transport.js';
export { ApduPump, type PumpOptions, type PumpResponse, type GetResponseClass } from './apdu-pump.js';
export { formatCommand, formatResponse, type TraceSink } from './trace.js';
export {
  IoTSafe,
  AppletNotFoundError,
  byId,
  byLabel,
  type IoTSafeOptions,
  type SessionNumbers,
  type SignOptions,
  type SignPayload,
  type PrfInput,
  type HkdfInput,
  type GeneratedKeyPair,
} from './iotsafe.js';
export { createCsr, encodeName, encodeP256PublicKeyInfo, toPem, type CsrRequest, type DistinguishedName } from './csr.js';
