// TLS 1.2 handshake messages that differ from TLS 1.3 (RFC 5246 §7.4, RFC 8422 §5, RFC 4279 §2,
// RFC 5489 §2): Certificate, ServerKeyExchange, CertificateRequest, ClientKeyExchange.
import { concatBytes } from '@iotsafe/protocol';
import { HANDSHAKE_TYPE } from '../constants.js';
import { tlsFail } from '../errors.js';
import { handshakeMessage } from '../messages.js';
import { Reader, vec8, vec16, vec24 } from '../wire.js';
import type { KeyExchange12 } from './suites.js';

export const HANDSHAKE_12 = {
  HELLO_REQUEST: 0,
  SERVER_KEY_EXCHANGE: 12,
  SERVER_HELLO_DONE: 14,
  CLIENT_KEY_EXCHANGE: 16,
} as const;

export function unmarshalCertificate12(body: Uint8Array): Uint8Array[] {
  const r = new Reader(body);
  const list = new Reader(r.vector24());
  r.end();
  const chain: Uint8Array[] = [];
  while (list.remaining > 0) chain.push(list.vector24());
  return chain;
}

export function marshalCertificate12(chain: readonly Uint8Array[]): Uint8Array {
  return handshakeMessage(HANDSHAKE_TYPE.CERTIFICATE, vec24(concatBytes(...chain.map((c) => vec24(c)))));
}

export interface ServerKeyExchange {
  pskIdentityHint?: Uint8Array;
  /** Named curve and the server's point (ECDHE suites). */
  group?: number;
  publicKey?: Uint8Array;
  /** The bytes a signature covers after the randoms: ServerECDHParams (RFC 8422 §5.4). */
  params?: Uint8Array;
  scheme?: number;
  signature?: Uint8Array;
}

export function unmarshalServerKeyExchange(body: Uint8Array, kx: KeyExchange12): ServerKeyExchange {
  const r = new Reader(body);
  const out: ServerKeyExchange = {};
  if (kx === 'psk' || kx === 'ecdhe_psk') out.pskIdentityHint = r.vector16();
  if (kx !== 'psk') {
    const start = body.length - r.remaining;
    if (r.u8() !== 3) tlsFail('illegal_parameter', 'only named curves are supported');
    out.group = r.u16();
    out.publicKey = r.vector8();
    out.params = body.subarray(start, body.length - r.remaining);
  }
  if (kx === 'ecdhe_ecdsa') {
    out.scheme = r.u16();
    out.signature = r.vector16();
  }
  r.end();
  return out;
}

export interface CertificateRequest12 {
  certificateTypes: Uint8Array;
  signatureSchemes: number[];
}

export function unmarshalCertificateRequest12(body: Uint8Array): CertificateRequest12 {
  const r = new Reader(body);
  const certificateTypes = r.vector8();
  const algorithms = new Reader(r.vector16());
  r.vector16(); // certificate_authorities
  r.end();
  const signatureSchemes: number[] = [];
  while (algorithms.remaining > 0) signatureSchemes.push(algorithms.u16());
  return { certificateTypes, signatureSchemes };
}

export function marshalClientKeyExchange(
  kx: KeyExchange12,
  publicKey?: Uint8Array,
  identity?: Uint8Array,
): Uint8Array {
  const parts: Uint8Array[] = [];
  if (kx !== 'ecdhe_ecdsa') parts.push(vec16(identity ?? new Uint8Array(0)));
  if (kx !== 'psk') parts.push(vec8(publicKey ?? new Uint8Array(0)));
  return handshakeMessage(HANDSHAKE_12.CLIENT_KEY_EXCHANGE, concatBytes(...parts));
}
