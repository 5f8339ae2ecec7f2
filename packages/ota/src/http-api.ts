// `iotsafe ota serve`: the OTA server with its SMPP link kept open, taking scripts over a small HTTP API
// on 127.0.0.1. POST /send {"to", "tar", "script" (hex), "spi"?, "kvn"?} answers the PoR as JSON.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { bytesToHex, FormatError, hexToBytes } from '@iotsafe/protocol';
import { KeyStoreError } from './key-store.js';
import { type OtaServer, OtaTimeoutError } from './server.js';

const MAX_BODY = 64 * 1024;

export interface ServedApi {
  port: number;
  stop(): Promise<void>;
}

function reply(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(`${JSON.stringify(body)}\n`);
}

export async function serveOtaApi(
  server: OtaServer,
  options: { host?: string; port?: number } = {},
): Promise<ServedApi> {
  const api = http.createServer((request, response) => {
    if (request.method !== 'POST' || request.url !== '/send')
      return reply(response, 404, { error: 'POST /send' });
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
      if (body.length > MAX_BODY) request.destroy();
    });
    request.on('end', async () => {
      try {
        const job = JSON.parse(body) as {
          to?: unknown;
          tar?: unknown;
          script?: unknown;
          spi?: unknown;
          kvn?: unknown;
        };
        if (typeof job.to !== 'string' || typeof job.tar !== 'string' || typeof job.script !== 'string')
          return reply(response, 400, { error: 'give "to", "tar" and "script" (hex)' });
        if (!/^[0-9a-fA-F]{6}$/.test(job.tar))
          return reply(response, 400, { error: '"tar" is 3 bytes of hex' });
        const result = await server.send({
          sim: job.to,
          tar: job.tar,
          script: hexToBytes(job.script),
          ...(typeof job.spi === 'string' ? { spi: job.spi } : {}),
          ...(typeof job.kvn === 'number' ? { kvn: job.kvn } : {}),
        });
        reply(response, 200, {
          counter: result.counter.toString(),
          attempts: result.attempts,
          ...(result.por
            ? {
                status: result.por.status,
                statusText: result.por.statusText,
                data: bytesToHex(result.por.data),
              }
            : {}),
        });
      } catch (error) {
        if (error instanceof SyntaxError || error instanceof FormatError || error instanceof KeyStoreError)
          return reply(response, 400, { error: error.message });
        if (error instanceof OtaTimeoutError) return reply(response, 504, { error: error.message });
        reply(response, 502, { error: (error as Error).message });
      }
    });
  });
  await new Promise<void>((resolve) => api.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  return {
    port: (api.address() as AddressInfo).port,
    stop: () => new Promise((resolve) => api.close(() => resolve())),
  };
}
