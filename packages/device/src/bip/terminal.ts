// A BIP terminal (ETSI TS 102 223 §6.4.27–6.4.31, §7.5): the part of a handset or modem that runs the
// card's proactive commands. TERMINAL PROFILE advertises class e; a 91xx answer is FETCHed and the
// command performed (OPEN CHANNEL → a TCP socket, SEND/RECEIVE DATA with the card's buffer size, CLOSE
// CHANNEL, GET CHANNEL STATUS, SET UP EVENT LIST), answered with TERMINAL RESPONSE; data available and
// channel status go back as event download ENVELOPEs. Runs over any Transport; an idle card is polled
// with STATUS. Lenient with live cards: tags with the CR flag, a cut other address.
import {
  BIP_TCP_CLIENT,
  bytesToHex,
  CAT_COMMAND,
  CAT_COMMAND_NAMES,
  CAT_EVENT,
  CAT_TAG,
  type ChannelStatus,
  type CommandDetails,
  decodeComprehensionTlvs,
  decodeProactiveCommand,
  encodeChannelStatusEvent,
  encodeComprehensionTlv,
  encodeDataAvailableEvent,
  encodeTerminalProfile,
  encodeTerminalResponse,
  envelopeApdu,
  FormatError,
  fetchApdu,
  findCatTlv,
  GENERAL_RESULT,
  type ProactiveCommand,
  type ProfileFacility,
  parseCommandApdu,
  parseSetUpEventList,
  terminalProfileApdu,
  terminalResponseApdu,
} from '@iotsafe/protocol';
import { ApduPump, type PumpResponse } from '../apdu-pump.js';
import type { Transport } from '../transport.js';
import type { TerminalChannel } from './channel.js';
import { BipChannels, bipError, type ChannelOptions, type CommandOutcome, OK } from './channel-commands.js';

export interface BipTerminalOptions extends ChannelOptions {
  /** TERMINAL PROFILE to send (default: BIP in TCP client mode, its events, SMS-PP download). */
  profile?: Uint8Array;
  /** STATUS poll interval while the card is idle (default 1000 ms); after activity polls come sooner. */
  pollIntervalMs?: number;
  /** In-process hint that the card has a proactive command ready (a VirtualSim's toolkit.onPending). */
  wake?: (notify: () => void) => () => void;
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

export class BipTerminal {
  private readonly pump: ApduPump;
  private readonly channels: BipChannels;
  private events = new Set<number>();
  private queue: Promise<unknown> = Promise.resolve();
  private pollTimer?: NodeJS.Timeout;
  private nextPollMs = 0;
  private stopped = false;
  private unwake?: () => void;
  private readonly counters = { fetched: 0, terminalResponses: 0, envelopes: 0, polls: 0 };

  constructor(
    transport: Transport,
    private readonly options: BipTerminalOptions = {},
  ) {
    this.pump = new ApduPump(transport);
    this.channels = new BipChannels(options, {
      dataAvailable: (c) => this.announceData(c),
      linkDropped: (c) => this.announceStatus(c),
      linkEstablished: (c) => this.announceStatus(c),
    });
  }

  get stats(): BipTerminalStats {
    return { ...this.counters, channelsOpened: this.channels.opened };
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
    this.channels.closeAll();
    await this.queue.catch(() => {});
  }

  /** The open channels' statuses. */
  channelStatuses(): ChannelStatus[] {
    return this.channels.list().map((c) => c.status);
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
      this.counters.fetched++;
      const tr = await this.perform(fetched.data);
      this.counters.terminalResponses++;
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
      this.counters.polls++;
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
    let result: CommandOutcome;
    try {
      result = await this.run(command);
    } catch (error) {
      // a command the terminal cannot read (32); anything else a BIP error without a specific cause
      result =
        error instanceof FormatError
          ? { result: { general: GENERAL_RESULT.DATA_NOT_UNDERSTOOD }, note: error.message }
          : bipError(0x00, (error as Error).message);
    }
    const code = result.result.general.toString(16).padStart(2, '0');
    this.trace(
      `⇐ ${name} (qualifier ${details.qualifier.toString(16).padStart(2, '0')}) ⇒ result ${code}${result.note ? `: ${result.note}` : ''}`,
    );
    return encodeTerminalResponse(details, result.result, result.body ?? []);
  }

  private run(command: ProactiveCommand): CommandOutcome | Promise<CommandOutcome> {
    switch (command.details.type) {
      case CAT_COMMAND.SET_UP_EVENT_LIST:
        this.events = new Set(parseSetUpEventList(command));
        return { result: OK, note: `events ${[...this.events].map((e) => e.toString(16)).join(' ')}` };
      case CAT_COMMAND.OPEN_CHANNEL:
        return this.channels.open(command);
      case CAT_COMMAND.SEND_DATA:
        return this.channels.send(command);
      case CAT_COMMAND.RECEIVE_DATA:
        return this.channels.receive(command);
      case CAT_COMMAND.CLOSE_CHANNEL:
        return this.channels.close(command);
      case CAT_COMMAND.GET_CHANNEL_STATUS:
        return this.channels.statuses();
      case CAT_COMMAND.POLL_INTERVAL: {
        const duration = findCatTlv(command.tlvs, CAT_TAG.DURATION)?.value;
        return { result: OK, body: duration ? [encodeComprehensionTlv(CAT_TAG.DURATION, duration)] : [] };
      }
      case CAT_COMMAND.SEND_SHORT_MESSAGE: {
        const tpdu = findCatTlv(command.tlvs, CAT_TAG.SMS_TPDU)?.value;
        if (!this.options.onShortMessage || !tpdu)
          return { result: { general: GENERAL_RESULT.BEYOND_TERMINAL_CAPABILITIES } };
        this.options.onShortMessage(tpdu);
        return { result: OK };
      }
      default:
        return { result: { general: GENERAL_RESULT.BEYOND_TERMINAL_CAPABILITIES } };
    }
  }

  // --- event download (TS 102 223 §7.5.10, §7.5.11), only for the events the card asked for ---

  private announceData(channel: TerminalChannel): void {
    if (!this.events.has(CAT_EVENT.DATA_AVAILABLE) || this.stopped) return;
    this.sendEvent(() =>
      this.channels.isOpen(channel) && channel.available > 0
        ? encodeDataAvailableEvent(channel.status, channel.available)
        : undefined,
    );
  }

  private announceStatus(channel: TerminalChannel): void {
    if (!this.events.has(CAT_EVENT.CHANNEL_STATUS) || this.stopped) return;
    this.sendEvent(() =>
      this.channels.isOpen(channel) ? encodeChannelStatusEvent(channel.status) : undefined,
    );
  }

  /** The event is built when its turn comes, so it tells the state the card will see. */
  private sendEvent(build: () => Uint8Array | undefined): void {
    this.serialized(async () => {
      const event = build();
      if (!event || this.stopped) return;
      this.counters.envelopes++;
      const response = await this.exchange(envelopeApdu(event));
      if (response.sw === 0x9300) setTimeout(() => this.sendEvent(build), 50); // toolkit busy: later
    }).catch((error: Error) => this.trace(`event download failed: ${error.message}`));
  }
}

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
