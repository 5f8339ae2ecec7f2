// The client handshake up to the version decision (RFC 8446 §4.1): what to offer, the ClientHello (one
// that offers TLS 1.3 and 1.2 together), the ServerHello and its checks, a HelloRetryRequest, and the
// PSK offer with its binder (§4.2.11). Then the TLS 1.3 or TLS 1.2 handshake takes over. One object
// per handshake: its state dies with it, the connection keeps only what Established hands back.
import { randomBytes } from 'node:crypto';
import { type HashAlgorithm, hkdfExtract } from '@iotsafe/protocol';
import { SERVER_SIGNATURE_SCHEMES } from './certificates.js';
import {
  CONTENT_TYPE,
  DOWNGRADE_TLS11,
  DOWNGRADE_TLS12,
  GROUP_CODE,
  HANDSHAKE_TYPE,
  MAX_FRAGMENT_LENGTH_CODE,
  type NamedGroup,
  TLS12,
  TLS12_ONLY_GROUPS,
  TLS13,
} from './constants.js';
import { describeOffer } from './diagnostics.js';
import { tlsFail } from './errors.js';
import { type Established, expectMessage, type HandshakeConn, serverName } from './handshake-conn.js';
import { Tls12ClientHandshake } from './handshake-tls12.js';
import { type OfferedPsk, Tls13ClientHandshake } from './handshake-tls13.js';
import {
  bindersLength,
  type ClientHello,
  marshalClientHello,
  type ServerHello,
  unmarshalServerHello,
} from './hello.js';
import { deriveSecret, emptyHash, finishedVerifyData, HASH_LENGTH, Transcript } from './key-schedule.js';
import type { KeyShare } from './keyops.js';
import { VERSION_CODES, versionName } from './options.js';
import { Flight } from './record/flight.js';
import { copySession, obfuscatedTicketAge, sessionUsable } from './session.js';
import { CIPHER_SUITES, type CipherSuiteInfo, suiteByCode } from './suites.js';
import { isSignedKeyExchange } from './tls12/messages.js';
import { SUITES_12, type Suite12, suite12ByCode } from './tls12/suites.js';

/** What this ClientHello offers, decided once from the options and the KeyOps. */
interface Offer {
  tls13: boolean;
  /** TLS 1.2 or below is offered: `lowest12` to `highest12` (client_version when TLS 1.3 is not offered). */
  tls12: boolean;
  lowest12: number;
  highest12: number;
  /** The ClientHello leaves out what modern servers expect (options.legacyClientHello.minimalExtensions). */
  minimal: boolean;
  /** The max_fragment_length code asked for (RFC 6066 §4). */
  maxFragmentCode?: number;
  suites: number[];
  groups: NamedGroup[];
  /** Groups a TLS 1.3 key share (or a HelloRetryRequest) may use. */
  groups13: NamedGroup[];
  psk?: OfferedPsk;
}

export class ClientHandshake {
  readonly transcript = new Transcript();
  readonly clientRandom = new Uint8Array(randomBytes(32));
  private readonly sessionId: Uint8Array;
  private prepared?: Promise<{ offer: Offer; share?: KeyShare }>;

  constructor(private readonly conn: HandshakeConn) {
    // A random session ID is TLS 1.3's middlebox compatibility (§D.4); a legacy hello may send none.
    const empty = conn.options.legacyClientHello?.emptySessionId ?? false;
    this.sessionId = empty ? new Uint8Array(0) : new Uint8Array(randomBytes(32));
  }

  /**
   * Starts what does not depend on the server — the offer (with a PSK's Early Secret) and the first key
   * share, which may be SIM operations — so it can run while TCP connects. run() does it otherwise.
   */
  prepare(): Promise<unknown> {
    this.prepared ??= this.decideOffer().then(async (offer) => {
      const share = offer.tls13 ? await this.conn.keyOps.generateKeyShare(offer.groups13[0]!) : undefined;
      return share ? { offer, share } : { offer };
    });
    return this.prepared;
  }

