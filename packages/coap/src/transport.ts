// The seam between CoAP and what carries its datagrams: plain UDP here, DTLS (RFC 6347, in
// @iotsafe/tls) through the same interface, so CoAP never knows which one it runs over.
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';

/**
 * One association with one peer that carries whole datagrams both ways, without reliability: each
 * send() is one datagram (one CoAP message), each 'message' event one datagram received from that
 * peer, already authenticated and decrypted where the transport does that (DTLS).
 *
 * Events: 'message' (datagram: Uint8Array), 'error' (error: Error; a failure the transport cannot
 * hide, after which it may still work), 'close' (the association ended, locally or by the peer).
 */
export interface DatagramTransport {
  /** Hands one datagram to the network; rejects only when it cannot be sent at all. */
  send(datagram: Uint8Array): Promise<void>;
  on(event: 'message', listener: (datagram: Uint8Array) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'close', listener: () => void): this;
  off(event: 'message', listener: (datagram: Uint8Array) => void): this;
  off(event: 'error', listener: (error: Error) => void): this;
  off(event: 'close', listener: () => void): this;
  /** Ends the association (DTLS sends close_notify) and releases the socket. Idempotent. */
  close(): Promise<void>;
  /** The largest datagram the transport carries to this peer (path MTU minus its own overhead). */
  readonly maxDatagramSize?: number;
  /** Where the datagrams go, for traces and errors. */
  readonly remote: { address: string; port: number };
}

/** The destination of a transport: what a DTLS factory gets for coaps:// URIs. */
export interface DatagramPeer {
  host: string;
  port: number;
}

/** Plain UDP over a connected `dgram` socket: it receives only from the peer it is connected to. */
export class UdpTransport extends EventEmitter implements DatagramTransport {
  readonly remote: { address: string; port: number };
  private closed = false;

  private constructor(private readonly socket: Socket) {
    super();
    const peer = socket.remoteAddress();
    this.remote = { address: peer.address, port: peer.port };
    socket.on('message', (data: Buffer) =>
      this.emit('message', new Uint8Array(data.buffer, data.byteOffset, data.length)),
    );
    // An ICMP port unreachable arrives as ECONNREFUSED on a connected socket: the peer may come back.
    socket.on('error', (error) => this.emit('error', error));
    socket.on('close', () => {
      this.closed = true;
      this.emit('close');
    });
  }

  /** Resolves the host (IPv4 or IPv6), connects a socket to it and optionally binds a local port. */
  static async connect(
    peer: DatagramPeer,
    local: { address?: string; port?: number } = {},
  ): Promise<UdpTransport> {
    const address = isIP(peer.host) ? peer.host : (await lookup(peer.host)).address;
    const socket = createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: local.port ?? 0, ...(local.address ? { address: local.address } : {}) }, () => {
        socket.connect(peer.port, address, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    }).catch((error) => {
      socket.close();
      throw error;
    });
    return new UdpTransport(socket);
  }

  send(datagram: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error('UDP transport is closed'));
    return new Promise((resolve, reject) =>
      this.socket.send(datagram, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** The local port, e.g. to tell a test which client a proxy sees. */
  get localPort(): number {
    return this.socket.address().port;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
