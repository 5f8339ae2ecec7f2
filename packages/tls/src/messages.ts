// Handshake messages (RFC 8446 §4): each one a type with a marshal and an unmarshal function, so the
// client, the scripted test servers and a server role share one codec (Go's handshake_messages.go is
// the model). The hellos are in hello.ts, the TLS 1.2-only messages in tls12/messages.ts. Unmarshal
// takes the body (no header), marshal returns the whole message.
import { concatBytes, utf8 } from '@iotsafe/protocol';
import { EXTENSION, HANDSHAKE_TYPE } from './constants.js';
import { tlsFail } from './errors.js';
import {
  alpnBody,
  extension,
  readEmpty,
  readExtensions,
  readSelectedAlpn,
  readU16List,
  u16List,
} from './extensions.js';
import { Reader, u8, u16, u24, u32, vec8, vec16, vec24 } from './wire.js';

/** Handshake header: msg_type(1) ‖ length(3) ‖ body (§4). */
export function handshakeMessage(type: number, body: Uint8Array): Uint8Array {
  return concatBytes(u8(type), u24(body.length), body);
}

// --- EncryptedExtensions (§4.3.1) --------------------------------------------------------------------

export interface EncryptedExtensions {
  alpn?: string;
  /** The server used the server_name (an empty extension, RFC 6066 §3). */
  serverNameAcknowledged?: boolean;
  /** The server's group preference (§4.2.7): information only. */
  supportedGroups?: readonly number[];
  extensionTypes?: readonly number[];
}

export function marshalEncryptedExtensions(m: EncryptedExtensions): Uint8Array {
  const e: Uint8Array[] = [];
  if (m.serverNameAcknowledged) e.push(extension(EXTENSION.SERVER_NAME, new Uint8Array(0)));
  if (m.supportedGroups) e.push(extension(EXTENSION.SUPPORTED_GROUPS, vec16(u16List(m.supportedGroups))));
  if (m.alpn !== undefined) e.push(extension(EXTENSION.ALPN, alpnBody([m.alpn])));
  return handshakeMessage(HANDSHAKE_TYPE.ENCRYPTED_EXTENSIONS, vec16(concatBytes(...e)));
}

export function unmarshalEncryptedExtensions(body: Uint8Array): EncryptedExtensions {
  const r = new Reader(body);
  if (r.remaining < 2) tlsFail('decode_error', 'EncryptedExtensions without its list');
  const e = readExtensions(r);
  r.end();
  const out: EncryptedExtensions = { extensionTypes: [...e.keys()] };
  const alpn = e.get(EXTENSION.ALPN);
  if (alpn) out.alpn = readSelectedAlpn(alpn);
  if (readEmpty(e.get(EXTENSION.SERVER_NAME))) out.serverNameAcknowledged = true;
  const groups = e.get(EXTENSION.SUPPORTED_GROUPS);
  if (groups) out.supportedGroups = readU16List(groups, 2);
  return out;
}

// --- CertificateRequest (§4.3.2) ---------------------------------------------------------------------

export interface CertificateRequest {
  context: Uint8Array;
  signatureAlgorithms: readonly number[];
  signatureAlgorithmsCert?: readonly number[];
  /** certificate_authorities: distinguished names (DER) of the CAs the server accepts (§4.2.4). */
  certificateAuthorities?: readonly Uint8Array[];
}

export const distinguishedNames = (names: readonly Uint8Array[]) =>
  vec16(concatBytes(...names.map((n) => vec16(n))));

export function readDistinguishedNames(body: Uint8Array): Uint8Array[] {
  const list = new Reader(body);
  const out: Uint8Array[] = [];
  while (list.remaining > 0) out.push(list.vector16());
  return out;
}

export function marshalCertificateRequest(m: CertificateRequest): Uint8Array {
  const e = [extension(EXTENSION.SIGNATURE_ALGORITHMS, vec16(u16List(m.signatureAlgorithms)))];
  if (m.signatureAlgorithmsCert)
    e.push(extension(EXTENSION.SIGNATURE_ALGORITHMS_CERT, vec16(u16List(m.signatureAlgorithmsCert))));
  if (m.certificateAuthorities)
    e.push(extension(EXTENSION.CERTIFICATE_AUTHORITIES, distinguishedNames(m.certificateAuthorities)));
  return handshakeMessage(
    HANDSHAKE_TYPE.CERTIFICATE_REQUEST,
    concatBytes(vec8(m.context), vec16(concatBytes(...e))),
  );
}

