// A BIP terminal (ETSI TS 102 223 §6.4.27–6.4.31, §7.5): the part of a handset or modem that runs the
// card's proactive commands. TERMINAL PROFILE advertises class e; a 91xx answer is FETCHed and the
// command performed (OPEN CHANNEL → a TCP socket, SEND/RECEIVE DATA with the card's buffer size, CLOSE
// CHANNEL, GET CHANNEL STATUS, SET UP EVENT LIST), answered with TERMINAL RESPONSE; data available and
// channel status go back as event download ENVELOPEs. Runs over any Transport; an idle card is polled
// with STATUS. Lenient with live cards: tags with the CR flag, a cut other address.
import { connect as netConnect, type Socket } from 'node:net';
import {
  ADDRESS_TYPE,
  BIP_ERROR,
  BIP_TCP_CLIENT,
  backgroundMode,
  bytesToHex,
  CAT_COMMAND,
  CAT_COMMAND_NAMES,
  CAT_EVENT,
  CAT_TAG,
  type CatResult,
  type ChannelStatus,
  type CommandDetails,
  channelDataLengthTlv,
  channelDataTlv,
  channelOf,
  channelStatusTlv,
  decodeComprehensionTlvs,
  decodeProactiveCommand,
  encodeChannelStatusEvent,
  encodeComprehensionTlv,
  encodeDataAvailableEvent,
  encodeTerminalProfile,
  encodeTerminalResponse,
  envelopeApdu,
  fetchApdu,
  findCatTlv,
  GENERAL_RESULT,
  MAX_RECEIVE_CHUNK,
  OPEN_CHANNEL_QUALIFIER,
  openChannelResponseTlvs,
  type ProactiveCommand,
  type ProfileFacility,
  parseCommandApdu,
  parseOpenChannel,
  parseReceiveData,
  parseSendData,
  parseSetUpEventList,
  TRANSPORT_PROTOCOL,
  terminalProfileApdu,
  terminalResponseApdu,
} from '@iotsafe/protocol';
import { ApduPump, type PumpResponse } from '../apdu-pump.js';
import type { Transport } from '../transport.js';
import { TerminalChannel } from './channel.js';

export interface BipTerminalOptions {
  /** TERMINAL PROFILE to send (default: BIP in TCP client mode, its events, SMS-PP download). */
  profile?: Uint8Array;
  /** Channels the terminal offers (1..7, default 1, as most modems). */
  channels?: number;
  /** Largest buffer the terminal grants; a larger request gets this (result 07, modified). Default 1500. */
  maxBufferSize?: number;
  /** STATUS poll interval while the card is idle (default 1000 ms); after activity polls come sooner. */
  pollIntervalMs?: number;
  /** In-process hint that the card has a proactive command ready (a VirtualSim's toolkit.onPending). */
  wake?: (notify: () => void) => () => void;
  /** Opens the TCP connection (default node:net). */
  connect?: (host: string, port: number) => Socket;
  /** Where a channel goes when the card's other address is missing or cut (live cards send a bare 3E 05). */
  fallbackAddress?: { host: string; port?: number };
  /** Link establishment deadline (default 15 s). */
  connectTimeoutMs?: number;
  /** SEND SHORT MESSAGE's SMS-SUBMIT TPDU (a PoR by SMS); without it the command is beyond the terminal. */
  onShortMessage?: (tpdu: Uint8Array) => void;
  /** One line per proactive command, TERMINAL RESPONSE and ENVELOPE (no channel data). */
  trace?: (line: string) => void;
}

export interface BipTerminalStats {
  fetched: number;
  terminalResponses: number;
  envelopes: number;
  polls: number;
  channelsOpened: number;
}

const DEFAULT_FACILITIES: readonly ProfileFacility[] = [
  ...BIP_TCP_CLIENT,
  'profileDownload',
  'smsPpDataDownload',
  'commandResult',
  'pollInterval',
  'bearerGprs',
  'bearerEutran',
];

const hex = (b: Uint8Array) => bytesToHex(b, ' ');
const commandName = (type: number) => CAT_COMMAND_NAMES[type] ?? `command ${type.toString(16)}`;

