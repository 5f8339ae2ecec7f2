// ClientHello and ServerHello / HelloRetryRequest (RFC 8446 §4.1.2–§4.1.4, with the TLS 1.2
// extensions of RFC 5246, 7627, 5746 and 8422), each with a marshal and an unmarshal function.
import { concatBytes, utf8 } from '@iotsafe/protocol';
import { EXTENSION, HANDSHAKE_TYPE, HELLO_RETRY_REQUEST_RANDOM } from './constants.js';
import { tlsFail } from './errors.js';
import {
  alpnBody,
  extension,
  type KeyShareEntry,
  keyShareEntry,
  type PskIdentity,
  readEmpty,
  readExtensions,
  readKeyShareEntry,
  readSelectedAlpn,
  readU16List,
  u16List,
} from './extensions.js';
import { handshakeMessage } from './messages.js';
import { Reader, u8, u16, u32, vec8, vec16 } from './wire.js';

// --- ClientHello (§4.1.2) --------------------------------------------------------------------------

export interface ClientHello {
  legacyVersion: number;
  random: Uint8Array;
  sessionId: Uint8Array;
  /** DTLS only: the cookie field after session_id (RFC 6347 §4.2.1), empty in a first ClientHello. */
  dtlsCookie?: Uint8Array;
  cipherSuites: readonly number[];
  serverName?: string;
  /** supported_versions, best first (TLS 1.3 only). */
  supportedVersions?: readonly number[];
  supportedGroups?: readonly number[];
  signatureAlgorithms?: readonly number[];
  signatureAlgorithmsCert?: readonly number[];
  /** TLS 1.2: point formats (RFC 8422 §5.1.2), extended master secret, secure renegotiation. */
  ecPointFormats?: readonly number[];
  extendedMasterSecret?: boolean;
  /** renegotiation_info's renegotiated_connection: empty in an initial handshake (RFC 5746 §3.4). */
  renegotiationInfo?: Uint8Array;
  keyShares?: readonly KeyShareEntry[];
  alpn?: readonly string[];
  cookie?: Uint8Array;
  pskModes?: readonly number[];
  /** DTLS 1.2 connection_id (RFC 9146 §3): the CID the client wants records to it to carry. */
  connectionId?: Uint8Array;
  /** pre_shared_key, always the last extension (§4.2.11). */
  preSharedKey?: { identities: readonly PskIdentity[]; binders: readonly Uint8Array[] };
}

function clientHelloExtensions(m: ClientHello): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (m.serverName !== undefined)
    out.push(extension(EXTENSION.SERVER_NAME, vec16(concatBytes(u8(0), vec16(utf8(m.serverName))))));
  if (m.supportedVersions)
    out.push(extension(EXTENSION.SUPPORTED_VERSIONS, vec8(u16List(m.supportedVersions))));
  if (m.supportedGroups) out.push(extension(EXTENSION.SUPPORTED_GROUPS, vec16(u16List(m.supportedGroups))));
  if (m.signatureAlgorithms)
    out.push(extension(EXTENSION.SIGNATURE_ALGORITHMS, vec16(u16List(m.signatureAlgorithms))));
  if (m.signatureAlgorithmsCert)
    out.push(extension(EXTENSION.SIGNATURE_ALGORITHMS_CERT, vec16(u16List(m.signatureAlgorithmsCert))));
  if (m.ecPointFormats)
    out.push(extension(EXTENSION.EC_POINT_FORMATS, vec8(Uint8Array.from(m.ecPointFormats))));
  if (m.extendedMasterSecret) out.push(extension(EXTENSION.EXTENDED_MASTER_SECRET, new Uint8Array(0)));
  if (m.renegotiationInfo) out.push(extension(EXTENSION.RENEGOTIATION_INFO, vec8(m.renegotiationInfo)));
  if (m.keyShares)
    out.push(extension(EXTENSION.KEY_SHARE, vec16(concatBytes(...m.keyShares.map(keyShareEntry)))));
  if (m.alpn?.length) out.push(extension(EXTENSION.ALPN, alpnBody(m.alpn)));
  if (m.cookie) out.push(extension(EXTENSION.COOKIE, vec16(m.cookie)));
  if (m.connectionId) out.push(extension(EXTENSION.CONNECTION_ID, vec8(m.connectionId)));
  if (m.pskModes) out.push(extension(EXTENSION.PSK_KEY_EXCHANGE_MODES, vec8(Uint8Array.from(m.pskModes))));
  if (m.preSharedKey) {
    const identities = vec16(
      concatBytes(
        ...m.preSharedKey.identities.map((i) => concatBytes(vec16(i.identity), u32(i.obfuscatedTicketAge))),
      ),
    );
    const binders = vec16(concatBytes(...m.preSharedKey.binders.map((b) => vec8(b))));
    out.push(extension(EXTENSION.PRE_SHARED_KEY, concatBytes(identities, binders)));
  }
  return out;
}

