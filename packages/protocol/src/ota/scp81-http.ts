// The HTTP/1.1 messages of GlobalPlatform Amd B (§3.4–3.5, RFC 9112 framing): the admin agent POSTs,
// the admin server answers with the next script. The agent's request encoder and its response parser
// (incremental; Content-Length, chunked or close-delimited bodies; bounded; malformed input is an
// HttpFormatError) live here, sans I/O, for the card and for any server that wants them.
import { bytesToHex, concatBytes, FormatError, hexToBytes, utf8 } from '../bytes.js';

export const ADMIN_PROTOCOL = 'globalplatform-remote-admin/1.0';
export const CONTENT_TYPE_SCRIPT = 'application/vnd.globalplatform.card-content-mgt;version=1.0';
export const CONTENT_TYPE_RESPONSE = 'application/vnd.globalplatform.card-content-mgt-response;version=1.0';

/** X-Admin-Script-Status values of GP Amd B (the card's verdict on the last script). */
export type ScriptStatus = 'ok' | 'unknown-application' | 'not-a-security-domain' | 'security-error';

export class HttpFormatError extends FormatError {
  override name = 'HttpFormatError';
}

export interface AdminRequest {
  /** The admin URI, later the X-Admin-Next-URI as received (path and query). */
  uri: string;
  host: string;
  /** X-Admin-From: the agent id. */
  agentId?: string;
  /** The response scripting template of the last script (absent on the first POST). */
  body?: Uint8Array;
  scriptStatus?: ScriptStatus;
  /** X-Admin-Resume: true, on the POST that resumes a broken session. */
  resume?: boolean;
  /** How the body travels: chunked, as the reference trace (default), or with a Content-Length. */
  bodyEncoding?: 'chunked' | 'content-length';
}

/** Characters a request target or header value may hold: no controls, no spaces (RFC 9112 §3.2). */
const SAFE_TARGET = /^[\x21-\x7e]+$/;
const SAFE_VALUE = /^[\x20-\x7e]*$/;

export function encodeAdminRequest(r: AdminRequest): Uint8Array {
  if (!SAFE_TARGET.test(r.uri)) throw new HttpFormatError('the admin URI holds spaces or control characters');
  for (const value of [r.host, r.agentId ?? ''])
    if (!SAFE_VALUE.test(value)) throw new HttpFormatError('a header value holds control characters');
  const lines = [
    `POST ${r.uri} HTTP/1.1`,
    `Host: ${r.host}`,
    `X-Admin-Protocol: ${ADMIN_PROTOCOL}`,
    ...(r.agentId ? [`X-Admin-From: ${r.agentId}`] : []),
    ...(r.scriptStatus ? [`X-Admin-Script-Status: ${r.scriptStatus}`] : []),
    ...(r.resume ? ['X-Admin-Resume: true'] : []),
  ];
  const body = r.body;
  if (!body || body.length === 0) {
    lines.push('Content-Length: 0');
    return utf8(`${lines.join('\r\n')}\r\n\r\n`);
  }
  lines.push(`Content-Type: ${CONTENT_TYPE_RESPONSE}`);
  if (r.bodyEncoding === 'content-length') {
    lines.push(`Content-Length: ${body.length}`);
    return concatBytes(utf8(`${lines.join('\r\n')}\r\n\r\n`), body);
  }
  lines.push('Transfer-Encoding: chunked');
  return concatBytes(
    utf8(`${lines.join('\r\n')}\r\n\r\n${body.length.toString(16)}\r\n`),
    body,
    utf8('\r\n0\r\n\r\n'),
  );
}

export interface HttpResponse {
  status: number;
  reason: string;
  /** Header names in lower case; repeated headers joined with ", " (RFC 9110 §5.3). */
  headers: Map<string, string>;
  body: Uint8Array;
}

export interface ResponseLimits {
  /** Status line and headers (default 8 KiB). */
  maxHeaderBytes?: number;
  /** Body (default 64 KiB: a card's script). */
  maxBodyBytes?: number;
}