/** An IPv4 or IPv6 address of an other address TLV as text. */
function addressText(type: number, address: Uint8Array): string | undefined {
  if (type === ADDRESS_TYPE.IPV4 && address.length === 4) return [...address].join('.');
  if (type === ADDRESS_TYPE.IPV6 && address.length === 16)
    return (bytesToHex(address).match(/.{4}/g) ?? []).join(':');
  return undefined;
}

export class BipTerminal {
  private readonly pump: ApduPump;
  private readonly channels = new Map<number, TerminalChannel>();
  private events = new Set<number>();
  private queue: Promise<unknown> = Promise.resolve();
  private pollTimer?: NodeJS.Timeout;
  private nextPollMs = 0;
  private stopped = false;
  private unwake?: () => void;
  readonly stats: BipTerminalStats = {
    fetched: 0,
    terminalResponses: 0,
    envelopes: 0,
    polls: 0,
    channelsOpened: 0,
  };

  constructor(
    transport: Transport,
    private readonly options: BipTerminalOptions = {},
  ) {
    this.pump = new ApduPump(transport);
  }

  /** TERMINAL PROFILE, then whatever the card asks; STATUS polls from then on. */
  async start(): Promise<void> {
    const profile =
      this.options.profile ?? encodeTerminalProfile(DEFAULT_FACILITIES, this.options.channels ?? 1);
    await this.serialized(() => this.exchange(terminalProfileApdu(profile)));
    this.unwake = this.options.wake?.(() => this.pollSoon(0));
    this.schedulePoll();
  }

  /** Sends an ENVELOPE (an SMS-PP download, say) and runs the proactive commands it leads to. */
  envelope(data: Uint8Array): Promise<PumpResponse> {
    return this.serialized(() => this.exchange(envelopeApdu(data)));
  }

  /** Stops polling and closes every channel. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    this.unwake?.();
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
    await this.queue.catch(() => {});
  }

  /** The open channels' statuses. */
  channelStatuses(): ChannelStatus[] {
    return [...this.channels.values()].map((c) => c.status);
  }

