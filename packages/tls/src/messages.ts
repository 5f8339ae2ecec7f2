// TLS 1.3 handshake messages (RFC 8446 §4): one marshal or unmarshal function per message.
import { concatBytes, utf8 } from '@iotsafe/protocol';
import { EXTENSION, HANDSHAKE_TYPE, TLS13 } from './constants.js';
import { tlsFail } from './errors.js';
import { Reader, u8, u16, u24, u32, vec8, vec16, vec24 } from './wire.js';

/** Handshake header: msg_type(1) ‖ length(3) ‖ body. */
export function handshakeMessage(type: number, body: Uint8Array): Uint8Array {
  return concatBytes(u8(type), u24(body.length), body);
}

const extension = (type: number, body: Uint8Array) => concatBytes(u16(type), vec16(body));

export interface ClientHelloParams {
  random: Uint8Array;
  sessionId: Uint8Array;
  cipherSuites: readonly number[];
  /** supported_versions, best first; [0x0303] alone sends a plain TLS 1.2 ClientHello. */
  versions: readonly number[];
  serverName?: string;
  groups: readonly number[];
  /** TLS 1.3 key shares (omitted when TLS 1.3 is not offered). */
  keyShares: readonly { group: number; publicKey: Uint8Array }[];
  signatureSchemes: readonly number[];
  alpn?: readonly string[];
  cookie?: Uint8Array;
  /**
   * PSK offer (TLS 1.3): identity, obfuscated_ticket_age (0 for an external PSK, §4.2.11), key exchange
   * modes, and the binder length (the binder is patched in later).
   */
  psk?: { identity: Uint8Array; obfuscatedAge: number; modes: readonly number[]; binderLength: number };
}

const EXTENDED_MASTER_SECRET = 0x0017;
const EC_POINT_FORMATS = 0x000b;
const RENEGOTIATION_INFO = 0xff01;

export function marshalClientHello(p: ClientHelloParams): Uint8Array {
  const offers13 = p.versions.includes(TLS13);
  const offers12 = p.versions.includes(0x0303);
  const extensions: Uint8Array[] = [];
  if (p.serverName) {
    extensions.push(extension(EXTENSION.SERVER_NAME, vec16(concatBytes(u8(0), vec16(utf8(p.serverName))))));
  }
  if (offers13)
    extensions.push(extension(EXTENSION.SUPPORTED_VERSIONS, vec8(concatBytes(...p.versions.map(u16)))));
  extensions.push(extension(EXTENSION.SUPPORTED_GROUPS, vec16(concatBytes(...p.groups.map(u16)))));
  extensions.push(
    extension(EXTENSION.SIGNATURE_ALGORITHMS, vec16(concatBytes(...p.signatureSchemes.map(u16)))),
  );
  if (offers12) {
    // TLS 1.2: uncompressed points (RFC 8422 §5.1.2), extended master secret (RFC 7627), secure
    // renegotiation signalling with an empty renegotiated_connection (RFC 5746 §3.4).
    extensions.push(extension(EC_POINT_FORMATS, vec8(u8(0))));
    extensions.push(extension(EXTENDED_MASTER_SECRET, new Uint8Array(0)));
    extensions.push(extension(RENEGOTIATION_INFO, vec8(new Uint8Array(0))));
  }
  if (offers13) {
    extensions.push(
      extension(
        EXTENSION.KEY_SHARE,
        vec16(concatBytes(...p.keyShares.map((k) => concatBytes(u16(k.group), vec16(k.publicKey))))),
      ),
    );
  }
  if (p.alpn?.length)
    extensions.push(extension(EXTENSION.ALPN, vec16(concatBytes(...p.alpn.map((a) => vec8(utf8(a)))))));
  if (p.cookie) extensions.push(extension(EXTENSION.COOKIE, vec16(p.cookie)));
  if (p.psk && offers13) {
    extensions.push(extension(EXTENSION.PSK_KEY_EXCHANGE_MODES, vec8(Uint8Array.from(p.psk.modes))));
    // pre_shared_key is the last extension (§4.2.11): identities, then binders (zeros until patched).
    const identities = vec16(concatBytes(vec16(p.psk.identity), u32(p.psk.obfuscatedAge)));
    const binders = vec16(vec8(new Uint8Array(p.psk.binderLength)));
    extensions.push(extension(EXTENSION.PRE_SHARED_KEY, concatBytes(identities, binders)));
  }
  const body = concatBytes(
    u16(0x0303),
    p.random,
    vec8(p.sessionId),
    vec16(concatBytes(...p.cipherSuites.map(u16))),
    vec8(u8(0)),
    vec16(concatBytes(...extensions)),
  );
  return handshakeMessage(HANDSHAKE_TYPE.CLIENT_HELLO, body);
}

/** TLS 1.2 ServerHello extensions the client checks: EMS, secure renegotiation, ALPN. */
export function tls12Extensions(extensions: Map<number, Uint8Array>): {
  extendedMasterSecret: boolean;
  secureRenegotiation: boolean;
  alpn?: string;
} {
  const renegotiation = extensions.get(RENEGOTIATION_INFO);
  if (renegotiation && !(renegotiation.length === 1 && renegotiation[0] === 0))
    tlsFail('handshake_failure', 'bad renegotiation_info');
  const alpnBody = extensions.get(EXTENSION.ALPN);
  let alpn: string | undefined;
  if (alpnBody) {
    const list = new Reader(new Reader(alpnBody).vector16());
    alpn = new TextDecoder().decode(list.vector8());
  }
  return {
    extendedMasterSecret: extensions.has(EXTENDED_MASTER_SECRET),
    secureRenegotiation: renegotiation !== undefined,
    ...(alpn !== undefined ? { alpn } : {}),
  };
}