export function marshalClientHello(m: ClientHello): Uint8Array {
  const body = concatBytes(
    u16(m.legacyVersion),
    m.random,
    vec8(m.sessionId),
    m.dtlsCookie ? vec8(m.dtlsCookie) : new Uint8Array(0),
    vec16(u16List(m.cipherSuites)),
    vec8(u8(0)), // legacy_compression_methods: null only
    vec16(concatBytes(...clientHelloExtensions(m))),
  );
  return handshakeMessage(HANDSHAKE_TYPE.CLIENT_HELLO, body);
}

/** Length of the binders list at the end of a marshalled ClientHello (§4.2.11.2: what a binder does not cover). */
export function bindersLength(m: ClientHello): number {
  const binders = m.preSharedKey?.binders ?? [];
  return binders.length === 0 ? 0 : 2 + binders.reduce((n, b) => n + 1 + b.length, 0);
}

/** `dtls`: the hello carries the DTLS cookie field (RFC 6347 §4.2.1). */
export function unmarshalClientHello(body: Uint8Array, dtls = false): ClientHello {
  const r = new Reader(body);
  const legacyVersion = r.u16();
  const random = r.bytes(32);
  const sessionId = r.vector8();
  if (sessionId.length > 32) tlsFail('decode_error', 'session ID longer than 32 bytes');
  const dtlsCookie = dtls ? r.vector8() : undefined;
  const suites = new Reader(r.vector16());
  if (suites.remaining % 2 !== 0) tlsFail('decode_error', 'odd-length cipher suite list');
  const cipherSuites: number[] = [];
  while (suites.remaining > 0) cipherSuites.push(suites.u16());
  const compression = r.vector8();
  if (!compression.includes(0)) tlsFail('illegal_parameter', 'no null compression method');
  const e = readExtensions(r);
  r.end();
  const hello: ClientHello = {
    legacyVersion,
    random,
    sessionId,
    cipherSuites,
    ...(dtlsCookie ? { dtlsCookie } : {}),
  };
  const sni = e.get(EXTENSION.SERVER_NAME);
  if (sni) {
    const list = new Reader(new Reader(sni).vector16());
    if (list.u8() !== 0) tlsFail('illegal_parameter', 'server_name of an unknown type');
    hello.serverName = new TextDecoder().decode(list.vector16());
  }
  const versions = e.get(EXTENSION.SUPPORTED_VERSIONS);
  if (versions) hello.supportedVersions = readU16List(versions, 1);
  const groups = e.get(EXTENSION.SUPPORTED_GROUPS);
  if (groups) hello.supportedGroups = readU16List(groups, 2);
  const schemes = e.get(EXTENSION.SIGNATURE_ALGORITHMS);
  if (schemes) hello.signatureAlgorithms = readU16List(schemes, 2);
  const certSchemes = e.get(EXTENSION.SIGNATURE_ALGORITHMS_CERT);
  if (certSchemes) hello.signatureAlgorithmsCert = readU16List(certSchemes, 2);
  const formats = e.get(EXTENSION.EC_POINT_FORMATS);
  if (formats) hello.ecPointFormats = [...new Reader(formats).vector8()];
  if (readEmpty(e.get(EXTENSION.EXTENDED_MASTER_SECRET))) hello.extendedMasterSecret = true;
  const renegotiation = e.get(EXTENSION.RENEGOTIATION_INFO);
  if (renegotiation) hello.renegotiationInfo = new Reader(renegotiation).vector8();
  const shares = e.get(EXTENSION.KEY_SHARE);
  if (shares) {
    const list = new Reader(new Reader(shares).vector16());
    const entries: KeyShareEntry[] = [];
    while (list.remaining > 0) entries.push(readKeyShareEntry(list));
    hello.keyShares = entries;
  }
  const alpn = e.get(EXTENSION.ALPN);
  if (alpn) {
    const list = new Reader(new Reader(alpn).vector16());
    const names: string[] = [];
    while (list.remaining > 0) names.push(new TextDecoder().decode(list.vector8()));
    hello.alpn = names;
  }
  const cookie = e.get(EXTENSION.COOKIE);
  if (cookie) hello.cookie = new Reader(cookie).vector16();
  const cid = e.get(EXTENSION.CONNECTION_ID);
  if (cid) hello.connectionId = readConnectionId(cid);
  const modes = e.get(EXTENSION.PSK_KEY_EXCHANGE_MODES);
  if (modes) hello.pskModes = [...new Reader(modes).vector8()];
  const psk = e.get(EXTENSION.PRE_SHARED_KEY);
  if (psk) {
    if ([...e.keys()].at(-1) !== EXTENSION.PRE_SHARED_KEY)
      tlsFail('illegal_parameter', 'pre_shared_key is not the last extension');
    const p = new Reader(psk);
    const ids = new Reader(p.vector16());
    const identities: PskIdentity[] = [];
    while (ids.remaining > 0) identities.push({ identity: ids.vector16(), obfuscatedTicketAge: ids.u32() });
    const list = new Reader(p.vector16());
    p.end();
    const binders: Uint8Array[] = [];
    while (list.remaining > 0) binders.push(list.vector8());
    if (binders.length !== identities.length)
      tlsFail('illegal_parameter', 'PSK binders and identities differ in number');
    hello.preSharedKey = { identities, binders };
  }
  return hello;
}

