// The admin agent's TLS client (GP Amd B §4: PSK-TLS, the card as client), behind a seam: the agent
// gives a connected byte stream (its BIP channel) and the key set's PSK and gets a TLS stream back.
// The default runs @iotsafe/tls with software key operations holding the PSK (it is the card's own
// key, used inside the card). What a real card's ClientHello needs that @iotsafe/tls lacks is in
// docs/scp81.md; `profile` names which hello this seam is asked for.
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { connect, SoftwareKeyOps, TlsError } from '@iotsafe/tls';

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
  /** Cipher suites to offer, most preferred first (the default seam: TLS 1.2 PSK suites it implements). */
  cipherSuites?: readonly number[];
}

export interface CardTlsSession {
  stream: Duplex;
  /** The negotiated suite's IANA name, e.g. TLS_PSK_WITH_AES_128_GCM_SHA256. */
  cipher: string;
  protocol: string;
  /** False for NULL suites: integrity without confidentiality (the security level the ISD sees). */
  confidential: boolean;
}

/** Opens TLS over `transport`; rejects with the handshake's error. */
export type OpenCardTls = (transport: Duplex, options: CardTlsOptions) => Promise<CardTlsSession>;

/** TLS_PSK_WITH_AES_128_GCM_SHA256 (RFC 5487): the PSK suite @iotsafe/tls and Node's server share. */
export const PSK_AES_128_GCM_SHA256 = 0x00a8;

/**
 * The default seam: TLS 1.2 PSK with AES-128-GCM through @iotsafe/tls. Its ClientHello is not yet the
 * real card's (record version 0301, CBC and NULL suites, max_fragment_length 512 and nothing else).
 */
export const openTlsWithIotsafeTls: OpenCardTls = async (transport, options) => {
  const keyOps = new SoftwareKeyOps({ psk: { identity: options.identity, key: options.psk } });
  const socket = connect({
    socket: transport,
    keyOps,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    cipherSuites: options.cipherSuites ?? [PSK_AES_128_GCM_SHA256],
    handshakeTimeout: options.handshakeTimeoutMs,
  });
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
    protocol: socket.getProtocol() ?? 'TLSv1.2',
    confidential: !/_NULL_/.test(cipher),
  };
};
