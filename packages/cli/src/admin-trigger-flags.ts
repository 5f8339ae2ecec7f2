// The flags of `iotsafe ota trigger` that put the admin session's parameters into the SMS (GP Amd B
// Table 3-3) instead of `81 00` ("use the stored ones"): the connection as OPEN CHANNEL TLVs (TS 102 223
// §6.6.27: default bearer, buffer size, TCP port, IPv4 address), the security (PSK identity, SCP81 KVN and
// KID) and the HTTP POST parameters (host, agent id, URI). What is not given the card takes from its store.
import { isIPv4 } from 'node:net';
import {
  ADDRESS_TYPE,
  type AdminSessionTrigger,
  BEARER,
  concatBytes,
  openChannelTlvs,
  TRANSPORT_PROTOCOL,
  utf8,
} from '@iotsafe/protocol';
import { type Command, Option } from 'commander';
import { hexOption, integerOption } from './ota-server.js';
import { UsageError } from './session.js';

export interface TriggerFlags {
  adminHost?: string;
  bufferSize: string;
  pskIdentity?: string;
  adminKvn?: string;
  adminKid?: string;
  httpHost?: string;
  agentId?: string;
  uri?: string;
  plain?: boolean;
  spi?: string;
}

/** What `ota trigger --json` reports of the parameters sent (docs/json.md); none of them is secret. */
export interface TriggerParametersJson {
  connection?: { address: string; port: number; bufferSize: number; bearer: 'default' };
  security?: { pskIdentity: string | null; keyVersion: string; keyId: string };
  http?: { host?: string; agentId?: string; uri?: string };
}

export function addTriggerFlags(c: Command): Command {
  return c
    .option(
      '--admin-host <ipv4:port>',
      "the admin server's IPv4 address and TCP port (connection parameters)",
    )
    .option('--buffer-size <bytes>', 'the channel buffer the card asks for, with --admin-host', '1024')
    .option('--psk-identity <text>', 'the PSK identity the card sends in its TLS handshake')
    .option('--admin-kvn <hex>', 'the SCP81 key set version, 40..4F (default 40 when security is given)')
    .option('--admin-kid <hex>', 'the key identifier of the TLS-PSK in it (default 01)')
    .option('--http-host <name>', 'the HTTP Host header of the POSTs')
    .option('--agent-id <text>', 'X-Admin-From, e.g. //se-id/iccid/ICCID')
    .option('--uri <path>', 'the URI of the first POST, e.g. /ram?sim=ICCID')
    .addOption(new Option('--spi <hex>', 'SPI of the SCP80 packet (default 1619)').conflicts('plain'))
    .option('--plain', 'send the trigger unsecured (SPI 0001): only cards that accept plain OTA take it');
}

/** A header-safe value: printable ASCII, as the card's parser takes them (GP Amd B §3.3). */
function printable(value: string | undefined, flag: string, max = 255): string | undefined {
  if (value === undefined) return undefined;
  if (!new RegExp(`^[\\x20-\\x7e]{1,${max}}$`).test(value))
    throw new UsageError(`${flag} takes 1 to ${max} printable ASCII characters`);
  return value;
}

function keyByte(value: string | undefined, flag: string, fallback: number, min: number, max: number) {
  if (value === undefined) return fallback;
  const byte = hexOption(value, flag, 1)[0]!;
  if (byte < min || byte > max)
    throw new UsageError(`${flag} takes ${min.toString(16)}..${max.toString(16)} (hex)`);
  return byte;
}

/** The trigger the flags describe, and its summary for --json; `{}` (81 00) when none is given. */
export function triggerFromFlags(o: TriggerFlags): {
  trigger: AdminSessionTrigger;
  parameters: TriggerParametersJson;
  spi: string;
} {
  const trigger: AdminSessionTrigger = {};
  const parameters: TriggerParametersJson = {};
  if (o.adminHost !== undefined) {
    const match = /^(.+):(\d{1,5})$/.exec(o.adminHost);
    const port = match ? Number(match[2]) : Number.NaN;
    if (!match || !isIPv4(match[1]!) || port < 1 || port > 65535)
      throw new UsageError('--admin-host takes IPV4:PORT (the card opens a TCP channel there)');
    const address = match[1]!;
    const bufferSize = integerOption(o.bufferSize, '--buffer-size', 1, 65535)!;
    // TS 102 223 §8.52 bearer 03 (default), §8.55 buffer size, §8.59 TCP client remote, §8.58 IPv4
    trigger.connection = concatBytes(
      ...openChannelTlvs({
        bearer: { type: BEARER.DEFAULT, parameters: new Uint8Array(0) },
        bufferSize,
        transport: { protocol: TRANSPORT_PROTOCOL.TCP_CLIENT_REMOTE, port },
        address: { type: ADDRESS_TYPE.IPV4, address: Uint8Array.from(address.split('.').map(Number)) },
      }),
    );
    parameters.connection = { address, port, bufferSize, bearer: 'default' };
  }
  const identity = printable(o.pskIdentity, '--psk-identity', 128);
  if (identity !== undefined || o.adminKvn !== undefined || o.adminKid !== undefined) {
    // GP Amd B §3.3: KVN 40..4F is an SCP81 key set; an empty identity keeps the stored one
    const keyVersion = keyByte(o.adminKvn, '--admin-kvn', 0x40, 0x40, 0x4f);
    const keyId = keyByte(o.adminKid, '--admin-kid', 0x01, 0x01, 0x7f);
    trigger.security = { pskIdentity: utf8(identity ?? ''), keyVersion, keyId };
    parameters.security = {
      pskIdentity: identity ?? null,
      keyVersion: keyVersion.toString(16).toUpperCase(),
      keyId: keyId.toString(16).padStart(2, '0').toUpperCase(),
    };
  }
  const host = printable(o.httpHost, '--http-host');
  const agentId = printable(o.agentId, '--agent-id');
  const uri = printable(o.uri, '--uri');
  if (uri !== undefined && !uri.startsWith('/')) throw new UsageError('--uri takes a path: /…');
  if (host !== undefined || agentId !== undefined || uri !== undefined) {
    const http = {
      ...(host !== undefined ? { host } : {}),
      ...(agentId !== undefined ? { agentId } : {}),
      ...(uri !== undefined ? { uri } : {}),
    };
    trigger.http = http;
    parameters.http = http;
  }
  const spi = o.plain ? '0001' : (o.spi ?? '1619');
  return { trigger, parameters, spi };
}
