// Bulk data through the reused memory of the record layer, against node:tls on 127.0.0.1: output
// buffers go back to their pool once the socket is done with them, reads land behind a kept partial
// record, small writes buffered meanwhile are coalesced. Every byte must arrive as sent, in order,
// whatever the write sizes and however the socket completes the writes (at once, or later).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { SoftwareKeyOps, type TlsClientSocket } from '@iotsafe/tls';
import { connectToTestServer, testPki } from '../../../test/helpers/pki.js';

const pki = testPki();
/** What the server received per connection (its SHA-256 once the client ends), or sends when asked. */
let server: tls.Server;
let port = 0;
const source = randomBytes(6 * 1024 * 1024 + 12_345);

before(async () => {
  server = tls.createServer({ key: pki.server.keyPem, cert: pki.server.certificatePem }, (s) => {
    s.on('error', () => {});
    const hash = createHash('sha256');
    let length = 0;
    s.once('data', (first: Buffer) => {
      if (first.toString() === 'send') {
        // Odd-sized writes, so that records and reads never line up.
        for (let at = 0; at < source.length; at += 100_003) s.write(source.subarray(at, at + 100_003));
        s.end();
        return;
      }
      hash.update(first);
      length += first.length;
      s.on('data', (d: Buffer) => {
        hash.update(d);
        length += d.length;
      });
      s.on('end', () => s.end(`${length} ${hash.digest('hex')}`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function open(): Promise<TlsClientSocket> {
  const socket = connectToTestServer(pki, port, { keyOps: new SoftwareKeyOps() });
  await once(socket, 'secureConnect');
  return socket;
}

async function verdict(socket: TlsClientSocket): Promise<string> {
  let answer = '';
  socket.on('data', (d: Buffer) => {
    answer += d.toString();
  });
  await once(socket, 'end');
  return answer;
}

test('writes of every size, none awaited, arrive as sent while output buffers are reused', async () => {
  const socket = await open();
  const sizes = [1, 100, 16_384, 16_385, 65_536, 65_543, 200_000, 7];
  let at = 0;
  for (let i = 0; at < source.length; i++) {
    const size = sizes[i % sizes.length]!;
    socket.write(source.subarray(at, at + size));
    at += size;
  }
  socket.end();
  assert.equal(await verdict(socket), `${source.length} ${sha256(source)}`);
});

test('small writes buffered behind a corked socket go out coalesced, in order', async () => {
  const socket = await open();
  const part = source.subarray(0, 300_000);
  socket.cork();
  for (let at = 0; at < part.length; at += 10) socket.write(part.subarray(at, at + 10));
  process.nextTick(() => socket.uncork());
  socket.end();
  assert.equal(await verdict(socket), `${part.length} ${sha256(part)}`);
});

test('a download read into reused memory arrives whole, partial records kept across reads', async () => {
  const socket = await open();
  const received: Buffer[] = [];
  socket.on('data', (d: Buffer) => received.push(d));
  socket.write('send');
  await once(socket, 'end');
  const all = Buffer.concat(received);
  assert.equal(all.length, source.length);
  assert.equal(sha256(all), sha256(source));
  socket.destroy();
});
