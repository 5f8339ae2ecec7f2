// `iotsafe bip`: the device side of SCP81 — a BIP terminal (ETSI TS 102 223 §6.4.27–6.4.31) that runs
// the card's proactive commands over any card link of the CLI (the SIM directory in process, --tcp,
// --reader, --modem) until interrupted or until N admin sessions have ended. --trace shows each proactive
// command with its result and each channel's link events (never channel data: it is the card's TLS).
import { connect as netConnect, type Socket } from 'node:net';
import {
  type BipTerminal,
  type BipTerminalStats,
  MemoryTransport,
  runBipTerminal,
  type Transport,
} from '@iotsafe/device';
import { bytesToHex, CAT_COMMAND, hexToBytes } from '@iotsafe/protocol';
import { type AdminSessionRecord, VirtualSim } from '@iotsafe/sim';
import type { Command } from 'commander';
import { emit, printError, table } from './output.js';
import {
  cardLinkGiven,
  type GlobalOptions,
  openTransport,
  parseHostPort,
  simDirectory,
  storageKey,
} from './session.js';
import { integerOption, UsageError } from './usage.js';
import { untilInterrupted } from './wait.js';

interface BipOptions {
  envelope?: string[];
  requestSession?: boolean;
  sessions?: string;
  channels: string;
  bufferSize: string;
  poll: string;
  fallbackAddress?: string;
  connectTimeout: string;
}

/** One channel's link as the terminal saw it (the bytes are counts, never contents). */
interface ChannelRecord {
  host: string;
  port: number;
  connected: boolean;
  bytesSent: number;
  bytesReceived: number;
  error: string | null;
}

/** What `bip --json` prints when the terminal stops (docs/json.md). */
interface BipSummary {
  link: 'in-process' | 'tcp' | 'pcsc' | 'modem';
  terminal: BipTerminalStats;
  envelopes: { sw: string; data: string }[];
  channels: ChannelRecord[];
  /** The card's admin sessions (in process only: over a link the terminal cannot see them). */
  sessions: { outcome: string; attempts: number; scripts: number; error: string | null }[] | null;
  stoppedBy: 'sessions' | 'signal';
}

/** ENVELOPE data (D1 …) from `--envelope`: the BER-TLV, or a whole ENVELOPE APDU (80 C2 …, as `ota encode --as envelope` prints). */
export function envelopeData(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})+$/.test(clean)) throw new UsageError('--envelope takes hex');
  const bytes = hexToBytes(clean);
  const data =
    bytes[0] === 0x80 && bytes[1] === 0xc2 && bytes.length > 5 ? bytes.subarray(5, 5 + bytes[4]!) : bytes;
  if (data[0] !== 0xd1) throw new UsageError('--envelope takes an SMS-PP download ENVELOPE (tag D1)');
  return data;
}

const linkOf = (o: GlobalOptions): BipSummary['link'] =>
  o.tcp !== undefined
    ? 'tcp'
    : o.reader !== undefined
      ? 'pcsc'
      : o.modem !== undefined
        ? 'modem'
        : 'in-process';

/** Opens the card: the SIM directory in this process (so its admin sessions can be seen) or a link. */
async function openCard(
  globals: GlobalOptions,
  onSessionEnd: (record: AdminSessionRecord) => void,
): Promise<{ transport: Transport; sim?: VirtualSim }> {
  if (cardLinkGiven(globals)) return { transport: await openTransport(globals) };
  let sim: VirtualSim | undefined;
  const transport = await openTransport(globals, () => {
    sim = VirtualSim.open(simDirectory(globals), {
      storageKey: storageKey(globals),
      scp81: { onSessionEnd },
    });
    return new MemoryTransport(sim.card);
  });
  return { transport, ...(sim ? { sim } : {}) };
}

/**
 * Whether a command APDU is the TERMINAL RESPONSE (INS 14) to a CLOSE CHANNEL: its command details
 * (TS 102 223 §8.6, tag 01 with or without the CR flag) come first.
 */
