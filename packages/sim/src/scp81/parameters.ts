// The HTTP administration parameters a security domain keeps (GP Amd B §3.3: what `81 00` means) and
// those of one session: the stored ones overlaid with what a trigger carries.
import { isIP } from 'node:net';
import {
  ADDRESS_TYPE,
  type AdminSessionTrigger,
  BEARER,
  bytesToHex,
  concatBytes,
  decodeComprehensionTlvs,
  decodeNetworkAccessName,
  encodeNetworkAccessName,
  FormatError,
  OPEN_CHANNEL_QUALIFIER,
  type OpenChannelRequest,
  openChannelFromTlvs,
  TRANSPORT_PROTOCOL,
  timerSeconds,
  u16be,
} from '@iotsafe/protocol';

export interface AdminRetryPolicy {
  /** Retries after a failed attempt (GP Amd B retry counter). */
  counter: number;
  /** Waiting delay before each retry, in seconds. */
  delaySeconds: number;
}

export interface AdminParameters {
  /** The admin server's IP address the channel opens to (IPv4 or IPv6 text). */
  address?: string;
  port: number;
  /** HTTP Host (8A); the address when absent. */
  host?: string;
  /** X-Admin-From (8B). */
  agentId?: string;
  /** The admin URI of the first POST (8C). */
  uri: string;
  /** The PSK identity, opaque bytes (85). */
  pskIdentity: Uint8Array;
  /** The SCP81 key set (KVN 40..4F) and key (01, TLS-PSK). */
  keyVersion: number;
  keyId: number;
  /** The BIP channel's buffer size asked for in OPEN CHANNEL (real cards: 512, 1024, 1422). */
  bufferSize: number;
  /** Network access name (APN). */
  apn?: string;
  /** OPEN CHANNEL in background mode (the terminal reports the link with a channel status event). */
  background: boolean;
  retry: AdminRetryPolicy;
}

export const DEFAULT_ADMIN_PARAMETERS = {
  port: 443,
  uri: '/',
  keyVersion: 0x40,
  keyId: 0x01,
  bufferSize: 1024,
  background: false,
  retry: { counter: 0, delaySeconds: 0 },
} as const;

/** Parameters the session could not be run with (no address, no PSK identity…): no retry helps. */
export class AdminParameterError extends Error {
  override name = 'AdminParameterError';
}

/** One session's parameters: the stored defaults under the trigger's (GP Amd B §3.3). */
export function sessionParameters(
  stored: AdminParameters | undefined,
  trigger: AdminSessionTrigger,
): AdminParameters & { connection?: OpenChannelRequest } {
  const base: Partial<AdminParameters> = stored ? { ...stored } : { ...DEFAULT_ADMIN_PARAMETERS };
  let connection: OpenChannelRequest | undefined;
  if (trigger.connection) {
    try {
      connection = openChannelFromTlvs(0, decodeComprehensionTlvs(trigger.connection, { lenient: true }));
    } catch (error) {
      throw new AdminParameterError(`bad connection parameters: ${(error as Error).message}`);
    }
    if (connection.bufferSize > 0) base.bufferSize = connection.bufferSize;
    if (connection.transport) base.port = connection.transport.port;
    const address = connection.address;
    if (address && !address.truncated) base.address = addressText(address.type, address.address);
    if (connection.networkAccessName) {
      try {
        base.apn = decodeNetworkAccessName(connection.networkAccessName);
      } catch {
        // an APN the card cannot read as labels still goes to the terminal as it came (openChannelRequest)
      }
    }
  }
  const security = trigger.security;
  if (security) {
    if (security.pskIdentity.length > 0) base.pskIdentity = security.pskIdentity;
    base.keyVersion = security.keyVersion;
    base.keyId = security.keyId;
  }
  if (trigger.retry)
    base.retry = { counter: trigger.retry.counter, delaySeconds: timerSeconds(trigger.retry.delay) };
  if (trigger.http?.host) base.host = trigger.http.host;
  if (trigger.http?.agentId) base.agentId = trigger.http.agentId;
  if (trigger.http?.uri) base.uri = trigger.http.uri;
  if (!base.address)
    throw new AdminParameterError('no admin server address (none stored, none in the trigger)');
  if (!base.pskIdentity?.length)
    throw new AdminParameterError('no PSK identity (none stored, none in the trigger)');
  const full = { ...DEFAULT_ADMIN_PARAMETERS, ...base } as AdminParameters;
  return connection ? { ...full, connection } : full;
}

export function addressText(type: number, bytes: Uint8Array): string {
  if (type === ADDRESS_TYPE.IPV4 && bytes.length === 4) return [...bytes].join('.');
  if (type === ADDRESS_TYPE.IPV6 && bytes.length === 16)
    return (bytesToHex(bytes).match(/.{4}/g) ?? []).join(':').toLowerCase();
  throw new AdminParameterError('the admin server address is neither IPv4 nor IPv6');
}

function addressBytes(address: string): { type: number; address: Uint8Array } {
  const version = isIP(address);
  if (version === 4)
    return { type: ADDRESS_TYPE.IPV4, address: Uint8Array.from(address.split('.').map(Number)) };
  if (version === 6) {
    const [head = '', tail = ''] = address.split('::');
    const groups = (part: string) => (part ? part.split(':') : []);
    const missing = 8 - groups(head).length - groups(tail).length;
    const all = [...groups(head), ...Array(address.includes('::') ? missing : 0).fill('0'), ...groups(tail)];
    return {
      type: ADDRESS_TYPE.IPV6,
      address: concatBytes(...all.map((g) => u16be(Number.parseInt(g, 16)))),
    };
  }
  throw new AdminParameterError(`${address} is not an IP address (this agent does not resolve names)`);
}

/** The OPEN CHANNEL (TS 102 223 §6.6.27) a session asks for: TCP client mode to the admin server. */
export function openChannelRequest(
  p: AdminParameters & { connection?: OpenChannelRequest },
): OpenChannelRequest {
  const qualifier = p.background
    ? OPEN_CHANNEL_QUALIFIER.BACKGROUND_MODE
    : OPEN_CHANNEL_QUALIFIER.IMMEDIATE_LINK;
  const from = p.connection;
  return {
    qualifier,
    bearer: from?.bearer ?? { type: BEARER.DEFAULT, parameters: new Uint8Array(0) },
    bufferSize: p.bufferSize,
    ...(from?.networkAccessName
      ? { networkAccessName: from.networkAccessName }
      : p.apn
        ? { networkAccessName: encodeNetworkAccessName(p.apn) }
        : {}),
    ...(from?.login ? { login: from.login } : {}),
    ...(from?.password ? { password: from.password } : {}),
    transport: { protocol: TRANSPORT_PROTOCOL.TCP_CLIENT_REMOTE, port: p.port },
    address: addressBytes(p.address!),
  };
}

/** Checks stored parameters (from a profile or a host): FormatError when they cannot work. */
export function checkAdminParameters(p: AdminParameters): void {
  if (p.address !== undefined) addressBytes(p.address);
  if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535)
    throw new FormatError('the admin port is 1..65535');
  if (p.keyVersion < 0x40 || p.keyVersion > 0x4f) throw new FormatError('SCP81 key sets have KVN 40..4F');
  if (p.pskIdentity.length === 0 || p.pskIdentity.length > 128)
    throw new FormatError('a PSK identity is 1..128 bytes');
  if (p.bufferSize < 1 || p.bufferSize > 0xffff) throw new FormatError('a buffer size is 1..65535');
  if (!/^\/[\x21-\x7e]*$/.test(p.uri))
    throw new FormatError('the admin URI is a path (and query) starting with /');
}
