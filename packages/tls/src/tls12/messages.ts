// TLS 1.2 handshake messages that TLS 1.3 does not have, or has in another shape (RFC 5246 §7.4,
// RFC 8422 §5, RFC 4279 §2, RFC 5489 §2), each with a marshal and an unmarshal function: Certificate,
// ServerKeyExchange, CertificateRequest, ServerHelloDone, ClientKeyExchange, HelloRequest.
import { concatBytes } from '@iotsafe/protocol';
import { HANDSHAKE_TYPE } from '../constants.js';
import { tlsFail } from '../errors.js';
import { distinguishedNames, handshakeMessage, readDistinguishedNames } from '../messages.js';
import { Reader, u8, u16, vec8, vec16, vec24 } from '../wire.js';
import type { KeyExchange12 } from './suites.js';

export function marshalCertificate12(chain: readonly Uint8Array[]): Uint8Array {
  return handshakeMessage(HANDSHAKE_TYPE.CERTIFICATE, vec24(concatBytes(...chain.map((c) => vec24(c)))));
}

export function unmarshalCertificate12(body: Uint8Array): Uint8Array[] {
  const r = new Reader(body);
  const list = new Reader(r.vector24());
  r.end();
  const chain: Uint8Array[] = [];
  while (list.remaining > 0) {
    const der = list.vector24();
    if (der.length === 0) tlsFail('decode_error', 'an empty certificate in the list');
    chain.push(der);
  }
  return chain;
}

/** ECCurveType named_curve (RFC 8422 §5.4): the only one in use. */
const NAMED_CURVE = 3;

export interface ServerKeyExchange {
  /** PSK and ECDHE-PSK suites (RFC 4279 §2, RFC 5489 §2). */
  pskIdentityHint?: Uint8Array;
  /** ECDHE suites: the named curve and the server's point. */
  group?: number;
  publicKey?: Uint8Array;
  /** Signed ECDHE suites (ECDSA, RSA): the scheme and the signature over randoms ‖ params. */
  scheme?: number;
  signature?: Uint8Array;
}

/** ServerECDHParams (RFC 8422 §5.4): what the signature covers after client_random ‖ server_random. */
export const serverEcdhParams = (group: number, publicKey: Uint8Array) =>
  concatBytes(u8(NAMED_CURVE), u16(group), vec8(publicKey));

export const isSignedKeyExchange = (kx: KeyExchange12) => kx === 'ecdhe_ecdsa' || kx === 'ecdhe_rsa';

export function marshalServerKeyExchange(m: ServerKeyExchange, kx: KeyExchange12): Uint8Array {
  const parts: Uint8Array[] = [];
  if (kx === 'psk' || kx === 'ecdhe_psk') parts.push(vec16(m.pskIdentityHint ?? new Uint8Array(0)));
  if (kx !== 'psk') parts.push(serverEcdhParams(m.group!, m.publicKey!));
  if (isSignedKeyExchange(kx)) parts.push(u16(m.scheme!), vec16(m.signature!));
  return handshakeMessage(HANDSHAKE_TYPE.SERVER_KEY_EXCHANGE, concatBytes(...parts));
}

export function unmarshalServerKeyExchange(body: Uint8Array, kx: KeyExchange12): ServerKeyExchange {
  const r = new Reader(body);
  const out: ServerKeyExchange = {};
  if (kx === 'psk' || kx === 'ecdhe_psk') out.pskIdentityHint = r.vector16();
  if (kx !== 'psk') {
    if (r.u8() !== NAMED_CURVE) tlsFail('illegal_parameter', 'only named curves are supported');
    out.group = r.u16();
    out.publicKey = r.vector8();
    if (out.publicKey.length === 0) tlsFail('decode_error', 'empty ECDHE public key');
  }
  if (isSignedKeyExchange(kx)) {
    out.scheme = r.u16();
    out.signature = r.vector16();
  }
  r.end();
  return out;
}

export interface CertificateRequest12 {
  /** ClientCertificateType list (RFC 5246 §7.4.4): 1 rsa_sign, 64 ecdsa_sign (RFC 8422 §5.5). */
  certificateTypes: readonly number[];
  signatureAlgorithms: readonly number[];
  certificateAuthorities: readonly Uint8Array[];
}

export function marshalCertificateRequest12(m: CertificateRequest12): Uint8Array {
  return handshakeMessage(
    HANDSHAKE_TYPE.CERTIFICATE_REQUEST,
    concatBytes(
      vec8(Uint8Array.from(m.certificateTypes)),
      vec16(concatBytes(...m.signatureAlgorithms.map(u16))),
      distinguishedNames(m.certificateAuthorities),
    ),
  );
}

export function unmarshalCertificateRequest12(body: Uint8Array): CertificateRequest12 {
  const r = new Reader(body);
  const certificateTypes = [...r.vector8()];
  const algorithms = new Reader(r.vector16());
  const certificateAuthorities = readDistinguishedNames(r.vector16());
  r.end();
  if (algorithms.remaining % 2 !== 0) tlsFail('decode_error', 'odd-length signature algorithm list');
  const signatureAlgorithms: number[] = [];
  while (algorithms.remaining > 0) signatureAlgorithms.push(algorithms.u16());
  return { certificateTypes, signatureAlgorithms, certificateAuthorities };
}

export const marshalServerHelloDone = () =>
  handshakeMessage(HANDSHAKE_TYPE.SERVER_HELLO_DONE, new Uint8Array(0));
export const marshalHelloRequest = () => handshakeMessage(HANDSHAKE_TYPE.HELLO_REQUEST, new Uint8Array(0));

/** ServerHelloDone and HelloRequest have empty bodies (RFC 5246 §7.4.1.1, §7.4.5). */
export function unmarshalEmpty(body: Uint8Array, what: string): void {
  if (body.length !== 0) tlsFail('decode_error', `${what} with a body`);
}

export interface ClientKeyExchange {
  /** PSK suites: the identity (RFC 4279 §2). */
  pskIdentity?: Uint8Array;
  /** ECDHE suites: the client's point (RFC 8422 §5.7). */
  publicKey?: Uint8Array;
}

export function marshalClientKeyExchange(m: ClientKeyExchange, kx: KeyExchange12): Uint8Array {
  const parts: Uint8Array[] = [];
  if (kx === 'psk' || kx === 'ecdhe_psk') parts.push(vec16(m.pskIdentity ?? new Uint8Array(0)));
  if (kx !== 'psk') parts.push(vec8(m.publicKey ?? new Uint8Array(0)));
  return handshakeMessage(HANDSHAKE_TYPE.CLIENT_KEY_EXCHANGE, concatBytes(...parts));
}

export function unmarshalClientKeyExchange(body: Uint8Array, kx: KeyExchange12): ClientKeyExchange {
  const r = new Reader(body);
  const out: ClientKeyExchange = {};
  if (kx === 'psk' || kx === 'ecdhe_psk') out.pskIdentity = r.vector16();
  if (kx !== 'psk') out.publicKey = r.vector8();
  r.end();
  return out;
}
