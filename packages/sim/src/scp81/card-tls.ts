// The admin agent's TLS client (GP Amd B §4: PSK-TLS, the card as client), behind a seam: the agent
// gives a connected byte stream (its BIP channel) and the key set's PSK and gets a TLS stream back.
// The default runs @iotsafe/tls with software key operations holding the PSK (it is the card's own
// key, used inside the card) and sends the real card's ClientHello (docs/scp81.md): record version
// 0301, TLS 1.0 to 1.2, the PSK CBC and NULL suites in the card's order, an empty session_id and
// max_fragment_length as the only extension. `profile` picks another hello where a server needs it.
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { type ConnectOptions, connect, SoftwareKeyOps, suite12ByName, TLS10, TlsError } from '@iotsafe/tls';

/**
 * Which ClientHello the card sends:
 * - `real-card` (default): byte for byte a real card's (pySim-smpp2sim's trace): record version 0301,
 *   client_version 0303, TLS 1.0–1.2, suites 00AE 008C 008B 00B0 002C, an empty session_id, only
 *   max_fragment_length (the agent's record size when it is 512, 1024, 2048 or 4096);
 * - `tls12-aead`: TLS 1.2 only, TLS_PSK_WITH_AES_128_GCM_SHA256 (RFC 5487), the library's usual
 *   TLS 1.2 extensions: for a server that refuses CBC.
 */
export type CardTlsProfile = 'real-card' | 'tls12-aead';

export interface CardTlsOptions {
  identity: Uint8Array;
  /** The TLS-PSK key value (a copy the agent wipes after the session). */
  psk: Uint8Array;
  handshakeTimeoutMs: number;
  /**
   * The record size the card keeps to when it sends (its MFL, 2^9 on the real card). The agent also
   * writes in pieces of at most this size, so each application record stays within it.
   */
  maxFragmentLength: number;
  /** Cipher suites to offer, most preferred first (default: the profile's). */
  cipherSuites?: readonly number[];
  /** Default `real-card`. */
  profile?: CardTlsProfile;
}

export interface CardTlsSession {
  stream: Duplex;
  /** The negotiated suite's IANA name, e.g. TLS_PSK_WITH_AES_128_CBC_SHA256. */
  cipher: string;
  protocol: string;
  /** False for NULL suites: integrity without confidentiality (the security level the ISD sees). */
  confidential: boolean;
}

/** Opens TLS over `transport`; rejects with the handshake's error. */
export type OpenCardTls = (transport: Duplex, options: CardTlsOptions) => Promise<CardTlsSession>;

/** TLS_PSK_WITH_AES_128_GCM_SHA256 (RFC 5487): the suite of the `tls12-aead` profile. */
export const PSK_AES_128_GCM_SHA256 = 0x00a8;

/**
 * The real card's suites, in its order: PSK with AES-128-CBC-SHA256, AES-128-CBC-SHA, 3DES-EDE-CBC-SHA,
 * NULL-SHA256, NULL-SHA (RFC 4279, RFC 5487).
 */
export const REAL_CARD_CIPHER_SUITES: readonly number[] = [0x00ae, 0x008c, 0x008b, 0x00b0, 0x002c];

const FRAGMENT_LENGTHS = [512, 1024, 2048, 4096] as const;

/** What the seam passes to @iotsafe/tls for `options` (the key operations and the stream aside). */
export function cardTlsConnectOptions(options: CardTlsOptions): ConnectOptions {
  const common = { handshakeTimeout: options.handshakeTimeoutMs };
  if ((options.profile ?? 'real-card') === 'tls12-aead')
    return {
      ...common,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
      cipherSuites: options.cipherSuites ?? [PSK_AES_128_GCM_SHA256],
    };
  const fragment = FRAGMENT_LENGTHS.find((n) => n === options.maxFragmentLength);
  return {
    ...common,
    minVersion: 'TLSv1',
    maxVersion: 'TLSv1.2',
    cipherSuites: options.cipherSuites ?? REAL_CARD_CIPHER_SUITES,
    ...(fragment ? { maxFragmentLength: fragment } : {}),
    legacyClientHello: { recordVersion: TLS10, emptySessionId: true, minimalExtensions: true },
  };
}

/** The agent's seam with another profile than the default (AdminAgentOptions.openTls, Scp81Options.openTls). */
export function openTlsWithProfile(profile: CardTlsProfile): OpenCardTls {
  return (transport, options) =>
    openTlsWithIotsafeTls(transport, { ...options, profile: options.profile ?? profile });
}

/** The default seam: @iotsafe/tls with the options' profile (the real card's hello unless told). */
export const openTlsWithIotsafeTls: OpenCardTls = async (transport, options) => {
  const keyOps = new SoftwareKeyOps({ psk: { identity: options.identity, key: options.psk } });
  const socket = connect({ socket: transport, keyOps, ...cardTlsConnectOptions(options) });
  try {
    await once(socket, 'secureConnect');
  } catch (error) {
    socket.destroy();
    throw error instanceof TlsError ? error : new TlsError('internal_error', String(error));
  }
  const cipher = socket.getCipher()?.name ?? 'unknown';
  return {
    stream: socket,
    cipher,
    protocol: socket.getProtocol() ?? 'unknown',
    // A NULL suite's record protection has no cipher, only the MAC (RFC 4785).
    confidential: suite12ByName(cipher)?.macThenEncrypt?.cipher !== null,
  };
};
