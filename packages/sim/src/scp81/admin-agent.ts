// The security domain's SCP81 admin agent (GlobalPlatform Card Spec Amendment B): a trigger starts a
// session; the agent opens a BIP channel to the admin server through the terminal, runs PSK-TLS over
// it, POSTs and executes each script the server answers with, until 204. A failed attempt is retried
// as the retry policy says; one that broke mid-dialog resumes with X-Admin-Resume on the last URI, the
// last request sent again as it was, so no script runs twice and no result is lost.

import type { Duplex } from 'node:stream';
import {
  type AdminRequest,
  type AdminSessionTrigger,
  BIP_TCP_CLIENT,
  CAT_EVENT,
  decodeChannelEvent,
  profileSupports,
  type ScriptStatus,
  wipe,
} from '@iotsafe/protocol';
import type { Toolkit } from '../card/toolkit.js';
import type { KeySet } from '../gp/isd-state.js';
import { CardBipChannel } from './card-channel.js';
import { type OpenCardTls, openTlsWithIotsafeTls } from './card-tls.js';
import { AdminTransportError, HttpExchange } from './http-exchange.js';
import {
  AdminParameterError,
  type AdminParameters,
  openChannelRequest,
  sessionParameters,
} from './parameters.js';

/** TLS-PSK key type (GPCS Table 11-16). */
const KEY_TYPE_TLS_PSK = 0x85;

/** What the agent is told about each script: where it goes and how the session protects it. */
export interface ScriptContext {
  /** The X-Admin-Targeted-Application header as received; absent: the SD that owns the session. */
  targetedApplication?: string;
  keySet: KeySet;
  /** Security level in SCP terms: 80 authenticated | 01 integrity | 02 confidentiality (not for NULL suites). */
  level: number;
}

export interface ScriptOutcome {
  status: ScriptStatus;
  /** The response scripting template (AF 80 … 00 00), absent when the status says nothing ran. */
  body?: Uint8Array;
}

export type ScriptExecutor = (script: Uint8Array, context: ScriptContext) => ScriptOutcome;

export interface AdminAgentTimeouts {
  /** Each proactive command's TERMINAL RESPONSE (default 30 s). */
  terminalResponseMs?: number;
  /** A background OPEN CHANNEL's link (default 30 s). */
  linkMs?: number;
  /** The TLS handshake (default 30 s). */
  handshakeMs?: number;
  /** Each HTTP response (default 60 s). */
  responseMs?: number;
}

export interface AdminAgentOptions {
  toolkit: Toolkit;
  /** The SD's stored parameters (`81 00`), if any. */
  parameters: () => AdminParameters | undefined;
  keySets: () => readonly KeySet[];
  execute: ScriptExecutor;
  /** The TLS client seam (default: @iotsafe/tls with the real card's hello; openTlsWithProfile for another). */
  openTls?: OpenCardTls;
  timeouts?: AdminAgentTimeouts;
  /** Record size the card sends (its max_fragment_length; 512 on the real card). */
  maxFragmentLength?: number;
  /** How the card's POST bodies travel (chunked, as the reference trace; or Content-Length). */
  bodyEncoding?: 'chunked' | 'content-length';
  /** Told when a session ends (after its last attempt). */
  onSessionEnd?: (record: AdminSessionRecord) => void;
}

export interface AdminAttempt {
  resumed: boolean;
  /** Why the attempt failed; absent for the one that completed. */
  error?: string;
  cipher?: string;
}

export interface AdminSessionRecord {
  outcome: 'completed' | 'failed';
  attempts: AdminAttempt[];
  /** Scripts executed in this session, in order. */
  scripts: number;
  /** The reason of the last failure. */
  error?: string;
}