export function isCloseChannelResponse(apdu: Uint8Array): boolean {
  return (
    apdu[1] === 0x14 && (apdu[5]! & 0x7f) === 0x01 && apdu[6] === 3 && apdu[8] === CAT_COMMAND.CLOSE_CHANNEL
  );
}

/** The transport, telling `closed` each time the card's CLOSE CHANNEL has been answered. */
function watchingCloseChannel(transport: Transport, closed: () => void): Transport {
  return {
    transmit: async (command) => {
      const response = await transport.transmit(command);
      if (isCloseChannelResponse(command)) closed();
      return response;
    },
    reset: () => transport.reset(),
    close: () => transport.close(),
  };
}

/** A socket factory that records each channel's link and traces its events. */
function tracedConnect(
  records: ChannelRecord[],
  counters: (() => void)[],
  trace: ((line: string) => void) | undefined,
) {
  return (host: string, port: number): Socket => {
    const record: ChannelRecord = {
      host,
      port,
      connected: false,
      bytesSent: 0,
      bytesReceived: 0,
      error: null,
    };
    records.push(record);
    const name = `channel ${records.length} ${host}:${port}`;
    trace?.(`${name}: connecting`);
    const socket = netConnect({ host, port });
    socket.once('connect', () => {
      record.connected = true;
      trace?.(`${name}: connected`);
    });
    socket.once('error', (error) => {
      record.error = error.message;
      trace?.(`${name}: ${error.message}`);
    });
    // counted when the summary is made or the socket closes (a listener on 'data' would change its mode)
    const count = () => {
      record.bytesSent = socket.bytesWritten;
      record.bytesReceived = socket.bytesRead;
    };
    counters.push(count);
    socket.once('close', () => {
      count();
      trace?.(`${name}: closed, ${record.bytesSent} bytes sent, ${record.bytesReceived} received`);
    });
    return socket;
  };
}

export function registerBip(program: Command, globals: () => GlobalOptions): void {
  program
    .command('bip')
    .description(
      "run a BIP terminal for the card's SCP81 admin sessions (OPEN CHANNEL → TCP) until interrupted",
    )
    .option(
      '--envelope <hex...>',
      'SMS-PP download ENVELOPEs to give the card first, e.g. an SCP81 trigger (`ota encode --tar 000000 --script 8100 --as envelope`)',
    )
    .option(
      '--request-session',
      'start an admin session with the stored parameters, as an on-card applet would (SIM directory only)',
    )
    .option(
      '--sessions <n>',
      'exit once N admin sessions have ended (over --tcp/--reader/--modem: N channels the card closed)',
    )
    .option('--channels <n>', 'channels the terminal offers (1..7)', '1')
    .option('--buffer-size <bytes>', 'largest channel buffer granted', '1500')
    .option('--poll <ms>', 'STATUS poll interval while the card is idle', '1000')
    .option(
      '--fallback-address <host:port>',
      "where a channel goes when the card's address is missing or cut",
    )
    .option('--connect-timeout <ms>', 'link establishment and send deadline', '15000')
    .action((o: BipOptions) => runBip(globals(), o));
}