  // --- the card link: one exchange at a time ---

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => {});
    return next;
  }

  /** One command; a 91xx answer is followed by FETCH and the command run, until the card has none. */
  private async exchange(apdu: Uint8Array): Promise<PumpResponse> {
    const response = await this.pump.exchange(parseCommandApdu(apdu));
    let pending = response.proactivePending;
    while (pending !== undefined && !this.stopped) {
      this.pollSoon(0);
      const fetched = await this.pump.exchange(parseCommandApdu(fetchApdu(pending)));
      if (fetched.sw !== 0x9000 || fetched.data.length === 0) break;
      this.stats.fetched++;
      const tr = await this.perform(fetched.data);
      this.stats.terminalResponses++;
      const answer = await this.pump.exchange(parseCommandApdu(terminalResponseApdu(tr)));
      pending = answer.proactivePending;
    }
    return response;
  }

  // --- polling (TS 102 221 §14.5: STATUS while idle) ---

  private schedulePoll(): void {
    if (this.stopped) return;
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => {
      this.stats.polls++;
      this.serialized(() => this.exchange(Uint8Array.of(0x80, 0xf2, 0x00, 0x0c, 0x00)))
        .catch((error: Error) => this.trace(`STATUS failed: ${error.message}`))
        .finally(() => {
          const idle = this.options.pollIntervalMs ?? 1000;
          this.nextPollMs = Math.min(idle, Math.max(1, this.nextPollMs * 2));
          this.schedulePoll();
        });
    }, this.nextPollMs);
  }

  /** Activity: the next polls come sooner (0 ms, then doubling back up to the idle interval). */
  private pollSoon(ms: number): void {
    if (this.stopped) return;
    this.nextPollMs = ms;
    this.schedulePoll();
  }

  private trace(line: string): void {
    this.options.trace?.(line);
  }

  // --- proactive commands ---

  private async perform(bytes: Uint8Array): Promise<Uint8Array> {
    let command: ProactiveCommand;
    try {
      command = decodeProactiveCommand(bytes, { lenient: true });
    } catch (error) {
      const details = rawDetails(bytes);
      this.trace(`⇐ unreadable proactive command ${hex(bytes)}: ${(error as Error).message}`);
      return encodeTerminalResponse(details, { general: GENERAL_RESULT.DATA_NOT_UNDERSTOOD });
    }
    const { details } = command;
    const name = commandName(details.type);
    let result: { result: CatResult; body?: Uint8Array[]; note?: string };
    try {
      result = await this.run(command);
    } catch (error) {
      result = {
        result: { general: GENERAL_RESULT.BIP_ERROR, additional: Uint8Array.of(BIP_ERROR.NO_SPECIFIC_CAUSE) },
        note: (error as Error).message,
      };
    }
    const code = result.result.general.toString(16).padStart(2, '0');
    this.trace(
      `⇐ ${name} (qualifier ${details.qualifier.toString(16).padStart(2, '0')}) ⇒ result ${code}${result.note ? `: ${result.note}` : ''}`,
    );
    return encodeTerminalResponse(details, result.result, result.body ?? []);
  }

  private run(command: ProactiveCommand):
    | Promise<{ result: CatResult; body?: Uint8Array[]; note?: string }>
    | {
        result: CatResult;
        body?: Uint8Array[];
        note?: string;
      } {
    switch (command.details.type) {
      case CAT_COMMAND.SET_UP_EVENT_LIST:
        this.events = new Set(parseSetUpEventList(command));
        return { result: ok, note: `events ${[...this.events].map((e) => e.toString(16)).join(' ')}` };
      case CAT_COMMAND.OPEN_CHANNEL:
        return this.openChannel(command);
      case CAT_COMMAND.SEND_DATA:
        return this.sendData(command);
      case CAT_COMMAND.RECEIVE_DATA:
        return this.receiveData(command);
      case CAT_COMMAND.CLOSE_CHANNEL: {
        const channel = this.channelFor(command);
        if (!channel) return bipError(BIP_ERROR.CHANNEL_ID_NOT_VALID);
        channel.close();
        this.channels.delete(channel.id);
        return { result: ok, note: `channel ${channel.id}` };
      }
      case CAT_COMMAND.GET_CHANNEL_STATUS:
        return { result: ok, body: [...this.channels.values()].map((c) => channelStatusTlv(c.status)) };
      case CAT_COMMAND.POLL_INTERVAL: {
        const duration = findCatTlv(command.tlvs, CAT_TAG.DURATION)?.value;
        return { result: ok, body: duration ? [encodeComprehensionTlv(CAT_TAG.DURATION, duration)] : [] };
      }
      case CAT_COMMAND.SEND_SHORT_MESSAGE: {
        const tpdu = findCatTlv(command.tlvs, CAT_TAG.SMS_TPDU)?.value;
        if (!this.options.onShortMessage || !tpdu)
          return { result: { general: GENERAL_RESULT.BEYOND_TERMINAL_CAPABILITIES } };
        this.options.onShortMessage(tpdu);
        return { result: ok };
      }
      default:
        return { result: { general: GENERAL_RESULT.BEYOND_TERMINAL_CAPABILITIES } };
    }
  }

  private async openChannel(command: ProactiveCommand) {
    const request = parseOpenChannel(command);
    const transport = request.transport;
    if (!transport || transport.protocol !== TRANSPORT_PROTOCOL.TCP_CLIENT_REMOTE)
      return { ...bipError(BIP_ERROR.TRANSPORT_LEVEL_NOT_AVAILABLE), note: 'only TCP in client mode' };
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
    while (this.channels.has(id) && id <= limit) id++;
    if (id > limit) return bipError(BIP_ERROR.NO_CHANNEL_AVAILABLE);
    const max = this.options.maxBufferSize ?? 1500;
    const bufferSize = Math.min(request.bufferSize || max, max);
    const modified = bufferSize < request.bufferSize;
    const channel = new TerminalChannel(
      id,
      bufferSize,
      { host, port },
      this.options.connect ?? ((h, p) => netConnect({ host: h, port: p })),
      {
        dataAvailable: (c) => this.announceData(c),
        linkDropped: (c) => this.announceStatus(c),
      },
    );
    const general = modified ? GENERAL_RESULT.PERFORMED_WITH_MODIFICATION : GENERAL_RESULT.OK;
    const respond = () => ({
      result: { general },
      body: openChannelResponseTlvs(channel.status, request.bearer, bufferSize),
      note: `channel ${id} to ${host}:${port}, buffer ${bufferSize}`,
    });
    this.channels.set(id, channel);
    this.stats.channelsOpened++;
    if (backgroundMode(request.qualifier)) {
      // TR now, link in the background, reported by a channel status event (§6.4.27)
      const answer = respond();
      this.withTimeout(channel.establish()).then(
        () => this.announceStatus(channel),
        () => channel.abort(), // reported as link dropped
      );
      return answer;
    }
    if ((request.qualifier & OPEN_CHANNEL_QUALIFIER.IMMEDIATE_LINK) === 0) return respond(); // on demand
    try {
      await this.withTimeout(channel.establish());
    } catch (error) {
      channel.close();
      this.channels.delete(id);
      return {
        ...bipError(BIP_ERROR.NO_SPECIFIC_CAUSE),
        note: `${host}:${port}: ${(error as Error).message}`,
      };
    }
    return respond();
  }

  private async sendData(command: ProactiveCommand) {
    const channel = this.channelFor(command);
    if (!channel) return bipError(BIP_ERROR.CHANNEL_ID_NOT_VALID);
    const { data, immediately } = parseSendData(command);
    if (data.length > channel.free) return bipError(BIP_ERROR.BUFFER_SIZE_NOT_AVAILABLE);
    try {
      await this.withTimeout(channel.send(data, immediately));
    } catch (error) {
      return { ...bipError(BIP_ERROR.CHANNEL_CLOSED), note: (error as Error).message };
    }
    return {
      result: ok,
      body: [channelDataLengthTlv(channel.free, false)],
      note: `${data.length} bytes on channel ${channel.id}`,
    };
  }

  private receiveData(command: ProactiveCommand) {
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

  private channelFor(command: ProactiveCommand): TerminalChannel | undefined {
    try {
      return this.channels.get(channelOf(command));
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

  // --- event download (TS 102 223 §7.5.10, §7.5.11), only for the events the card asked for ---

  private announceData(channel: TerminalChannel): void {
    if (!this.events.has(CAT_EVENT.DATA_AVAILABLE) || this.stopped) return;
    this.sendEvent(() =>
      this.channels.get(channel.id) === channel && channel.available > 0
        ? encodeDataAvailableEvent(channel.status, channel.available)
        : undefined,
    );
  }

  private announceStatus(channel: TerminalChannel): void {
    if (!this.events.has(CAT_EVENT.CHANNEL_STATUS) || this.stopped) return;
    this.sendEvent(() =>
      this.channels.get(channel.id) === channel ? encodeChannelStatusEvent(channel.status) : undefined,
    );
  }

  /** The event is built when its turn comes, so it tells the state the card will see. */
  private sendEvent(build: () => Uint8Array | undefined): void {
    this.serialized(async () => {
      const event = build();
      if (!event || this.stopped) return;
      this.stats.envelopes++;
      const response = await this.exchange(envelopeApdu(event));
      if (response.sw === 0x9300) setTimeout(() => this.sendEvent(build), 50); // toolkit busy: later
    }).catch((error: Error) => this.trace(`event download failed: ${error.message}`));
  }
}

const ok: CatResult = { general: GENERAL_RESULT.OK };
const bipError = (cause: number) => ({
  result: { general: GENERAL_RESULT.BIP_ERROR, additional: Uint8Array.of(cause) },
});

/** Command details from a command too broken to decode, so its TERMINAL RESPONSE names it. */
function rawDetails(bytes: Uint8Array): CommandDetails {
  try {
    const body = bytes[1] === 0x81 ? bytes.subarray(3) : bytes.subarray(2);
    const details = findCatTlv(
      decodeComprehensionTlvs(body, { lenient: true }),
      CAT_TAG.COMMAND_DETAILS,
    )?.value;
    if (details?.length === 3) return { number: details[0]!, type: details[1]!, qualifier: details[2]! };
  } catch {
    // nothing readable
  }
  return { number: 0, type: 0, qualifier: 0 };
}

/** Runs a BIP terminal over `transport` until stopped: what `iotsafe --sim DIR bip` runs. */
export async function runBipTerminal(
  transport: Transport,
  options: BipTerminalOptions = {},
): Promise<BipTerminal> {
  const terminal = new BipTerminal(transport, options);
  await terminal.start();
  return terminal;
}
