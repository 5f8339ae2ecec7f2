// The terminal's channel table and the BIP commands that work on it (TS 102 223 §6.4.27–6.4.31): OPEN
// CHANNEL (TCP in UICC client mode, immediate, on demand or in the background), SEND DATA, RECEIVE DATA,
// CLOSE CHANNEL, GET CHANNEL STATUS, each giving the result and TLVs of its TERMINAL RESPONSE.
import { connect as netConnect, type Socket } from 'node:net';
import {
  ADDRESS_TYPE,
  BIP_ERROR,
  backgroundMode,
  bytesToHex,
  type CatResult,
  channelDataLengthTlv,
  channelDataTlv,
  channelOf,
  channelStatusTlv,
  GENERAL_RESULT,
  MAX_RECEIVE_CHUNK,
  OPEN_CHANNEL_QUALIFIER,
  openChannelResponseTlvs,
  type ProactiveCommand,
  parseOpenChannel,
  parseReceiveData,
  parseSendData,
  TRANSPORT_PROTOCOL,
} from '@iotsafe/protocol';
import { type ChannelEvents, TerminalChannel } from './channel.js';

/** What a command gives its TERMINAL RESPONSE: the result, the TLVs after it, and a note for traces. */
export interface CommandOutcome {
  result: CatResult;
  body?: Uint8Array[];
  note?: string;
}

export interface ChannelOptions {
  /** Channels the terminal offers (1..7, default 1, as most modems). */
  channels?: number;
  /** Largest buffer the terminal grants; a larger request gets this (result 07, modified). Default 1500. */
  maxBufferSize?: number;
  /** Opens the TCP connection (default node:net). */
  connect?: (host: string, port: number) => Socket;
  /** Where a channel goes when the card's other address is missing or cut (live cards send a bare 3E 05). */
  fallbackAddress?: { host: string; port?: number };
  /** Link establishment and send deadline (default 15 s). */
  connectTimeoutMs?: number;
}

export const OK: CatResult = { general: GENERAL_RESULT.OK };
export const bipError = (cause: number, note?: string): CommandOutcome => ({
  result: { general: GENERAL_RESULT.BIP_ERROR, additional: Uint8Array.of(cause) },
  ...(note ? { note } : {}),
});

/** An IPv4 or IPv6 address of an other address TLV as text. */
function addressText(type: number, address: Uint8Array): string | undefined {
  if (type === ADDRESS_TYPE.IPV4 && address.length === 4) return [...address].join('.');
  if (type === ADDRESS_TYPE.IPV6 && address.length === 16)
    return (bytesToHex(address).match(/.{4}/g) ?? []).join(':');
  return undefined;
}

export class BipChannels {
  private readonly table = new Map<number, TerminalChannel>();
  opened = 0;

  constructor(
    private readonly options: ChannelOptions,
    private readonly events: ChannelEvents,
  ) {}

  /** Whether `channel` is still the one open under its identifier (events are built late). */
  isOpen(channel: TerminalChannel): boolean {
    return this.table.get(channel.id) === channel;
  }

  list(): TerminalChannel[] {
    return [...this.table.values()];
  }

  closeAll(): void {
    for (const channel of this.table.values()) channel.close();
    this.table.clear();
  }