  async run(): Promise<Established> {
    this.prepare();
    const { offer, share: firstShare } = await this.prepared!;
    let share = firstShare;
    this.sendClientHello(offer, share);
    let hello = await this.readServerHello(offer);
    this.conn.diagnostics.serverHelloRead = true;
    this.conn.version =
      hello.supportedVersion === undefined ? (versionName(hello.legacyVersion) ?? 'TLSv1.2') : 'TLSv1.3';
    // Records from now on carry the negotiated version (TLS 1.3: 0x0303, §5.1).
    this.conn.setRecordVersion?.(hello.supportedVersion === undefined ? hello.legacyVersion : TLS12);
    if (hello.supportedVersion === undefined) return this.continueTls12(hello, offer, share);
    let suite = this.negotiatedSuite13(hello, offer);
    if (hello.helloRetryRequest) {
      const group = this.acceptHelloRetry(hello, offer, share!);
      share = await this.conn.keyOps.generateKeyShare(group);
      this.sendClientHello(offer, share, hello.cookie);
      hello = await this.readServerHello({ ...offer, tls12: false });
      if (hello.helloRetryRequest) tlsFail('unexpected_message', 'a second HelloRetryRequest');
      const second = this.negotiatedSuite13(hello, offer);
      if (second.code !== suite.code)
        tlsFail('illegal_parameter', 'the cipher suite changed after HelloRetryRequest');
      suite = second;
    }
    const psk = this.acceptedPsk(hello, offer, suite);
    return new Tls13ClientHandshake(this.conn, {
      transcript: this.transcript,
      clientRandom: this.clientRandom,
      hello,
      suite,
      share: share!,
      ...(psk ? { psk } : {}),
    }).run();
  }

  /**
   * Versions, suites and groups the options allow and the KeyOps can serve, and the PSK to offer. An
   * external PSK offers the versions its holder may derive for (HKDF: TLS 1.3; the PRF: TLS 1.2), and
   * its Early Secret — a SIM operation — is computed only when TLS 1.3 is offered with it.
   */
  private async decideOffer(): Promise<Offer> {
    const { options, keyOps } = this.conn;
    const legacyHello = options.legacyClientHello;
    const minimal = legacyHello?.minimalExtensions ?? false;
    const lowest = VERSION_CODES[options.minVersion ?? 'TLSv1.2'];
    const highest = VERSION_CODES[options.maxVersion ?? 'TLSv1.3'];
    if (lowest > highest) tlsFail('internal_error', 'minVersion is above maxVersion');
    // A legacy ClientHello is a TLS 1.2-and-below one.
    const wants13 = highest >= TLS13 && !legacyHello;
    const wants12 = lowest <= TLS12;
    const groups = (options.groups ?? keyOps.groups).filter((g) => keyOps.groups.includes(g));
    if (groups.length === 0) {
      const why = keyOps.groupsLimitedBy ? ` (${keyOps.groupsLimitedBy})` : '';
      tlsFail('internal_error', `none of the groups asked for can be done by the key operations${why}`);
    }
    const externalPsk = keyOps.psk;
    const pskVersions = externalPsk?.versions ?? { tls13: true, tls12: true };
    // TLS 1.0 and 1.1 only with a PSK whose holder can run their PRF (and only PSK suites, below).
    const highest12 = Math.min(highest, TLS12);
    const lowest12 = externalPsk?.legacyMasterSecret ? lowest : Math.max(lowest, TLS12);
    if (wants12 && lowest12 > highest12)
      tlsFail('internal_error', 'TLS 1.0 and 1.1 need a PSK whose key operations can run their PRF');
    const certificates = !externalPsk || options.ca !== undefined;
    const session = options.session && sessionUsable(options.session, serverName(options), Date.now());
    const tls13 = wants13 && (certificates || session || pskVersions.tls13);
    const tls12 = wants12 && (certificates || pskVersions.tls12);
    if (!tls13 && !tls12)
      tlsFail(
        'internal_error',
        `the PSK may be used for ${pskVersions.tls13 ? 'TLS 1.3' : 'TLS 1.2'} only (its container's allowed derivations), which the options exclude`,
      );
    const psk = tls13 ? await this.choosePsk(pskVersions.tls13) : undefined;
    const allowed = (code: number) => !options.cipherSuites || options.cipherSuites.includes(code);
    const asked = (code: number) => options.cipherSuites?.includes(code) ?? false;
    // A PSK is bound to one hash: only the suites that use it can be offered (§4.2.11).
    const suites13 = tls13
      ? CIPHER_SUITES.filter((c) => allowed(c.code) && (!psk || c.hash === psk.hash))
      : [];
    const suites12 = tls12
      ? SUITES_12.filter(
          (x) =>
            allowed(x.code) &&
            // MAC-then-encrypt suites only when named; AEAD ones need TLS 1.2; a minimal hello has no groups.
            (x.macThenEncrypt ? asked(x.code) : highest12 === TLS12) &&
            (!minimal || x.keyExchange === 'psk') &&
            (isSignedKeyExchange(x.keyExchange)
              ? certificates
              : pskVersions.tls12 && externalPsk?.hash === x.hash),
        )
      : [];
    // The caller's cipherSuites is an order of preference.
    const rank = (code: number) => options.cipherSuites?.indexOf(code) ?? 0;
    const suites = [...suites13, ...suites12].sort((a, b) => rank(a.code) - rank(b.code));
    if (suites.length === 0) tlsFail('internal_error', 'no cipher suite to offer');
    if (psk) this.transcript.hash = psk.hash;
    const groups13 = groups.filter((g) => !TLS12_ONLY_GROUPS.includes(g));
    if (tls13 && groups13.length === 0) tlsFail('internal_error', 'no TLS 1.3 key exchange group to offer');
    const versions12 = [TLS12, 0x0302, 0x0301].filter((v) => v >= lowest12 && v <= highest12);
    this.conn.diagnostics.offered = describeOffer({
      versions: [
        ...(tls13 ? ['TLS 1.3'] : []),
        ...(tls12 ? versions12.map((v) => `TLS 1.${v - 0x0301}`) : []),
      ],
      suites: suites.map((x) => x.name),
      groups,
      ...(keyOps.groupsLimitedBy ? { groupsLimitedBy: keyOps.groupsLimitedBy } : {}),
      schemes: SERVER_SIGNATURE_SCHEMES,
    });
    const externalOffered =
      (psk !== undefined && !psk.session) || suites12.some((x) => !isSignedKeyExchange(x.keyExchange));
    if (externalOffered && externalPsk) this.conn.diagnostics.pskIdentity = printable(externalPsk.identity);
    const fragment = options.maxFragmentLength;
    const maxFragmentCode = fragment === undefined ? undefined : MAX_FRAGMENT_LENGTH_CODE[fragment];
    if (fragment !== undefined && maxFragmentCode === undefined)
      tlsFail('internal_error', 'maxFragmentLength must be 512, 1024, 2048 or 4096');
    return {
      tls13,
      tls12,
      lowest12,
      highest12,
      minimal,
      ...(maxFragmentCode !== undefined ? { maxFragmentCode } : {}),
      suites: suites.map((x) => x.code),
      groups,
      groups13,
      ...(psk ? { psk } : {}),
    };
  }

