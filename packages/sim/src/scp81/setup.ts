// How a virtual SIM gets its SCP81 admin agent: the options, the key set and stored parameters a new
// SIM starts with, the agent wired to the ISD's RAM dispatch, and the SCP80 trigger handler of TAR 000000.
import {
  decodeAdminTrigger,
  encodeExpandedResponse,
  FormatError,
  parseCommandApdu,
  type TimerCoding,
} from '@iotsafe/protocol';
import type { Toolkit } from '../card/toolkit.js';
import type { IsdApplet } from '../gp/isd-applet.js';
import { ISD_AID, type IsdState, scp81KeySet } from '../gp/isd-state.js';
import { AdminAgent, type AdminAgentTimeouts, type AdminSessionRecord } from './admin-agent.js';
import { scriptExecutor } from './admin-scripts.js';
import type { OpenCardTls } from './card-tls.js';
import type { AdminParameters } from './parameters.js';
import { type AdminParametersJson, parseAdminParameters } from './parameters-json.js';
import { decodeStoredParameters, encodeStoredParameters } from './stored-parameters.js';

export interface Scp81Options {
  /** The ISD's stored HTTP administration parameters; override the profile's (at creation). */
  parameters?: AdminParametersJson;
  /** An SCP81 key set added at creation: TLS-PSK (key 1) and optionally a DEK (key 2); KVN default 40. */
  keys?: { keyVersion?: number; psk: Uint8Array; dek?: Uint8Array };
  /** The agent's TLS client (default: @iotsafe/tls with the real card's hello; openTlsWithProfile for another). */
  openTls?: OpenCardTls;
  timeouts?: AdminAgentTimeouts;
  /** Record size the card sends (default 512, the real card's max_fragment_length). */
  maxFragmentLength?: number;
  /** How the card's POST bodies travel (default chunked). */
  bodyEncoding?: 'chunked' | 'content-length';
  /** Whether responses carry the executed count 80 01 n (default true). */
  executedCount?: boolean;
  /** How the retry policy's timer is coded (default swapped BCD, TS 102 223 §8.38). */
  timerCoding?: TimerCoding;
  /** Told when an admin session ends. */
  onSessionEnd?: (record: AdminSessionRecord) => void;
}

/** A new ISD's SCP81 state: the options' parameters (else the profile's) and key set. */
export function initialScp81State(
  isd: IsdState,
  options: Scp81Options | undefined,
  profile?: AdminParameters,
): void {
  const parameters = options?.parameters ? parseAdminParameters(options.parameters) : profile;
  if (parameters) isd.adminParameters = parameters;
  const keys = options?.keys;
  if (keys)
    isd.keySets.push(
      scp81KeySet(keys.keyVersion ?? 0x40, {
        psk: keys.psk.slice(),
        ...(keys.dek ? { dek: keys.dek.slice() } : {}),
      }),
    );
}

/** GET DATA 00 85's answer for the ISD, from the stored parameters. */
export const storedParametersOf = (isd: () => IsdState, options: Scp81Options) => () => {
  const stored = isd().adminParameters;
  return stored && encodeStoredParameters(stored, options.timerCoding ?? 'swapped-bcd');
};

/** STORE DATA of the stored parameters to the ISD: decoded (FormatError), then committed as one change. */
export const storeParametersOf =
  (isd: () => IsdState, commit: (change: () => void) => void, options: Scp81Options) => (tlv: Uint8Array) => {
    const parameters = decodeStoredParameters(tlv, options.timerCoding ?? 'swapped-bcd');
    commit(() => {
      isd().adminParameters = parameters;
    });
  };

/** The ISD's agent: scripts go to the ISD (the only security domain); the IoT SAFE instance is not one. */
export function createAdminAgent(
  toolkit: Toolkit,
  isdApplet: IsdApplet,
  isd: () => IsdState,
  options: Scp81Options,
): AdminAgent {
  return new AdminAgent({
    toolkit,
    parameters: () => isd().adminParameters,
    keySets: () => isd().keySets,
    execute: scriptExecutor({
      securityDomains: [
        {
          aid: ISD_AID,
          process: (command, security) => isdApplet.processRemote(parseCommandApdu(command), security),
        },
      ],
      applications: () => {
        const application = isd().application;
        return application ? [application.aid] : [];
      },
      ...(options.executedCount !== undefined ? { executedCount: options.executedCount } : {}),
    }),
    ...(options.openTls ? { openTls: options.openTls } : {}),
    ...(options.timeouts ? { timeouts: options.timeouts } : {}),
    ...(options.maxFragmentLength ? { maxFragmentLength: options.maxFragmentLength } : {}),
    ...(options.bodyEncoding ? { bodyEncoding: options.bodyEncoding } : {}),
    onSessionEnd: (record) => {
      isdApplet.endRemoteSession('scp81');
      options.onSessionEnd?.(record);
    },
  });
}

/**
 * The triggering parameters sent to the ISD's TAR (GP Amd B §3.3) start a session; the PoR's data is
 * empty, or the expanded format's bad format element when the parameters cannot be read.
 */
export const adminTriggerHandler = (agent: AdminAgent, options: Scp81Options) => (parameters: Uint8Array) => {
  try {
    agent.trigger(decodeAdminTrigger(parameters, options.timerCoding ?? 'swapped-bcd'));
    return new Uint8Array(0);
  } catch (error) {
    if (!(error instanceof FormatError)) throw error;
    return encodeExpandedResponse({ executed: 0, responses: [], badFormat: 0x01 });
  }
};