  async open(command: ProactiveCommand): Promise<CommandOutcome> {
    const request = parseOpenChannel(command);
    const transport = request.transport;
    if (!transport || transport.protocol !== TRANSPORT_PROTOCOL.TCP_CLIENT_REMOTE)
      return bipError(BIP_ERROR.TRANSPORT_LEVEL_NOT_AVAILABLE, 'only TCP in client mode');
    const address = request.address;
    let host = address && !address.truncated ? addressText(address.type, address.address) : undefined;
    let port = transport.port;
    if (!host && this.options.fallbackAddress) {
      host = this.options.fallbackAddress.host;
      port = this.options.fallbackAddress.port ?? port;
    }
    if (!host)
      return { result: { general: GENERAL_RESULT.REQUIRED_VALUES_MISSING }, note: 'no usable other address' };
    const limit = this.options.channels ?? 1;
    let id = 1;
    while (this.table.has(id) && id <= limit) id++;
    if (id > limit) return bipError(BIP_ERROR.NO_CHANNEL_AVAILABLE);
    const max = this.options.maxBufferSize ?? 1500;
    const bufferSize = Math.min(request.bufferSize || max, max);
    const connect = this.options.connect ?? ((h: string, p: number) => netConnect({ host: h, port: p }));
    const channel = new TerminalChannel(id, bufferSize, { host, port }, connect, this.events);
    const general =
      bufferSize < request.bufferSize ? GENERAL_RESULT.PERFORMED_WITH_MODIFICATION : GENERAL_RESULT.OK;
    const respond = (): CommandOutcome => ({
      result: { general },
      body: openChannelResponseTlvs(channel.status, request.bearer, bufferSize),
      note: `channel ${id} to ${host}:${port}, buffer ${bufferSize}`,
    });
    this.table.set(id, channel);
    this.opened++;
    if (backgroundMode(request.qualifier)) {
      // TR now, link in the background, reported by a channel status event (§6.4.27)
      const answer = respond();
      this.withTimeout(channel.establish()).then(
        () => this.events.linkEstablished(channel),
        () => channel.abort(), // reported as link dropped
      );
      return answer;
    }
    if ((request.qualifier & OPEN_CHANNEL_QUALIFIER.IMMEDIATE_LINK) === 0) return respond(); // on demand
    try {
      await this.withTimeout(channel.establish());
    } catch (error) {
      channel.close();
      this.table.delete(id);
      return bipError(BIP_ERROR.NO_SPECIFIC_CAUSE, `${host}:${port}: ${(error as Error).message}`);
    }
    return respond();
  }

  async send(command: ProactiveCommand): Promise<CommandOutcome> {
    const channel = this.channelFor(command);
    if (!channel) return bipError(BIP_ERROR.CHANNEL_ID_NOT_VALID);
    const { data, immediately } = parseSendData(command);
    if (data.length > channel.free) return bipError(BIP_ERROR.BUFFER_SIZE_NOT_AVAILABLE);
    try {
      await this.withTimeout(channel.send(data, immediately));
    } catch (error) {
      return bipError(BIP_ERROR.CHANNEL_CLOSED, (error as Error).message);
    }
    return {
      result: OK,
      body: [channelDataLengthTlv(channel.free, false)],
      note: `${data.length} bytes on channel ${channel.id}`,
    };
  }

  receive(command: ProactiveCommand): CommandOutcome {
    const channel = this.channelFor(command);
    if (!channel) return bipError(BIP_ERROR.CHANNEL_ID_NOT_VALID);
    const { length } = parseReceiveData(command);
    const wanted = Math.min(length, MAX_RECEIVE_CHUNK);
    const short = channel.available < wanted;
    const { data, remaining } = channel.take(wanted);
    return {
      // less than asked: the data there is, with "missing information" (TS 102 223 §6.4.29)
      result: { general: short ? GENERAL_RESULT.MISSING_INFORMATION : GENERAL_RESULT.OK },
      body: [channelDataTlv(data, false), channelDataLengthTlv(remaining, false)],
      note: `${data.length} bytes from channel ${channel.id}, ${remaining} left`,
    };
  }

  close(command: ProactiveCommand): CommandOutcome {
    const channel = this.channelFor(command);
    if (!channel) return bipError(BIP_ERROR.CHANNEL_ID_NOT_VALID);
    channel.close();
    this.table.delete(channel.id);
    return { result: OK, note: `channel ${channel.id}` };
  }

  statuses(): CommandOutcome {
    return { result: OK, body: this.list().map((c) => channelStatusTlv(c.status)) };
  }

  private channelFor(command: ProactiveCommand): TerminalChannel | undefined {
    try {
      return this.table.get(channelOf(command));
    } catch {
      return undefined;
    }
  }

  private withTimeout<T>(work: Promise<T>): Promise<T> {
    const ms = this.options.connectTimeoutMs ?? 15_000;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no link in ${ms} ms`)), ms);
      work.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }
}