  /** ClientHello (§4.1.2); with a PSK, its binder is an HMAC over the hello up to the binders (§4.2.11.2). */
  private sendClientHello(offer: Offer, share: KeyShare | undefined, cookie?: Uint8Array): void {
    const { options } = this.conn;
    const name = serverName(options);
    const psk = offer.psk;
    const binderLength = psk ? HASH_LENGTH[psk.hash as 'sha256'] : 0;
    const full = !offer.minimal;
    const hello: ClientHello = {
      // client_version: the highest TLS 1.2-or-below version (RFC 5246 §7.4.1.2; 0x0303 with TLS 1.3).
      legacyVersion: offer.tls13 ? TLS12 : offer.highest12,
      random: this.clientRandom,
      sessionId: this.sessionId,
      cipherSuites: offer.suites,
      ...(name !== undefined && full ? { serverName: name } : {}),
      ...(offer.maxFragmentCode !== undefined ? { maxFragmentLength: offer.maxFragmentCode } : {}),
      ...(offer.tls13 ? { supportedVersions: [TLS13, ...(offer.tls12 ? [TLS12] : [])] } : {}),
      ...(full
        ? {
            supportedGroups: offer.groups.map((g) => GROUP_CODE[g]),
            signatureAlgorithms: SERVER_SIGNATURE_SCHEMES,
          }
        : {}),
      // TLS 1.2: uncompressed points (RFC 8422 §5.1.2), extended master secret (RFC 7627), secure
      // renegotiation signalled with an empty renegotiated_connection (RFC 5746 §3.4).
      ...(offer.tls12 && full
        ? { ecPointFormats: [0], extendedMasterSecret: true, renegotiationInfo: new Uint8Array(0) }
        : {}),
      ...(offer.tls13
        ? { keyShares: share ? [{ group: GROUP_CODE[share.group], publicKey: share.publicKey }] : [] }
        : {}),
      ...(options.alpnProtocols ? { alpn: options.alpnProtocols } : {}),
      ...(cookie ? { cookie } : {}),
      ...(psk
        ? {
            pskModes: options.pskMode === 'psk_ke' && !psk.session ? [0] : [1],
            preSharedKey: {
              identities: [{ identity: psk.identity, obfuscatedTicketAge: psk.obfuscatedAge }],
              binders: [new Uint8Array(binderLength)],
            },
          }
        : {}),
    };
    const bytes = marshalClientHello(hello);
    if (psk) {
      const partial = bytes.subarray(0, bytes.length - bindersLength(hello));
      const binderKey = deriveSecret(psk.hash, psk.earlySecret, psk.binderLabel, emptyHash(psk.hash));
      bytes.set(
        finishedVerifyData(psk.hash, binderKey, this.transcript.digestWith(partial)),
        bytes.length - binderLength,
      );
    }
    this.transcript.add(bytes);
    const recordVersion = this.conn.options.legacyClientHello?.recordVersion;
    if (recordVersion !== undefined) this.conn.setRecordVersion?.(recordVersion);
    const flight = new Flight();
    flight.add(CONTENT_TYPE.HANDSHAKE, bytes, this.conn.writeProtection);
    this.conn.sendFlight(flight);
    this.conn.mark('clientHelloSent');
  }