const CRLF_CRLF = [0x0d, 0x0a, 0x0d, 0x0a];
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function indexOfSequence(data: Uint8Array, sequence: readonly number[], from: number): number {
  outer: for (let i = from; i + sequence.length <= data.length; i++) {
    for (let k = 0; k < sequence.length; k++) if (data[i + k] !== sequence[k]) continue outer;
    return i;
  }
  return -1;
}

/** End of the header section: CRLF CRLF, or LF LF as RFC 9112 §2.2 lets a recipient accept. */
function headerEnd(data: Uint8Array): { end: number; next: number } | undefined {
  const crlf = indexOfSequence(data, CRLF_CRLF, 0);
  const lf = indexOfSequence(data, [0x0a, 0x0a], 0);
  if (crlf < 0 && lf < 0) return undefined;
  if (lf >= 0 && (crlf < 0 || lf < crlf)) return { end: lf, next: lf + 2 };
  return { end: crlf, next: crlf + 4 };
}

function latin1(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += String.fromCharCode(b);
  return out;
}

/** A control character other than HTAB (RFC 9110 §5.5: field values are VCHAR, SP, HTAB, obs-text). */
function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

/** Header lines (RFC 9112 §5): names are tokens, no folding, no control characters in values. */
function parseFields(lines: readonly string[]): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of lines) {
    if (/^[ \t]/.test(line)) throw new HttpFormatError('obsolete header line folding');
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!TOKEN.test(name)) throw new HttpFormatError('a header line without a valid name');
    const value = line.slice(colon + 1).trim();
    if (hasControlCharacter(value)) throw new HttpFormatError(`header ${name} holds control characters`);
    const key = name.toLowerCase();
    const previous = headers.get(key);
    headers.set(key, previous === undefined ? value : `${previous}, ${value}`);
  }
  return headers;
}

function parseHead(text: string): { status: number; reason: string; headers: Map<string, string> } {
  const lines = text.split(/\r?\n/);
  const match = /^HTTP\/1\.[01] ([1-5][0-9]{2})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!match) throw new HttpFormatError('not an HTTP/1.x status line');
  return { status: Number(match[1]), reason: match[2] ?? '', headers: parseFields(lines.slice(1)) };
}

function contentLength(headers: Map<string, string>): number | undefined {
  const raw = headers.get('content-length');
  if (raw === undefined) return undefined;
  const values = new Set(raw.split(',').map((v) => v.trim()));
  const [only] = values;
  if (values.size !== 1 || !only || !/^[0-9]{1,15}$/.test(only))
    throw new HttpFormatError('a bad Content-Length');
  return Number(only);
}

type Chunked = { body: Uint8Array; next: number } | undefined;

/** A chunked body from `start` (RFC 9112 §7.1): sizes in hex, extensions ignored, trailers skipped. */
function parseChunked(data: Uint8Array, start: number, max: number): Chunked {
  const parts: Uint8Array[] = [];
  let size = 0;
  let at = start;
  for (;;) {
    const lineEnd = data.indexOf(0x0a, at);
    if (lineEnd < 0) {
      if (data.length - at > 1024) throw new HttpFormatError('a chunk size line longer than 1 KiB');
      return undefined;
    }
    const line = latin1(data.subarray(at, lineEnd)).replace(/\r$/, '');
    const sizeText = line.split(';')[0]!.trim();
    if (!/^[0-9A-Fa-f]{1,8}$/.test(sizeText)) throw new HttpFormatError('a bad chunk size');
    const length = Number.parseInt(sizeText, 16);
    at = lineEnd + 1;
    if (length === 0) {
      // trailer section, up to an empty line
      for (;;) {
        const end = data.indexOf(0x0a, at);
        if (end < 0) return undefined;
        const trailer = latin1(data.subarray(at, end)).replace(/\r$/, '');
        at = end + 1;
        if (trailer === '') return { body: concatBytes(...parts), next: at };
        if (at - start > max + 8192) throw new HttpFormatError('trailers too long');
      }
    }
    size += length;
    if (size > max) throw new HttpFormatError(`a body over ${max} bytes`);
    if (at + length + 1 > data.length) return undefined;
    parts.push(data.subarray(at, at + length));
    at += length;
    if (data[at] === 0x0d) at++;
    if (at >= data.length) return undefined;
    if (data[at] !== 0x0a) throw new HttpFormatError('a chunk not followed by CRLF');
    at++;
  }
}