// --- ServerHello and HelloRetryRequest (§4.1.3, §4.1.4) ---------------------------------------------

export interface ServerHello {
  legacyVersion: number;
  random: Uint8Array;
  sessionId: Uint8Array;
  cipherSuite: number;
  /** A HelloRetryRequest: the random is the special value of §4.1.3. */
  helloRetryRequest: boolean;
  /** supported_versions (TLS 1.3); absent means the server speaks TLS 1.2 or below. */
  supportedVersion?: number;
  keyShare?: KeyShareEntry;
  /** In a HelloRetryRequest: the group the server wants a share for. */
  selectedGroup?: number;
  cookie?: Uint8Array;
  /** pre_shared_key: the index of the PSK the server accepted. */
  selectedIdentity?: number;
  /** TLS 1.2 extensions (ALPN rides in EncryptedExtensions in TLS 1.3). */
  alpn?: string;
  extendedMasterSecret?: boolean;
  renegotiationInfo?: Uint8Array;
  ecPointFormats?: readonly number[];
  /** DTLS 1.2 connection_id (RFC 9146 §3): the CID the server wants records to it to carry. */
  connectionId?: Uint8Array;
  /** Extension types in the order received (unmarshal only). */
  extensionTypes?: readonly number[];
}

export function marshalServerHello(m: Omit<ServerHello, 'helloRetryRequest'>): Uint8Array {
  const e: Uint8Array[] = [];
  // The order of RFC 8448's servers: key_share, then supported_versions.
  if (m.keyShare) e.push(extension(EXTENSION.KEY_SHARE, keyShareEntry(m.keyShare)));
  if (m.selectedGroup !== undefined) e.push(extension(EXTENSION.KEY_SHARE, u16(m.selectedGroup)));
  if (m.supportedVersion !== undefined)
    e.push(extension(EXTENSION.SUPPORTED_VERSIONS, u16(m.supportedVersion)));
  if (m.cookie) e.push(extension(EXTENSION.COOKIE, vec16(m.cookie)));
  if (m.selectedIdentity !== undefined) e.push(extension(EXTENSION.PRE_SHARED_KEY, u16(m.selectedIdentity)));
  if (m.alpn !== undefined) e.push(extension(EXTENSION.ALPN, alpnBody([m.alpn])));
  if (m.extendedMasterSecret) e.push(extension(EXTENSION.EXTENDED_MASTER_SECRET, new Uint8Array(0)));
  if (m.renegotiationInfo) e.push(extension(EXTENSION.RENEGOTIATION_INFO, vec8(m.renegotiationInfo)));
  if (m.ecPointFormats)
    e.push(extension(EXTENSION.EC_POINT_FORMATS, vec8(Uint8Array.from(m.ecPointFormats))));
  if (m.connectionId) e.push(extension(EXTENSION.CONNECTION_ID, vec8(m.connectionId)));
  const body = concatBytes(
    u16(m.legacyVersion),
    m.random,
    vec8(m.sessionId),
    u16(m.cipherSuite),
    u8(0),
    e.length ? vec16(concatBytes(...e)) : new Uint8Array(0),
  );
  return handshakeMessage(HANDSHAKE_TYPE.SERVER_HELLO, body);
}