  /** ServerHello (§4.1.3): the version, the downgrade sentinel, the session ID echo, the suite. */
  private async readServerHello(offer: Offer): Promise<ServerHello> {
    const m = await expectMessage(this.conn, HANDSHAKE_TYPE.SERVER_HELLO, 'ServerHello');
    this.conn.mark('serverHelloRead');
    const hello = unmarshalServerHello(m.body);
    if (hello.supportedVersion === undefined) {
      // The server chose TLS 1.2 or below (§4.1.3, §D.1).
      if (hello.helloRetryRequest)
        tlsFail('illegal_parameter', 'a HelloRetryRequest without supported_versions');
      const tail = Buffer.from(hello.random.subarray(24));
      if (offer.tls13 && (tail.equals(DOWNGRADE_TLS12) || tail.equals(DOWNGRADE_TLS11)))
        tlsFail('illegal_parameter', 'downgrade detected: the server could do TLS 1.3');
      const version = hello.legacyVersion;
      if (!offer.tls12 || version < offer.lowest12 || version > offer.highest12)
        tlsFail('protocol_version', 'the server does not speak a version offered');
      // A TLS 1.2 client checks the TLS 1.1-and-below sentinel too (§4.1.3).
      if (offer.highest12 === TLS12 && version < TLS12 && tail.equals(DOWNGRADE_TLS11))
        tlsFail('illegal_parameter', 'downgrade detected: the server could do TLS 1.2');
      const suite = suite12ByCode(hello.cipherSuite);
      if (!suite || !offer.suites.includes(hello.cipherSuite))
        tlsFail('illegal_parameter', 'the server chose a cipher suite that was not offered');
      // AEAD suites are TLS 1.2's (RFC 5246 §6.2.3.3); below it, the PSK MAC-then-encrypt suites only.
      if (version < TLS12 && !suite!.macThenEncrypt)
        tlsFail('illegal_parameter', `${suite!.name} chosen with a version below TLS 1.2`);
      this.acceptMaxFragmentLength(hello, offer);
      this.transcript.hash = suite!.hash;
      this.transcript.add(m.raw);
      return hello;
    }
    if (hello.supportedVersion !== TLS13 || !offer.tls13)
      tlsFail('protocol_version', 'the server chose a version that was not offered');
    if (!Buffer.from(hello.sessionId).equals(Buffer.from(this.sessionId)))
      tlsFail('illegal_parameter', 'the server did not echo the session ID');
    const suite = this.negotiatedSuite13(hello, offer);
    if (hello.helloRetryRequest) {
      // ClientHello1 becomes message_hash(Hash(ClientHello1)) (§4.4.1).
      this.transcript.hash = suite.hash;
      this.transcript.replaceWithMessageHash();
    }
    this.transcript.hash = suite.hash;
    this.transcript.add(m.raw);
    return hello;
  }

