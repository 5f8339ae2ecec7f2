// One HTTP/1.1 exchange (RFC 9112) over a stream that is already secure — our TLS client, whose key
// operations run in the SIM — with Connection: close: the request, then the answer read to its end.
// Answers are bounded; chunked and Content-Length bodies are both read.
import type { Duplex } from 'node:stream';

export interface HttpAnswer {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/** Longest answer read (an EST answer is a few kilobytes). */
const MAX_ANSWER = 256 * 1024;

export function httpExchange(
  stream: Duplex,
  request: { method: string; host: string; path: string; headers?: Record<string, string>; body?: string },
  timeoutMs: number,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const timer = setTimeout(
      () => finish(new Error(`no complete HTTP answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const finish = (error?: Error) => {
      clearTimeout(timer);
      stream.removeAllListeners('data');
      stream.destroy();
      if (error) return reject(error);
      try {
        resolve(parseAnswer(Buffer.concat(chunks)));
      } catch (e) {
        reject(e);
      }
    };
    stream.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > MAX_ANSWER) return finish(new Error(`the HTTP answer is longer than ${MAX_ANSWER} bytes`));
      chunks.push(chunk);
    });
    stream.once('end', () => finish());
    stream.once('close', () => finish());
    stream.once('error', (error: Error) => finish(error));
    const body = request.body ?? '';
    const headers = {
      Host: request.host,
      Connection: 'close',
      ...(request.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}),
      ...request.headers,
    };
    const head = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    stream.write(`${request.method} ${request.path} HTTP/1.1\r\n${head}\r\n${body}`);
  });
}

function parseAnswer(raw: Buffer): HttpAnswer {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error('the HTTP answer ended before its headers did');
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (!match) throw new Error('not an HTTP/1.1 answer');
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = raw.subarray(end + 4);
  if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') body = dechunk(body);
  else if (headers.has('content-length')) {
    const declared = Number(headers.get('content-length'));
    if (!Number.isInteger(declared) || body.length < declared)
      throw new Error('the HTTP answer was cut short');
    body = body.subarray(0, declared);
  }
  return { status: Number(match[1]), headers, body };
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) throw new Error('a chunked HTTP answer was cut short');
    const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isInteger(size) || size < 0) throw new Error('a bad chunk size in the HTTP answer');
    if (size === 0) return Buffer.concat(parts);
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}