export function unmarshalServerHello(body: Uint8Array): ServerHello {
  const r = new Reader(body);
  const legacyVersion = r.u16();
  const random = r.bytes(32);
  const sessionId = r.vector8();
  if (sessionId.length > 32) tlsFail('decode_error', 'session ID longer than 32 bytes');
  const cipherSuite = r.u16();
  if (r.u8() !== 0) tlsFail('illegal_parameter', 'the server chose a compression method');
  const e = readExtensions(r);
  r.end();
  const helloRetryRequest = Buffer.from(random).equals(HELLO_RETRY_REQUEST_RANDOM);
  const hello: ServerHello = {
    legacyVersion,
    random,
    sessionId,
    cipherSuite,
    helloRetryRequest,
    extensionTypes: [...e.keys()],
  };
  const versions = e.get(EXTENSION.SUPPORTED_VERSIONS);
  if (versions) {
    const v = new Reader(versions);
    hello.supportedVersion = v.u16();
    v.end();
  }
  const psk = e.get(EXTENSION.PRE_SHARED_KEY);
  if (psk) {
    const p = new Reader(psk);
    hello.selectedIdentity = p.u16();
    p.end();
  }
  const share = e.get(EXTENSION.KEY_SHARE);
  if (share) {
    const s = new Reader(share);
    if (helloRetryRequest) hello.selectedGroup = s.u16();
    else hello.keyShare = readKeyShareEntry(s);
    s.end();
  }
  const cookie = e.get(EXTENSION.COOKIE);
  if (cookie) {
    const c = new Reader(cookie);
    hello.cookie = c.vector16();
    c.end();
    if (hello.cookie.length === 0) tlsFail('decode_error', 'empty cookie');
  }
  const alpn = e.get(EXTENSION.ALPN);
  if (alpn) hello.alpn = readSelectedAlpn(alpn);
  if (readEmpty(e.get(EXTENSION.EXTENDED_MASTER_SECRET))) hello.extendedMasterSecret = true;
  const renegotiation = e.get(EXTENSION.RENEGOTIATION_INFO);
  if (renegotiation) {
    const n = new Reader(renegotiation);
    hello.renegotiationInfo = n.vector8();
    n.end();
  }
  const formats = e.get(EXTENSION.EC_POINT_FORMATS);
  if (formats) hello.ecPointFormats = [...new Reader(formats).vector8()];
  const cid = e.get(EXTENSION.CONNECTION_ID);
  if (cid) hello.connectionId = readConnectionId(cid);
  return hello;
}

/** ConnectionId: opaque cid<0..2^8-1> (RFC 9146 §3). */
function readConnectionId(body: Uint8Array): Uint8Array {
  const r = new Reader(body);
  const cid = r.vector8();
  r.end();
  return cid;
}