export function unmarshalCertificateRequest(body: Uint8Array): CertificateRequest {
  const r = new Reader(body);
  const context = r.vector8();
  const e = readExtensions(r);
  r.end();
  const algorithms = e.get(EXTENSION.SIGNATURE_ALGORITHMS);
  if (!algorithms) return tlsFail('missing_extension', 'CertificateRequest without signature_algorithms');
  const out: CertificateRequest = { context, signatureAlgorithms: readU16List(algorithms, 2) };
  const certAlgorithms = e.get(EXTENSION.SIGNATURE_ALGORITHMS_CERT);
  if (certAlgorithms) out.signatureAlgorithmsCert = readU16List(certAlgorithms, 2);
  const authorities = e.get(EXTENSION.CERTIFICATE_AUTHORITIES);
  if (authorities) {
    const a = new Reader(authorities);
    out.certificateAuthorities = readDistinguishedNames(a.vector16());
    a.end();
  }
  return out;
}

// --- Certificate, CertificateVerify, Finished (§4.4) -------------------------------------------------

export interface Certificate {
  context: Uint8Array;
  /** DER certificates, leaf first; per-certificate extensions (OCSP, SCT) are read and dropped. */
  chain: readonly Uint8Array[];
}

export function marshalCertificate(m: Certificate): Uint8Array {
  const entries = m.chain.map((cert) => concatBytes(vec24(cert), vec16(new Uint8Array(0))));
  return handshakeMessage(
    HANDSHAKE_TYPE.CERTIFICATE,
    concatBytes(vec8(m.context), vec24(concatBytes(...entries))),
  );
}

export function unmarshalCertificate(body: Uint8Array): Certificate {
  const r = new Reader(body);
  const context = r.vector8();
  const list = new Reader(r.vector24());
  r.end();
  const chain: Uint8Array[] = [];
  while (list.remaining > 0) {
    const der = list.vector24();
    if (der.length === 0) tlsFail('decode_error', 'an empty certificate in the list');
    chain.push(der);
    list.vector16();
  }
  return { context, chain };
}

export interface CertificateVerify {
  scheme: number;
  signature: Uint8Array;
}

/** CertificateVerify (TLS 1.3 §4.4.3; TLS 1.2 §7.4.8 has the same shape with its scheme codes). */
export function marshalCertificateVerify(m: CertificateVerify): Uint8Array {
  return handshakeMessage(HANDSHAKE_TYPE.CERTIFICATE_VERIFY, concatBytes(u16(m.scheme), vec16(m.signature)));
}

export function unmarshalCertificateVerify(body: Uint8Array): CertificateVerify {
  const r = new Reader(body);
  const scheme = r.u16();
  const signature = r.vector16();
  r.end();
  return { scheme, signature };
}

export const marshalFinished = (verifyData: Uint8Array) =>
  handshakeMessage(HANDSHAKE_TYPE.FINISHED, verifyData);

/** The content a CertificateVerify signature covers (§4.4.3). */
export function certificateVerifyContent(side: 'client' | 'server', transcriptHash: Uint8Array): Uint8Array {
  return concatBytes(
    new Uint8Array(64).fill(0x20),
    utf8(`TLS 1.3, ${side} CertificateVerify`),
    u8(0),
    transcriptHash,
  );
}

// --- post-handshake: NewSessionTicket (§4.6.1), KeyUpdate (§4.6.3) -----------------------------------

export interface NewSessionTicket {
  lifetimeSeconds: number;
  ageAdd: number;
  nonce: Uint8Array;
  ticket: Uint8Array;
}

export function marshalNewSessionTicket(m: NewSessionTicket): Uint8Array {
  return handshakeMessage(
    HANDSHAKE_TYPE.NEW_SESSION_TICKET,
    concatBytes(
      u32(m.lifetimeSeconds),
      u32(m.ageAdd),
      vec8(m.nonce),
      vec16(m.ticket),
      vec16(new Uint8Array(0)),
    ),
  );
}

/** NewSessionTicket; its extensions (early_data) are read and not used. */
export function unmarshalNewSessionTicket(body: Uint8Array): NewSessionTicket {
  const r = new Reader(body);
  const lifetimeSeconds = r.u32();
  const ageAdd = r.u32();
  const nonce = r.vector8();
  const ticket = r.vector16();
  if (ticket.length === 0) tlsFail('decode_error', 'empty session ticket');
  r.vector16();
  r.end();
  return { lifetimeSeconds, ageAdd, nonce, ticket };
}

export function marshalKeyUpdate(requestUpdate: boolean): Uint8Array {
  return handshakeMessage(HANDSHAKE_TYPE.KEY_UPDATE, u8(requestUpdate ? 1 : 0));
}

/** KeyUpdate: update_not_requested(0) or update_requested(1); anything else is illegal_parameter. */
export function unmarshalKeyUpdate(body: Uint8Array): { requestUpdate: boolean } {
  const r = new Reader(body);
  const value = r.u8();
  r.end();
  if (value > 1) tlsFail('illegal_parameter', `KeyUpdate request_update ${value}`);
  return { requestUpdate: value === 1 };
}