interface DialogState {
  /** The request whose response has not arrived: sent again, with X-Admin-Resume, after a break. */
  pending?: AdminRequest;
  scripts: number;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class AdminAgent {
  private running?: Promise<void>;
  private queued?: AdminSessionTrigger;
  private channel?: CardBipChannel;
  private stopped = false;
  readonly sessions: AdminSessionRecord[] = [];

  constructor(private readonly options: AdminAgentOptions) {
    // registered now, so the SET UP EVENT LIST that answers TERMINAL PROFILE asks for these events
    options.toolkit.onEvent(CAT_EVENT.DATA_AVAILABLE, (event) => {
      const { status, available } = decodeChannelEvent(event);
      if (this.channel?.channel === status.channel) this.channel.dataAvailable(available ?? 0);
    });
    options.toolkit.onEvent(CAT_EVENT.CHANNEL_STATUS, (event) => {
      const { status } = decodeChannelEvent(event);
      if (this.channel?.channel === status.channel) this.channel.statusChanged(status);
    });
  }

  /**
   * Starts a session with these triggering parameters (an SMS to the SD's TAR, or an applet's request);
   * one that comes while a session runs is kept and run after it (a later one replaces it).
   */
  trigger(parameters: AdminSessionTrigger = {}): void {
    if (this.stopped) return;
    if (this.running) {
      this.queued = parameters;
      return;
    }
    this.running = this.run(parameters).finally(() => {
      this.running = undefined;
      const next = this.queued;
      this.queued = undefined;
      if (next) this.trigger(next);
    });
  }

  /** Resolves when no session runs or waits. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** No new session starts; the one running ends at its next step. */
  stop(): void {
    this.stopped = true;
    this.queued = undefined;
    this.channel?.destroy();
  }

  private async run(trigger: AdminSessionTrigger): Promise<void> {
    const record: AdminSessionRecord = { outcome: 'failed', attempts: [], scripts: 0 };
    const state: DialogState = { scripts: 0 };
    try {
      const parameters = sessionParameters(this.options.parameters(), trigger);
      for (let attempt = 0; attempt <= parameters.retry.counter && !this.stopped; attempt++) {
        if (attempt > 0) await delay(parameters.retry.delaySeconds * 1000);
        const resumed = state.pending !== undefined;
        const entry: AdminAttempt = { resumed };
        record.attempts.push(entry);
        try {
          entry.cipher = await this.attempt(parameters, state);
          record.outcome = 'completed';
          break;
        } catch (error) {
          entry.error = describeError(error);
          record.error = entry.error;
          if (error instanceof AdminParameterError) break;
        }
      }
    } catch (error) {
      record.error = describeError(error);
    }
    record.scripts = state.scripts;
    if (record.outcome === 'completed') delete record.error;
    this.sessions.push(record);
    this.options.onSessionEnd?.(record);
  }

  /** One connection: channel, TLS, the dialog from the first POST (or the resumed one) to 204. */
  private async attempt(
    parameters: ReturnType<typeof sessionParameters>,
    state: DialogState,
  ): Promise<string> {
    const { toolkit } = this.options;
    const profile = toolkit.terminalProfile;
    if (!profile)
      throw new AdminTransportError('no TERMINAL PROFILE yet: the terminal may not run proactive commands');
    const missing = BIP_TCP_CLIENT.filter((f) => !profileSupports(profile, f));
    if (missing.length)
      throw new AdminTransportError(`the terminal does not advertise ${missing.join(', ')}`);
    const keySet = this.keySet(parameters);
    const psk = keySet.keys
      .find((k) => k.id === parameters.keyId && k.type === KEY_TYPE_TLS_PSK)!
      .value.slice();
    const timeouts = this.options.timeouts ?? {};
    const channel = await CardBipChannel.open(
      toolkit,
      openChannelRequest(parameters),
      { terminalResponseMs: timeouts.terminalResponseMs ?? 30_000, linkMs: timeouts.linkMs ?? 30_000 },
      (opened) => {
        this.channel = opened;
      },
    );
    const recordSize = this.options.maxFragmentLength ?? 512;
    try {
      const openTls = this.options.openTls ?? openTlsWithIotsafeTls;
      const tls = await openTls(channel, {
        identity: parameters.pskIdentity,
        psk,
        handshakeTimeoutMs: timeouts.handshakeMs ?? 30_000,
        maxFragmentLength: recordSize,
      });
      wipe(psk);
      tls.stream.on('error', () => {}); // failures reach the dialog through HttpExchange
      const http = new HttpExchange(tls.stream, {
        recordSize,
        responseTimeoutMs: timeouts.responseMs ?? 60_000,
      });
      const level = 0x80 | 0x01 | (tls.confidential ? 0x02 : 0);
      await this.dialog(http, parameters, state, { keySet, level });
      await endTls(tls.stream);
      return tls.cipher;
    } finally {
      wipe(psk);
      this.channel = undefined;
      await channel.close();
    }
  }

  /** POST, execute, POST the result to the Next-URI, until 204 or a 200 without a Next-URI. */
  private async dialog(
    http: HttpExchange,
    parameters: AdminParameters,
    state: DialogState,
    security: Omit<ScriptContext, 'targetedApplication'>,
  ): Promise<void> {
    const base = {
      host: parameters.host ?? parameters.address!,
      ...(parameters.agentId ? { agentId: parameters.agentId } : {}),
      ...(this.options.bodyEncoding ? { bodyEncoding: this.options.bodyEncoding } : {}),
    };
    let request: AdminRequest = state.pending
      ? { ...state.pending, resume: true }
      : { ...base, uri: parameters.uri };
    for (;;) {
      if (this.stopped) throw new AdminTransportError('the agent was stopped');
      state.pending = { ...request, resume: false };
      const response = await http.post(request);
      if (response.status === 204) {
        state.pending = undefined;
        return;
      }
      if (response.status !== 200)
        throw new AdminTransportError(`the admin server answered ${response.status}`);
      const next = response.headers.get('x-admin-next-uri');
      const targeted = response.headers.get('x-admin-targeted-application');
      // the script runs once: from here a break resumes with its result, never with the script
      const outcome = this.options.execute(response.body, {
        ...security,
        ...(targeted !== undefined ? { targetedApplication: targeted } : {}),
      });
      state.scripts++;
      if (next === undefined) {
        state.pending = undefined; // GP Amd B: executed, not reported, the session ends
        return;
      }
      request = {
        ...base,
        uri: next,
        scriptStatus: outcome.status,
        ...(outcome.body ? { body: outcome.body } : {}),
      };
    }
  }

  private keySet(parameters: AdminParameters): KeySet {
    const set = this.options.keySets().find((s) => s.keyVersion === parameters.keyVersion);
    if (!set?.keys.some((k) => k.id === parameters.keyId && k.type === KEY_TYPE_TLS_PSK))
      throw new AdminParameterError(
        `no TLS-PSK key ${parameters.keyId} in key set ${parameters.keyVersion.toString(16).toUpperCase()}`,
      );
    return set;
  }
}

/** close_notify, then wait (briefly) for the stream to finish sending it. */
async function endTls(stream: Duplex): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000);
    stream.end(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