async function runBip(g: GlobalOptions, o: BipOptions): Promise<void> {
  const envelopes = (o.envelope ?? []).map(envelopeData);
  const wanted = o.sessions === undefined ? undefined : integerOption(o.sessions, '--sessions', 1, 1_000_000);
  if (o.requestSession && cardLinkGiven(g))
    throw new UsageError(
      '--request-session needs the SIM directory in this process; over a link, trigger by --envelope',
    );
  const trace = g.trace ? (line: string) => printError(line) : undefined;
  const sessions: AdminSessionRecord[] = [];
  const channels: ChannelRecord[] = [];
  const counters: (() => void)[] = [];
  let finish: (by: BipSummary['stoppedBy']) => void = () => {};
  const done = new Promise<BipSummary['stoppedBy']>((resolve) => {
    finish = resolve;
  });
  let inProcess = false;
  let closedChannels = 0;
  const counted = () => {
    if (wanted !== undefined && (inProcess ? sessions.length : closedChannels) >= wanted) finish('sessions');
  };
  const { transport, sim } = await openCard(g, (record) => {
    sessions.push(record);
    trace?.(
      `admin session ${record.outcome}: ${record.scripts} scripts${record.error ? `, ${record.error}` : ''}`,
    );
    counted();
  });
  inProcess = sim !== undefined;
  let terminal: BipTerminal | undefined;
  try {
    const fallback = o.fallbackAddress ? parseHostPort(o.fallbackAddress, '--fallback-address') : undefined;
    const card = watchingCloseChannel(transport, () => {
      closedChannels++;
      counted();
    });
    terminal = await runBipTerminal(card, {
      channels: integerOption(o.channels, '--channels', 1, 7),
      maxBufferSize: integerOption(o.bufferSize, '--buffer-size', 1, 65535),
      pollIntervalMs: integerOption(o.poll, '--poll', 1, 3_600_000),
      connectTimeoutMs: integerOption(o.connectTimeout, '--connect-timeout', 100, 3_600_000),
      ...(fallback ? { fallbackAddress: fallback } : {}),
      connect: tracedConnect(channels, counters, trace),
      ...(trace ? { trace } : {}),
      ...(sim ? { wake: (notify: () => void) => sim.card.toolkit.onPending(notify) } : {}),
      onShortMessage: (tpdu) =>
        trace?.(`⇐ SEND SHORT MESSAGE: an SMS-SUBMIT of ${tpdu.length} bytes (not sent)`),
    });
    printError(`BIP terminal on the card (${linkOf(g)}); Ctrl-C stops it`);
    const answers: BipSummary['envelopes'] = [];
    for (const envelope of envelopes) {
      const answer = await terminal.envelope(envelope);
      answers.push({
        sw: answer.sw.toString(16).padStart(4, '0').toUpperCase(),
        data: bytesToHex(answer.data),
      });
      trace?.(`ENVELOPE (SMS-PP download) ⇒ ${answers.at(-1)!.sw}`);
    }
    if (o.requestSession) sim!.requestAdminSession();
    const stoppedBy = await Promise.race([done, untilInterrupted().then(() => 'signal' as const)]);
    await terminal.stop();
    for (const count of counters) count();
    const summary: BipSummary = {
      link: linkOf(g),
      terminal: terminal.stats,
      envelopes: answers,
      channels,
      sessions: inProcess
        ? sessions.map((s) => ({
            outcome: s.outcome,
            attempts: s.attempts.length,
            scripts: s.scripts,
            error: s.error ?? null,
          }))
        : null,
      stoppedBy,
    };
    emit(g.json, summary, () => summaryText(summary));
  } finally {
    await terminal?.stop();
    await transport.close();
    sim?.close();
  }
}

function summaryText(s: BipSummary): string {
  const t = s.terminal;
  const lines = [
    `${t.fetched} proactive commands, ${t.envelopes} event downloads, ${t.polls} STATUS polls, ${t.channelsOpened} channels opened`,
  ];
  if (s.channels.length)
    lines.push(
      table([
        ['channel', 'connected', 'sent', 'received', 'error'],
        ...s.channels.map((c) => [
          `${c.host}:${c.port}`,
          c.connected ? 'yes' : 'no',
          String(c.bytesSent),
          String(c.bytesReceived),
          c.error ?? '',
        ]),
      ]),
    );
  for (const session of s.sessions ?? [])
    lines.push(
      `admin session ${session.outcome}: ${session.scripts} scripts in ${session.attempts} attempts${session.error ? ` (${session.error})` : ''}`,
    );
  return lines.join('\n');
}
