// What the admin agent does with a script (GP Amd B §3.5): finds the targeted security domain (the SD
// that owns the session when the server names none), refuses a target that is not a security domain
// or is unknown, and runs the expanded remote APDU format (ETSI TS 102 226 §5.2: AA/AE command
// template in, AF 80 … 00 00 response template out) through the SD's RAM dispatch.
import {
  decodeExpandedScript,
  encodeExpandedResponse,
  equalBytes,
  FormatError,
  parseTargetedApplication,
} from '@iotsafe/protocol';
import type { AppletResponse } from '../card/applet.js';
import type { RemoteSecurity } from '../gp/isd-applet.js';
import { runRemoteScript } from '../ota/remote-script.js';
import type { ScriptContext, ScriptExecutor } from './admin-agent.js';

export interface SecurityDomainTarget {
  aid: Uint8Array;
  process: (command: Uint8Array, security: RemoteSecurity) => AppletResponse;
}

export interface ScriptTargets {
  /** The security domains scripts may go to; the first owns the session (the default target). */
  securityDomains: readonly SecurityDomainTarget[];
  /** The AIDs of the applications that are not security domains (the IoT SAFE instance). */
  applications: () => readonly Uint8Array[];
  /**
   * Whether the response template carries the executed-commands count (80 01 n), as TS 102 226 §5.2.2
   * and OTAMan's vectors have it; the 2019 reference trace's card sent only the R-APDUs (`af80 2302 6a88
   * 0000`). Default true.
   */
  executedCount?: boolean;
}

export function scriptExecutor(targets: ScriptTargets): ScriptExecutor {
  return (script: Uint8Array, context: ScriptContext) => {
    const target = resolveTarget(targets, context.targetedApplication);
    if (typeof target === 'string') return { status: target };
    const security: RemoteSecurity = { via: 'scp81', level: context.level, keySet: context.keySet };
    let commands: Uint8Array[];
    try {
      commands = decodeExpandedScript(script);
    } catch {
      // TS 102 226 Table 5.12: 01 bad format (the template cannot be read)
      return {
        status: 'ok',
        body: encodeExpandedResponse({ executed: 0, responses: [], badFormat: 0x01 }, true),
      };
    }
    const { executed, responses } = runRemoteScript(commands, (command) => target.process(command, security));
    const body = encodeExpandedResponse({ executed, responses }, true);
    return { status: 'ok', body: targets.executedCount === false ? withoutCount(body) : body };
  };
}

function resolveTarget(
  targets: ScriptTargets,
  header: string | undefined,
): SecurityDomainTarget | 'unknown-application' | 'not-a-security-domain' {
  const owner = targets.securityDomains[0];
  if (header === undefined) return owner ?? 'unknown-application';
  let aid: Uint8Array;
  try {
    aid = parseTargetedApplication(header);
  } catch (error) {
    if (error instanceof FormatError) return 'unknown-application';
    throw error;
  }
  const domain = targets.securityDomains.find((sd) => equalBytes(sd.aid, aid));
  if (domain) return domain;
  if (targets.applications().some((a) => equalBytes(a, aid))) return 'not-a-security-domain';
  return 'unknown-application';
}

/** The response template without its 80 01 n element (AF 80 80 01 n … → AF 80 …). */
function withoutCount(body: Uint8Array): Uint8Array {
  return body[2] === 0x80 && body[3] === 0x01
    ? Uint8Array.from([...body.subarray(0, 2), ...body.subarray(5)])
    : body;
}
