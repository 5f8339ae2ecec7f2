// The far end of the bulk benchmark, in its own process so that the benchmark's CPU time is the
// client's alone: a TLS sink (acknowledges each TOTAL bytes received with one byte) and a TLS source
// (sends TOTAL bytes for each byte it receives), so one connection serves every round. PEMs and TOTAL
// come from the environment; the ports go to stdout.
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';

const total = Number(process.env.BULK_TOTAL);
const options: tls.TlsOptions = {
  key: process.env.BULK_KEY,
  cert: process.env.BULK_CERT,
  minVersion: 'TLSv1.3',
};
const chunk = Buffer.alloc(64 * 1024, 0x62);

const sink = tls.createServer(options, (s) => {
  s.on('error', () => {});
  let received = 0;
  s.on('data', (d: Buffer) => {
    received += d.length;
    while (received >= total) {
      received -= total;
      s.write('k');
    }
  });
});
const source = tls.createServer(options, (s) => {
  s.on('error', () => {});
  let sending = Promise.resolve();
  const send = async () => {
    for (let sent = 0; sent < total && !s.destroyed; sent += chunk.length)
      if (!s.write(chunk)) await new Promise((resolve) => s.once('drain', resolve));
  };
  s.on('data', (d: Buffer) => {
    for (let i = 0; i < d.length; i++) sending = sending.then(send);
  });
});
const listening = (server: tls.Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
const ports = { sink: await listening(sink), source: await listening(source) };
process.stdout.write(`${JSON.stringify(ports)}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