/**
 * One response from the front of `data`, or undefined while more bytes are needed. `ended` says the
 * connection closed, which completes a body delimited by the close. 1xx interim responses are skipped.
 */
export function parseHttpResponse(
  data: Uint8Array,
  ended = false,
  limits: ResponseLimits = {},
): { response: HttpResponse; consumed: number } | undefined {
  const maxHead = limits.maxHeaderBytes ?? 8192;
  const maxBody = limits.maxBodyBytes ?? 65536;
  let offset = 0;
  for (;;) {
    const rest = data.subarray(offset);
    const found = headerEnd(rest);
    if (!found) {
      if (rest.length > maxHead) throw new HttpFormatError(`a header section over ${maxHead} bytes`);
      if (ended && rest.length > 0) throw new HttpFormatError('the connection closed inside a response head');
      return undefined;
    }
    if (found.end > maxHead) throw new HttpFormatError(`a header section over ${maxHead} bytes`);
    const head = parseHead(latin1(rest.subarray(0, found.end)));
    const bodyStart = found.next;
    if (head.status < 200) {
      offset += bodyStart; // 100 Continue and friends carry no body
      continue;
    }
    const finish = (body: Uint8Array, next: number) => ({
      response: { ...head, body: body.slice() },
      consumed: offset + next,
    });
    if (head.status === 204 || head.status === 304) return finish(new Uint8Array(0), bodyStart);
    const encoding = head.headers.get('transfer-encoding');
    if (encoding !== undefined) {
      if (encoding.toLowerCase() !== 'chunked')
        throw new HttpFormatError(`transfer coding "${encoding}" is not supported`);
      const chunked = parseChunked(rest, bodyStart, maxBody);
      if (!chunked) {
        if (ended) throw new HttpFormatError('the connection closed inside a chunked body');
        return undefined;
      }
      return finish(chunked.body, chunked.next);
    }
    const length = contentLength(head.headers);
    if (length !== undefined) {
      if (length > maxBody) throw new HttpFormatError(`a body over ${maxBody} bytes`);
      if (rest.length < bodyStart + length) {
        if (ended) throw new HttpFormatError('the connection closed inside a body');
        return undefined;
      }
      return finish(rest.subarray(bodyStart, bodyStart + length), bodyStart + length);
    }
    // neither: the body runs to the close (RFC 9112 §6.3 item 8)
    if (rest.length - bodyStart > maxBody) throw new HttpFormatError(`a body over ${maxBody} bytes`);
    if (!ended) return undefined;
    return finish(rest.subarray(bodyStart), rest.length);
  }
}

/** The AID of X-Admin-Targeted-Application: //aid/<RID>/<PIX> (GP Amd B §3.5), hex digits. */
export function parseTargetedApplication(value: string): Uint8Array {
  const match = /^\/\/aid\/([0-9A-Fa-f]{10})\/([0-9A-Fa-f]{0,22})$/.exec(value.trim());
  if (!match || match[2]!.length % 2 !== 0) throw new HttpFormatError('not an //aid/<RID>/<PIX> application');
  return hexToBytes(match[1]! + match[2]!);
}

export function formatTargetedApplication(aid: Uint8Array): string {
  const hex = bytesToHex(aid);
  return `//aid/${hex.slice(0, 10)}/${hex.slice(10)}`;
}

// The admin server's side: the agent's requests read with the same bounds, and its responses.

export interface HttpRequest {
  method: string;
  /** The request target as sent (the admin URI, then the X-Admin-Next-URI echoed). */
  target: string;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Map<string, string>;
  body: Uint8Array;
}

/**
 * One request from the front of `data`, or undefined while more bytes are needed (RFC 9112 §6.3: a
 * request without Content-Length or Transfer-Encoding has no body). Both at once is refused, as is a
 * transfer coding other than chunked: a request a proxy could read otherwise (request smuggling).
 */
