// Running a remote command script (ETSI TS 102 226 §5): its C-APDUs one after the other, stopping at
// the first that fails, with GET RESPONSE answered from the command before it. Shared by the SCP80
// receiving entity and the SCP81 admin agent, whatever format the script came in.
import { FormatError, parseCommandApdu } from '@iotsafe/protocol';
import type { AppletResponse } from '../card/applet.js';
import { CardError } from '../card/card-error.js';

/** SW1 of the command results that let a script go on (TS 102 226 §5.1.1: stop at the first error). */
export const scriptMayContinue = (sw: number) =>
  sw >> 8 === 0x90 || sw >> 8 === 0x91 || sw >> 8 === 0x61 || sw >> 8 === 0x62 || sw >> 8 === 0x63;

export interface ScriptResult {
  executed: number;
  /** R-APDUs (data ‖ SW) in order. */
  responses: Uint8Array[];
  /** The last command's answer. */
  last: AppletResponse;
}

/** Runs `commands` through `run`; a handler's refusal is its status word, never an exception. */
export function runRemoteScript(
  commands: readonly Uint8Array[],
  run: (command: Uint8Array) => AppletResponse,
): ScriptResult {
  const responses: Uint8Array[] = [];
  let last: AppletResponse = { data: new Uint8Array(0), sw: 0x9000 };
  let executed = 0;
  for (const command of commands) {
    last = runOne(run, command, last);
    executed++;
    responses.push(Uint8Array.from([...last.data, last.sw >> 8, last.sw & 0xff]));
    if (!scriptMayContinue(last.sw)) break;
  }
  return { executed, responses, last };
}

// GET RESPONSE in a script returns what the command before it answered (its data came with 61xx on T=0).
function runOne(
  run: (command: Uint8Array) => AppletResponse,
  command: Uint8Array,
  previous: AppletResponse,
): AppletResponse {
  try {
    const apdu = parseCommandApdu(command);
    if (apdu.ins === 0xc0) return { data: previous.data, sw: 0x9000 };
    const response = run(command);
    response.onDelivered?.();
    return response;
  } catch (error) {
    if (error instanceof CardError) return { data: new Uint8Array(0), sw: error.sw };
    if (error instanceof FormatError) return { data: new Uint8Array(0), sw: 0x6700 };
    return { data: new Uint8Array(0), sw: 0x6f00 };
  }
}