function parseExtensions(r: Reader): Map<number, Uint8Array> {
  const map = new Map<number, Uint8Array>();
  const list = new Reader(r.vector16());
  while (list.remaining > 0) {
    const type = list.u16();
    const body = list.vector16();
    if (map.has(type)) tlsFail('illegal_parameter', `extension ${type} appears twice`);
    map.set(type, body);
  }
  return map;
}

export interface ServerHello {
  legacyVersion: number;
  random: Uint8Array;
  sessionId: Uint8Array;
  cipherSuite: number;
  /** supported_versions; absent means the server speaks TLS 1.2 or below. */
  version?: number;
  keyShare?: { group: number; publicKey: Uint8Array };
  /** In a HelloRetryRequest: the group the server wants. */
  selectedGroup?: number;
  cookie?: Uint8Array;
  /** pre_shared_key in ServerHello: the index of the PSK the server accepted. */
  selectedIdentity?: number;
  extensions: Map<number, Uint8Array>;
}

export function unmarshalServerHello(body: Uint8Array, helloRetry: boolean): ServerHello {
  const r = new Reader(body);
  const legacyVersion = r.u16();
  const random = r.bytes(32);
  const sessionId = r.vector8();
  const cipherSuite = r.u16();
  if (r.u8() !== 0) tlsFail('illegal_parameter', 'the server chose a compression method');
  const extensions = r.remaining > 0 ? parseExtensions(r) : new Map<number, Uint8Array>();
  r.end();
  const hello: ServerHello = { legacyVersion, random, sessionId, cipherSuite, extensions };
  const versions = extensions.get(EXTENSION.SUPPORTED_VERSIONS);
  if (versions) {
    const v = new Reader(versions);
    hello.version = v.u16();
    v.end();
  }
  const psk = extensions.get(EXTENSION.PRE_SHARED_KEY);
  if (psk) {
    const r = new Reader(psk);
    hello.selectedIdentity = r.u16();
    r.end();
  }
  const share = extensions.get(EXTENSION.KEY_SHARE);
  if (share) {
    const s = new Reader(share);
    if (helloRetry) hello.selectedGroup = s.u16();
    else hello.keyShare = { group: s.u16(), publicKey: s.vector16() };
    s.end();
  }
  const cookie = extensions.get(EXTENSION.COOKIE);
  if (cookie) hello.cookie = new Reader(cookie).vector16();
  return hello;
}

export function unmarshalEncryptedExtensions(body: Uint8Array): { alpn?: string } {
  const r = new Reader(body);
  const extensions = parseExtensions(r);
  r.end();
  const alpn = extensions.get(EXTENSION.ALPN);
  if (!alpn) return {};
  const list = new Reader(new Reader(alpn).vector16());
  const name = new TextDecoder().decode(list.vector8());
  list.end();
  return { alpn: name };
}

export interface CertificateRequest {
  context: Uint8Array;
  signatureSchemes: number[];
}

export function unmarshalCertificateRequest(body: Uint8Array): CertificateRequest {
  const r = new Reader(body);
  const context = r.vector8();
  const extensions = parseExtensions(r);
  r.end();
  const algorithms = extensions.get(EXTENSION.SIGNATURE_ALGORITHMS);
  if (!algorithms) return tlsFail('missing_extension', 'CertificateRequest without signature_algorithms');
  const list = new Reader(new Reader(algorithms).vector16());
  const signatureSchemes: number[] = [];
  while (list.remaining > 0) signatureSchemes.push(list.u16());
  return { context, signatureSchemes };
}

export function marshalCertificate(context: Uint8Array, chain: readonly Uint8Array[]): Uint8Array {
  const entries = chain.map((cert) => concatBytes(vec24(cert), vec16(new Uint8Array(0))));
  return handshakeMessage(
    HANDSHAKE_TYPE.CERTIFICATE,
    concatBytes(vec8(context), vec24(concatBytes(...entries))),
  );
}

export function unmarshalCertificate(body: Uint8Array): { context: Uint8Array; chain: Uint8Array[] } {
  const r = new Reader(body);
  const context = r.vector8();
  const list = new Reader(r.vector24());
  r.end();
  const chain: Uint8Array[] = [];
  while (list.remaining > 0) {
    chain.push(list.vector24());
    list.vector16(); // per-certificate extensions (OCSP, SCT): not used
  }
  return { context, chain };
}

export function marshalCertificateVerify(scheme: number, signature: Uint8Array): Uint8Array {
  return handshakeMessage(HANDSHAKE_TYPE.CERTIFICATE_VERIFY, concatBytes(u16(scheme), vec16(signature)));
}

export function unmarshalCertificateVerify(body: Uint8Array): { scheme: number; signature: Uint8Array } {
  const r = new Reader(body);
  const scheme = r.u16();
  const signature = r.vector16();
  r.end();
  return { scheme, signature };
}

export const marshalFinished = (verifyData: Uint8Array) =>
  handshakeMessage(HANDSHAKE_TYPE.FINISHED, verifyData);

export function marshalKeyUpdate(requestUpdate: boolean): Uint8Array {
  return handshakeMessage(HANDSHAKE_TYPE.KEY_UPDATE, u8(requestUpdate ? 1 : 0));
}

/** The content a CertificateVerify signature covers (§4.4.3). */
export function certificateVerifyContent(side: 'client' | 'server', transcriptHash: Uint8Array): Uint8Array {
  return concatBytes(
    new Uint8Array(64).fill(0x20),
    utf8(`TLS 1.3, ${side} CertificateVerify`),
    u8(0),
    transcriptHash,
  );
}
