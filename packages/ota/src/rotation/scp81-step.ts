// A rotation step over SCP81 (GP Amd B §3.4–3.5): the step's C-APDUs as one expanded script on the
// SIM's admin queue, tagged with the rotation and step so that a resumed step finds it and never queues
// it again; the admin trigger as an SCP80 attempt (TAR 000000, its counter in the job's ledger); then the
// card's result, which the admin server records before it sends anything else. A script whose fate is
// unknown (a fresh session came while it was out: 'unconfirmed') is never sent again: the step fails.
import {
  decodeExpandedResponse,
  encodeAdminTrigger,
  encodeExpandedScript,
  FormatError,
} from '@iotsafe/protocol';
import type { StepContext, StepResult } from '../jobs/kind.js';
import type { Scp80Kind } from '../jobs/scp80-kind.js';

/** What a step's script answered: the last R-APDU's status word and data (as a compact response). */
export interface AdminAnswer {
  sw: number;
  data: Uint8Array;
}

export interface AdminStepOptions {
  scp80: Scp80Kind;
  kvn?: number;
  /** How long to wait for the trigger's PoR (default: the SCP80 kind's). */
  porTimeoutMs?: number;
  /** How long the admin session has to post the script's result once the trigger is answered (default 30 s). */
  sessionTimeoutMs?: number;
  /** How often the result is looked for (default 50 ms). */
  pollMs?: number;
}

/** The tag an admin script of a rotation step carries (admin_scripts.created_by). */
export const adminScriptTag = (rotation: string, step: number) => `rotation:${rotation}:${step}`;

interface TaggedScript {
  id: number;
  state: string;
  status?: string;
  result?: Uint8Array;
}

async function taggedScript(context: StepContext, tag: string): Promise<TaggedScript | undefined> {
  const [row] = await context.store.engine.query<{ id: number | string }>(
    'SELECT id FROM admin_scripts WHERE iccid = $1 AND created_by = $2 ORDER BY id LIMIT 1',
    [context.item.iccid, tag],
  );
  if (!row) return undefined;
  return context.store.admin.script(Number(row.id));
}

/** The last R-APDU of an expanded response (TS 102 226 §5.2.2): the card stops at the first error. */
function answerOf(result: Uint8Array | undefined, commands: number): AdminAnswer | string {
  if (!result) return 'the card posted no response template';
  try {
    const response = decodeExpandedResponse(result);
    if (response.badFormat !== undefined)
      return `the card could not read the script (bad format ${response.badFormat})`;
    const last = response.responses.at(-1);
    if (!last || last.length < 2) return 'the response template carries no R-APDU';
    const sw = (last[last.length - 2]! << 8) | last[last.length - 1]!;
    if (sw === 0x9000 && response.responses.length < commands)
      return `the card ran ${response.responses.length} of ${commands} commands`;
    return { sw, data: last.slice(0, -2) };
  } catch (error) {
    if (error instanceof FormatError) return `the card's response template is malformed: ${error.message}`;
    throw error;
  }
}

/**
 * Runs `commands` as the item's current step over SCP81, or resumes it: the script is queued once, the
 * trigger is sent (or its open attempt resumed) while no result is recorded, and the result is read.
 */
export async function runAdminStep(
  context: StepContext,
  rotation: string,
  commands: readonly Uint8Array[],
  options: AdminStepOptions,
): Promise<StepResult & { answer?: AdminAnswer }> {
  const tag = adminScriptTag(rotation, context.item.step);
  let script = await taggedScript(context, tag);
  if (!script) {
    const id = await context.store.admin.push(context.item.iccid, {
      script: encodeExpandedScript(commands, true),
      createdBy: tag,
    });
    script = { id, state: 'queued' };
  }
  if (script.state === 'queued' || script.state === 'sent') {
    const trigger = await options.scp80.runScript(
      context,
      {
        tar: '000000',
        script: Buffer.from(encodeAdminTrigger()).toString('hex').toUpperCase(),
        ...(options.kvn ? { kvn: options.kvn } : {}),
      },
      options.porTimeoutMs,
    );
    // the trigger refused or unanswered: retried by its class (a retry resends it; the script waits)
    if (trigger.outcome !== 'ok') return trigger;
    const until = Date.now() + (options.sessionTimeoutMs ?? 30_000);
    for (;;) {
      script = (await taggedScript(context, tag))!;
      if (script.state !== 'queued' && script.state !== 'sent') break;
      if (Date.now() >= until)
        return {
          outcome: 'no_por',
          detail: `the trigger was answered but no admin session posted script ${script.id}'s result in time`,
          ...(trigger.sent ? { sent: trigger.sent } : {}),
        };
      if (!(await context.stillRunning())) return { outcome: 'skipped', detail: 'the job stopped running' };
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 50));
    }
  }
  if (script.state !== 'done')
    return {
      outcome: 'failed',
      code: 'unconfirmed',
      detail: `admin script ${script.id} is ${script.state}: the card may have run it, so it is not sent again`,
    };
  if (script.status !== undefined && script.status !== 'ok')
    return { outcome: 'failed', code: 'card_refused', detail: `the admin agent answered ${script.status}` };
  const answer = answerOf(script.result, commands.length);
  if (typeof answer === 'string') return { outcome: 'failed', code: 'bad_answer', detail: answer };
  return { outcome: 'ok', detail: `admin script ${script.id} run`, answer };
}