  /**
   * max_fragment_length: an echo must be the value offered, and none may come unasked (RFC 6066 §4);
   * once echoed, every record after the ServerHello's is cut at it, both ways.
   */
  private acceptMaxFragmentLength(hello: ServerHello, offer: Offer): void {
    if (hello.maxFragmentLength === undefined) return;
    if (offer.maxFragmentCode === undefined)
      tlsFail('unsupported_extension', 'max_fragment_length in the ServerHello, which was not offered');
    if (hello.maxFragmentLength !== offer.maxFragmentCode)
      tlsFail('illegal_parameter', 'the server echoed another max_fragment_length than the one offered');
    this.conn.limitFragments?.(2 ** (8 + offer.maxFragmentCode!));
  }

  private negotiatedSuite13(hello: ServerHello, offer: Offer): CipherSuiteInfo {
    if (!offer.suites.includes(hello.cipherSuite))
      tlsFail('illegal_parameter', 'the server chose a cipher suite that was not offered');
    return suiteByCode(hello.cipherSuite) ?? tlsFail('illegal_parameter', 'unknown cipher suite');
  }

  /** A HelloRetryRequest may ask for a share of another offered group, nothing else (§4.1.4). */
  private acceptHelloRetry(hrr: ServerHello, offer: Offer, share: KeyShare): NamedGroup {
    const group = offer.groups13.find((g) => GROUP_CODE[g] === hrr.selectedGroup);
    if (!group || group === share.group)
      tlsFail('illegal_parameter', 'HelloRetryRequest asks for a group that was not offered or already sent');
    return group!;
  }

  /** The PSK the server selected: the one offered, with a suite of its hash (§4.2.11). */
  private acceptedPsk(hello: ServerHello, offer: Offer, suite: CipherSuiteInfo): OfferedPsk | undefined {
    if (hello.selectedIdentity === undefined) return undefined;
    if (!offer.psk || hello.selectedIdentity !== 0)
      tlsFail('illegal_parameter', 'the server selected a PSK that was not offered');
    if (offer.psk!.hash !== suite.hash)
      tlsFail('illegal_parameter', 'the server took the PSK with a suite of another hash');
    return offer.psk;
  }

  private continueTls12(hello: ServerHello, offer: Offer, share: KeyShare | undefined): Promise<Established> {
    const suite: Suite12 = suite12ByCode(hello.cipherSuite)!;
    return new Tls12ClientHandshake(this.conn, {
      transcript: this.transcript,
      clientRandom: this.clientRandom,
      hello,
      suite,
      version: hello.legacyVersion,
      offeredExtendedMasterSecret: !offer.minimal,
      offeredGroups: offer.groups,
      // The TLS 1.3 key share is reused for ECDHE when the server's curve is its group.
      ...(offer.tls13 && share ? { offeredShare: share } : {}),
    }).run();
  }

  /** The resumption ticket if it is still good for this server, else the external PSK of KeyOps. */
  private async choosePsk(external: boolean): Promise<OfferedPsk | undefined> {
    const { options, keyOps } = this.conn;
    const now = Date.now();
    const session = options.session;
    if (session && sessionUsable(session, serverName(options), now)) {
      const zeros = new Uint8Array(HASH_LENGTH[session.hash as 'sha256']);
      return {
        identity: session.ticket,
        obfuscatedAge: obfuscatedTicketAge(session, now),
        hash: session.hash,
        binderLabel: 'res binder',
        // A resumption PSK is a host secret already: its extract runs here, not in KeyOps.
        earlySecret: hkdfExtract(session.hash, zeros, session.psk),
        session: copySession(session),
      };
    }
    const psk = keyOps.psk;
    if (!psk || !external) return undefined;
    const hash: HashAlgorithm = psk.hash;
    return {
      identity: psk.identity,
      obfuscatedAge: 0,
      hash,
      binderLabel: 'ext binder',
      earlySecret: await psk.earlySecret(),
    };
  }
}

/** A PSK identity for messages: its text when it is printable, else its hex. */
function printable(identity: Uint8Array): string {
  const text = new TextDecoder().decode(identity);
  return /^[\x20-\x7e]*$/.test(text) ? text : Buffer.from(identity).toString('hex');
}
