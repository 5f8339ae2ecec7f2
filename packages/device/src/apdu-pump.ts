// The APDU pump (ISO/IEC 7816-3 §10.3.3, ETSI TS 102 221 §7.4.2.2): sends a command and returns its complete response, following
// 61xx / 9Fxx with GET RESPONSE, resending on 6Cxx with the Le the card asks for, and taking 91xx
// (proactive command pending) as success.
import {
  type CommandApdu,
  command,
  concatBytes,
  decodeClass,
  EMPTY,
  encodeCommandApdu,
  INS,
  parseResponseApdu,
  type ResponseApdu,
  withChannel,
} from '@iotsafe/protocol';
import { CommandFormatter, formatResponse, hasSecretResponse, type TraceSink } from './trace.js';
import { type Transport, TransportError } from './transport.js';

/** GET RESPONSE class: interindustry 0N (ISO) or the class of the command it follows (8N, Kigen/ZARIOT). */
export type GetResponseClass = 'interindustry' | 'same';

export interface PumpOptions {
  getResponseClass?: GetResponseClass;
  trace?: TraceSink;
  /** Bound on GET RESPONSE / 6Cxx follow-ups for one command (a card that loops is an error). */
  maxFollowUps?: number;
  /**
   * For links that cut long answers (Sequans modems, docs/hardware.md): commands with data ask for at most
   * this many bytes (Le), and GET RESPONSE fetches the rest in pieces of this size.
   */
  maxResponseData?: number;
}

export interface PumpResponse extends ResponseApdu {
  /** SW2 of a 91xx answer: a proactive command of that length is waiting (handled by the modem/ME). */
  proactivePending?: number;
  /** Transport exchanges this command took. */
  exchanges: number;
}

export class ApduPump {
  private readonly getResponseClass: GetResponseClass;
  private readonly maxFollowUps: number;
  private readonly formatter = new CommandFormatter();
  exchanges = 0;
  /** Of those, the follow-ups the card asked for: GET RESPONSE after 61xx/9Fxx, the resend after 6Cxx. */
  followUps = 0;
  /** The exchange in progress: callers that overlap (work started in the background) take turns. */
  private inProgress: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly transport: Transport,
    private readonly options: PumpOptions = {},
  ) {
    this.getResponseClass = options.getResponseClass ?? 'interindustry';
    this.maxFollowUps = options.maxFollowUps ?? 64;
  }

  private async send(apdu: CommandApdu, secretResponse: boolean): Promise<ResponseApdu> {
    const started = performance.now();
    const raw = await this.transport.transmit(encodeCommandApdu(apdu));
    this.exchanges++;
    let response: ResponseApdu;
    try {
      response = parseResponseApdu(raw);
    } catch {
      throw new TransportError(`card answered ${raw.length} byte(s), without a status word`);
    }
    if (this.options.trace) {
      const ms = performance.now() - started;
      this.options.trace(`→ ${this.formatter.format(apdu)}`);
      this.options.trace(`← ${formatResponse(response.data, response.sw, secretResponse, ms)}`);
    }
    return response;
  }

  /**
   * Sends a command and its follow-ups (GET RESPONSE, the resend after 6Cxx) as one unit: overlapping
   * callers are served in turn, so no other command lands between a 61xx and its GET RESPONSE.
   */
  exchange(apdu: CommandApdu): Promise<PumpResponse> {
    const turn = this.inProgress.then(() => this.exchangeNow(apdu));
    this.inProgress = turn.catch(() => undefined);
    return turn;
  }

  private async exchangeNow(apdu: CommandApdu): Promise<PumpResponse> {
    const secret = hasSecretResponse(apdu);
    const max = this.options.maxResponseData;
    let current =
      max !== undefined && apdu.data.length > 0 && (apdu.le === undefined || apdu.le > max)
        ? { ...apdu, le: max }
        : apdu;
    let data: Uint8Array = EMPTY;
    let exchanges = 0;
    for (let step = 0; step <= this.maxFollowUps; step++) {
      const response = await this.send(current, secret);
      exchanges++;
      const sw1 = response.sw >> 8;
      const sw2 = response.sw & 0xff;
      if (sw1 === 0x61 || sw1 === 0x9f) {
        data = concatBytes(data, response.data);
        const available = sw2 === 0 ? 256 : sw2;
        const le = max !== undefined ? Math.min(available, max) : available;
        current = command(this.getResponseCla(apdu.cla), INS.GET_RESPONSE, 0, 0, EMPTY, le);
        this.followUps++;
        continue;
      }
      if (sw1 === 0x6c) {
        current = { ...current, le: sw2 === 0 ? 256 : sw2 };
        this.followUps++;
        continue;
      }
      data = concatBytes(data, response.data);
      if (sw1 === 0x91) return { data, sw: 0x9000, proactivePending: sw2, exchanges };
      return { data, sw: response.sw, exchanges };
    }
    throw new TransportError(`the card kept asking for follow-ups after ${this.maxFollowUps} exchanges`);
  }

  private getResponseCla(commandCla: number): number {
    const info = decodeClass(commandCla);
    const channel = info?.channel ?? 0;
    return this.getResponseClass === 'same' ? commandCla & ~0x10 : withChannel(0x00, channel);
  }
}
