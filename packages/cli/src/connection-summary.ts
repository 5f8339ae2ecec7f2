// What `connect` (TLS and DTLS) and `coap coaps://` report of a handshake: one summary for --json
// (docs/json.md, tlsSummary) and the lines in the manner of openssl s_client.
import { toPem } from '@iotsafe/device';
import { schemeName, type TlsClientSocket } from '@iotsafe/tls';

/** What a summary reads of a TLS socket or a DTLS association. */
export type SecureConnection = Pick<
  TlsClientSocket,
  | 'getClientSignatureScheme'
  | 'getProtocol'
  | 'getCipher'
  | 'alpnProtocol'
  | 'isSessionReused'
  | 'getPeerX509Chain'
  | 'getNegotiatedGroup'
> & {
  handshakeStats: { milliseconds: number };
};

/** The group field when the handshake exchanged no ECDHE key (plain PSK, a resumed TLS 1.2 session). */
export const NO_GROUP = 'none';

/** What --json reports: the negotiated parameters, the server chain, the SIM's share of the work. */
export function connectionSummary(socket: SecureConnection, apdus: number) {
  const clientScheme = socket.getClientSignatureScheme();
  return {
    version: socket.getProtocol(),
    suite: socket.getCipher()?.name,
    group: socket.getNegotiatedGroup() ?? NO_GROUP,
    clientScheme: clientScheme === undefined ? null : schemeName(clientScheme),
    alpn: socket.alpnProtocol || null,
    sessionReused: socket.isSessionReused(),
    peerChain: socket.getPeerX509Chain().map((c) => ({
      subject: c.subject.replace(/\n/g, ', '),
      issuer: c.issuer.replace(/\n/g, ', '),
      notAfter: new Date(c.validTo).toISOString(),
    })),
    apdus,
    handshakeMs: Number(socket.handshakeStats.milliseconds.toFixed(1)),
  };
}

export function describeConnection(socket: SecureConnection, apdus: number, showcerts: boolean): string[] {
  const chain = socket
    .getPeerX509Chain()
    .flatMap((c, i) => [
      `  ${i} s:${c.subject.replace(/\n/g, ', ')}`,
      `    i:${c.issuer.replace(/\n/g, ', ')}`,
      `    v:NotAfter: ${c.validTo}`,
      ...(showcerts ? [toPem(new Uint8Array(c.raw), 'CERTIFICATE').trimEnd()] : []),
    ]);
  const summary = connectionSummary(socket, apdus);
  return [
    '---',
    ...(chain.length ? ['Certificate chain', ...chain] : ['Authenticated by PSK']),
    '---',
    `Protocol: ${summary.version}`,
    `Cipher: ${summary.suite}`,
    `Group: ${summary.group === NO_GROUP ? '(none)' : summary.group}`,
    `Client signature: ${summary.clientScheme ?? '(none)'}`,
    `ALPN: ${summary.alpn ?? '(none)'}`,
    `Session: ${summary.sessionReused ? 'resumed' : 'new'}`,
    `SIM APDUs: ${apdus}`,
    `Handshake: ${socket.handshakeStats.milliseconds.toFixed(1)} ms`,
    '---',
  ];
}
