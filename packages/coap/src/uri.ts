// coap:// and coaps:// URIs into a destination and request options (RFC 7252 §6, §6.4).
import { CoapUriError } from './errors.js';
import { type CoapOption, OptionNumber, stringOption } from './options.js';

export const COAP_PORT = 5683;
export const COAPS_PORT = 5684;

export interface CoapUri {
  secure: boolean;
  /** The host as written, without IPv6 brackets: where to send. */
  host: string;
  port: number;
  /** Uri-Host (for a reg-name), Uri-Path and Uri-Query options, in RFC 7252 §6.4 order. */
  options: CoapOption[];
  /** The path and query as given (after "coap://host:port"), for display. */
  resource: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function percentDecode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new CoapUriError(`malformed percent-encoding in the ${what}: ${part}`);
  }
}

/** RFC 7252 §6.4: the algorithm from a URI to request options, step by step. */
export function parseCoapUri(text: string): CoapUri {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CoapUriError(`not an absolute URI: ${text}`);
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'coap' && scheme !== 'coaps')
    throw new CoapUriError(`scheme ${scheme}: only coap and coaps are supported`);
  if (url.hash !== '' || text.includes('#'))
    throw new CoapUriError('a CoAP URI has no fragment (§6.4 step 3)');
  if (url.username !== '' || url.password !== '')
    throw new CoapUriError('a CoAP URI has no user information');
  const literal = url.hostname;
  if (literal === '') throw new CoapUriError(`no host in ${text}`);
  const ipv6 = literal.startsWith('[');
  const host = ipv6 ? literal.slice(1, -1) : literal;
  const secure = scheme === 'coaps';
  const port = url.port === '' ? (secure ? COAPS_PORT : COAP_PORT) : Number(url.port);
  const options: CoapOption[] = [];
  // Step 5: Uri-Host only for a reg-name, lowercased then percent-decoded.
  if (!ipv6 && !IPV4.test(host))
    options.push(stringOption(OptionNumber.UriHost, percentDecode(host.toLowerCase(), 'host')));
  // Step 6 (Uri-Port) is left out: the request goes to that port already.
  // Step 8: "/" or "" means no Uri-Path; every other segment, even empty, is one option.
  const path = url.pathname;
  if (path !== '' && path !== '/')
    for (const segment of path.slice(1).split('/'))
      options.push(stringOption(OptionNumber.UriPath, percentDecode(segment, 'path')));
  // Step 9: each "&"-separated query argument is one Uri-Query.
  if (url.search.length > 1)
    for (const argument of url.search.slice(1).split('&'))
      options.push(stringOption(OptionNumber.UriQuery, percentDecode(argument, 'query')));
  return { secure, host, port, options, resource: `${path || '/'}${url.search}` };
}

/** Options for a path with an optional query relative to the client's origin: "/time?ticks". */
export function resourceOptions(resource: string): CoapOption[] {
  if (!resource.startsWith('/')) throw new CoapUriError(`a resource path starts with "/": ${resource}`);
  return parseCoapUri(`coap://0.0.0.0${resource}`).options;
}