export function parseHttpRequest(
  data: Uint8Array,
  limits: ResponseLimits = {},
): { request: HttpRequest; consumed: number } | undefined {
  const maxHead = limits.maxHeaderBytes ?? 8192;
  const maxBody = limits.maxBodyBytes ?? 65536;
  const found = headerEnd(data);
  if (!found) {
    if (data.length > maxHead) throw new HttpFormatError(`a header section over ${maxHead} bytes`);
    return undefined;
  }
  if (found.end > maxHead) throw new HttpFormatError(`a header section over ${maxHead} bytes`);
  const lines = latin1(data.subarray(0, found.end)).split(/\r?\n/);
  const match = /^([A-Z]{1,16}) ([\x21-\x7e]{1,2048}) HTTP\/1\.[01]$/.exec(lines[0] ?? '');
  if (!match) throw new HttpFormatError('not an HTTP/1.x request line');
  const headers = parseFields(lines.slice(1));
  const finish = (body: Uint8Array, next: number) => ({
    request: { method: match[1]!, target: match[2]!, headers, body: body.slice() },
    consumed: next,
  });
  const encoding = headers.get('transfer-encoding');
  if (encoding !== undefined) {
    if (headers.has('content-length')) throw new HttpFormatError('both Content-Length and Transfer-Encoding');
    if (encoding.toLowerCase() !== 'chunked')
      throw new HttpFormatError(`transfer coding "${encoding}" is not supported`);
    const chunked = parseChunked(data, found.next, maxBody);
    return chunked && finish(chunked.body, chunked.next);
  }
  const length = contentLength(headers) ?? 0;
  if (length > maxBody) throw new HttpFormatError(`a body over ${maxBody} bytes`);
  if (data.length < found.next + length) return undefined;
  return finish(data.subarray(found.next, found.next + length), found.next + length);
}

export interface AdminResponse {
  /** A script follows (200), or the session ends (204, GP Amd B §3.5). */
  script?: Uint8Array;
  /** X-Admin-Next-URI: where the card posts the script's result; without it the result is not sent. */
  nextUri?: string;
  /** X-Admin-Targeted-Application (//aid/<RID>/<PIX>), when the script is not for the ISD. */
  targetedApplication?: string;
  /** Content-Length (default) or chunked; chunked bodies in chunks of `chunkSize` (default: one). */
  bodyEncoding?: 'content-length' | 'chunked';
  chunkSize?: number;
}

/** The admin server's answer to a POST: 200 with the next command script, or 204 No Content. */
export function encodeAdminResponse(r: AdminResponse): Uint8Array {
  const lines = [`X-Admin-Protocol: ${ADMIN_PROTOCOL}`];
  if (!r.script) return utf8(`HTTP/1.1 204 No Content\r\n${lines.join('\r\n')}\r\n\r\n`);
  for (const value of [r.nextUri, r.targetedApplication])
    if (value !== undefined && !SAFE_TARGET.test(value))
      throw new HttpFormatError('a header value holds spaces or control characters');
  if (r.nextUri !== undefined) lines.push(`X-Admin-Next-URI: ${r.nextUri}`);
  if (r.targetedApplication !== undefined)
    lines.push(`X-Admin-Targeted-Application: ${r.targetedApplication}`);
  lines.push(`Content-Type: ${CONTENT_TYPE_SCRIPT}`);
  const body = r.script;
  if (r.bodyEncoding !== 'chunked') {
    lines.push(`Content-Length: ${body.length}`);
    return concatBytes(utf8(`HTTP/1.1 200 OK\r\n${lines.join('\r\n')}\r\n\r\n`), body);
  }
  lines.push('Transfer-Encoding: chunked');
  const size = Math.max(1, r.chunkSize ?? body.length);
  const parts: Uint8Array[] = [utf8(`HTTP/1.1 200 OK\r\n${lines.join('\r\n')}\r\n\r\n`)];
  for (let at = 0; at < body.length; at += size) {
    const chunk = body.subarray(at, at + size);
    parts.push(utf8(`${chunk.length.toString(16)}\r\n`), chunk, utf8('\r\n'));
  }
  parts.push(utf8('0\r\n\r\n'));
  return concatBytes(...parts);
}

/** A plain error answer of the admin server (no script), which closes the connection. */
export function encodeHttpError(status: 400 | 403 | 404 | 408 | 413 | 500 | 503, reason: string): Uint8Array {
  return utf8(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
}
