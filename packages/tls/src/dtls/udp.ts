// The default datagram link of a DTLS client: a `dgram` socket connected to the server, so it hears
// from that address only (RFC 6347 §4.1: associations are by address; others' datagrams never reach us).
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { DatagramLink } from './options.js';

export class UdpLink extends EventEmitter implements DatagramLink {
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    readonly remote: { address: string; port: number },
  ) {
    super();
    socket.on('message', (data: Buffer) =>
      this.emit('message', new Uint8Array(data.buffer, data.byteOffset, data.length)),
    );
    socket.on('error', (error) => this.emit('error', error));
  }

  static async connect(host: string, port: number): Promise<UdpLink> {
    const address = isIP(host) ? host : (await lookup(host)).address;
    const socket = createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new UdpLink(socket, { address, port });
  }

  send(datagram: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the socket is closed'));
    return new Promise((resolve, reject) =>
      this.socket.send(datagram, (error) => (error ? reject(error) : resolve())),
    );
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
