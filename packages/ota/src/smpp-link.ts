// The server's link to an SMSC over SMPP 3.4 (smpp@0.5.1): bind_transceiver (interface_version 0x34),
// submit_sm of SIM data download SMS (esm_class UDHI, protocol_id 7F, data_coding F6: 8-bit class 2, so
// that a handset hands them to the SIM, TS 31.111 §7.1.1), and the deliver_sm that bring PoRs back.
// enquire_link keeps the bind alive (SMPP 3.4 §4.11) and detects a dead one; when the bind drops the
// link binds again, with growing delays. A submit counts as sent only once its submit_sm_resp says
// ESME_ROK: until then it is kept and sent again, unchanged, on the next bind, so nothing is lost; one
// whose submit_sm_resp came back is never sent again. (A submit_sm the SMSC took but whose response was
// lost goes twice; for OTA that is harmless: the card refuses a counter it has seen, and a repeated part
// of a concatenated message changes nothing.)
import { DCS_8BIT_CLASS2, PID_SIM_DATA_DOWNLOAD } from '@iotsafe/protocol';
import smpp from 'smpp';
import {
  type AddressingOptions,
  commandStatusText,
  ESM_CLASS_UDHI,
  ESME,
  refusalOf,
  SMPP_INTERFACE_VERSION_34,
  SmppError,
  shortMessageOf,
  smLengthOverruns,
  smppAddress,
} from './smpp-pdu.js';

export interface SmsLink {
  /** Sends one SMS of 8-bit user data (UDH included) to an MSISDN; resolves with the SMSC's message_id. */
  submit(to: string, userData: Uint8Array): Promise<string>;
  /**
   * Called with every SMS that arrives: the sender's MSISDN and its user data. The SMSC's deliver_sm
   * is acknowledged once every handler's promise settles: ESME_ROK, or ESME_RX_T_APPN (try again
   * later) when one rejects, so that a PoR is never acknowledged before it is recorded.
   */
  onMessage(handler: MessageHandler): void;
  /** Resolves when the link can take an SMS soon (a paced link: its queue is short). */
  ready?(): Promise<void>;
  close(): Promise<void>;
}

export type MessageHandler = (from: string, userData: Uint8Array) => void | Promise<void>;

export interface SmppLinkOptions {
  host: string;
  port: number;
  systemId: string;
  password: string;
  systemType?: string;
  /** The server's own address in submit_sm (the SIM sees it as TP-OA; default 1234). */
  sourceAddress?: string;
  /** TON/NPI of the source address (default: derived from it). */
  sourceAddressing?: AddressingOptions;
  /** TON/NPI of destination numbers (default: derived; pass the country code to mark them international). */
  addressing?: AddressingOptions;
  /** data_coding of every submit_sm (default F6; 16 for SMSCs that take the TP-DCS as it is). */
  dataCoding?: number;
  /** enquire_link period in ms while bound (default 30 s; 0: none). */
  enquireLinkMs?: number;
  /** How long a request may wait for its response before the bind is taken for dead (default 10 s). */
  responseTimeoutMs?: number;
  /** First delay before binding again after a drop, doubled up to maxReconnectDelayMs (default 250 ms). */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** How long a submit may wait for an acknowledgement, across reconnects (default 60 s). */
  submitTimeoutMs?: number;
}

interface Submission {
  to: string;
  fields: Record<string, unknown>;
  /** Written on some bind at least once (so the SMSC may have it). */
  written: boolean;
  inFlight?: smpp.Session;
  resolve(messageId: string): void;
  reject(error: Error): void;
  deadline: NodeJS.Timeout;
}

const MAX_USER_DATA = 140;

export class SmppLink implements SmsLink {
  private handlers: MessageHandler[] = [];
  private session: smpp.Session | undefined;
  private readonly queue: Submission[] = [];
  /** Per connection, how to fail each request still waiting for its response when it closes. */
  private readonly waiting = new WeakMap<smpp.Session, Set<() => void>>();
  private closed = false;
  private enquireTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay: number;
  /** Binds made again after a drop. */
  reconnects = 0;
  /** Submits written again on a new bind because the old one dropped before their response. */
  resubmitted = 0;
  /** Why the last bind ended, when it did not end by close(). */
  lastError: SmppError | undefined;

  private constructor(private readonly options: SmppLinkOptions) {
    this.reconnectDelay = options.reconnectDelayMs ?? 250;
  }

  /** Connects and binds; an SmppError when the SMSC cannot be reached or refuses the bind. */
  static async connect(options: SmppLinkOptions): Promise<SmppLink> {
    const link = new SmppLink(options);
    smppAddress(options.sourceAddress ?? '1234', options.sourceAddressing); // refused before connecting
    await link.bind();
    return link;
  }

  /** Whether a bind is up now. */
  get bound(): boolean {
    return this.session !== undefined;
  }

  private get responseTimeoutMs(): number {
    return this.options.responseTimeoutMs ?? 10_000;
  }

  private async bind(): Promise<void> {
    const session = smpp.connect({ host: this.options.host, port: this.options.port });
    session.on('error', (error: Error) => {
      // a socket error, or a PDU the library could not read: the end of this bind
      this.lastError = error instanceof SmppError ? error : new SmppError(error.message);
      session.destroy();
    });
    // listening from the start: an SMSC may send deliver_sm (or enquire_link) right behind bind_resp
    session.on('pdu', (pdu: smpp.Pdu) => this.received(session, pdu));
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('error', (e: Error) => reject(new SmppError(`cannot reach the SMSC: ${e.message}`)));
        session.once('connect', () => resolve());
      });
      session.socket.setNoDelay(true);
      const bound = await this.request(
        session,
        new smpp.PDU('bind_transceiver', {
          system_id: this.options.systemId,
          password: this.options.password,
          system_type: this.options.systemType ?? '',
          interface_version: SMPP_INTERFACE_VERSION_34,
        }),
      );
      if (bound.command_status !== ESME.ROK)
        throw new SmppError(
          `the SMSC refused the bind: ${commandStatusText(bound.command_status)}`,
          bound.command_status,
        );
      // it may have hung up (or sent what ends the session) right behind its bind_resp
      if (session.socket.destroyed)
        throw new SmppError('the SMSC closed the connection right after the bind');
    } catch (error) {
      session.destroy();
      throw error instanceof SmppError ? error : new SmppError((error as Error).message);
    }
    this.attach(session);
  }

  /** Sends a request and waits for its response; no response in time ends the connection. */
  private request(session: smpp.Session, pdu: smpp.Pdu): Promise<smpp.Pdu> {
    return new Promise((resolve, reject) => {
      let waiting = this.waiting.get(session);
      if (!waiting) {
        const failures = new Set<() => void>();
        waiting = failures;
        this.waiting.set(session, failures);
        session.socket.once('close', () => {
          for (const fail of failures) fail();
        });
      }
      const failures = waiting;
      const timer = setTimeout(() => {
        failures.delete(closed);
        this.lastError = new SmppError(`no ${pdu.command}_resp within ${this.responseTimeoutMs} ms`);
        reject(this.lastError);
        session.destroy();
      }, this.responseTimeoutMs);
      const closed = () => {
        clearTimeout(timer);
        failures.delete(closed);
        reject(new SmppError(`the SMSC closed the connection before the ${pdu.command}_resp`));
      };
      failures.add(closed);
      const written = session.send(pdu, (response) => {
        clearTimeout(timer);
        failures.delete(closed);
        resolve(response);
      });
      if (!written) {
        closed();
        session.destroy(); // not writable: a dead connection whose close may never come by itself
      }
    });
  }

  private attach(session: smpp.Session): void {
    this.session = session;
    this.reconnectDelay = this.options.reconnectDelayMs ?? 250;
    session.socket.once('close', () => this.dropped(session));
    const period = this.options.enquireLinkMs ?? 30_000;
    if (period > 0)
      this.enquireTimer = setInterval(() => {
        this.request(session, new smpp.PDU('enquire_link')).catch(() => {});
      }, period);
    this.flush();
  }

  // Runs inside the library's reader: whatever goes wrong ends this bind, never the process.
  private received(session: smpp.Session, pdu: smpp.Pdu): void {
    try {
      this.answer(session, pdu);
    } catch (error) {
      this.lastError = new SmppError(
        `cannot handle a ${pdu.command} from the SMSC: ${(error as Error).message}`,
      );
      session.destroy();
    }
  }

  private answer(session: smpp.Session, pdu: smpp.Pdu): void {
    if (pdu.isResponse()) return; // matched to its request by the library
    switch (pdu.command) {
      case 'deliver_sm': {
        const userData = shortMessageOf(pdu);
        if (
          typeof pdu.source_addr !== 'string' ||
          pdu.short_message === undefined ||
          smLengthOverruns(userData)
        ) {
          session.send(pdu.response({ command_status: ESME.RINVMSGLEN }));
          return;
        }
        // nobody listens yet (a process just bound): not acknowledged, so the SMSC offers it again
        if (this.handlers.length === 0) {
          session.send(pdu.response({ command_status: ESME.RX_T_APPN }));
          return;
        }
        const from = pdu.source_addr.replace(/^\+/, '');
        const handled = this.handlers.map((handler) => {
          try {
            return Promise.resolve(handler(from, userData));
          } catch (error) {
            return Promise.reject(error);
          }
        });
        Promise.all(handled).then(
          () => {
            corkTurn(session);
            session.send(pdu.response());
          },
          () => session.send(pdu.response({ command_status: ESME.RX_T_APPN })),
        );
        return;
      }
      case 'enquire_link':
        session.send(pdu.response());
        return;
      case 'unbind': // the SMSC ends the bind: answer, and bind again once it hangs up
        session.send(pdu.response(), undefined, () => session.close());
        return;
      default:
        session.send(refusalOf(pdu));
    }
  }

  private dropped(session: smpp.Session): void {
    if (this.session !== session) return;
    this.session = undefined;
    clearInterval(this.enquireTimer);
    for (const submission of this.queue) if (submission.inFlight === session) delete submission.inFlight;
    if (!this.closed) this.scheduleBind();
  }

  private scheduleBind(): void {
    this.reconnectTimer = setTimeout(() => {
      this.bind().then(
        () => this.reconnects++,
        (error: SmppError) => {
          this.lastError = error;
          this.reconnectDelay = Math.min(this.reconnectDelay * 2, this.options.maxReconnectDelayMs ?? 10_000);
          if (!this.closed) this.scheduleBind();
        },
      );
    }, this.reconnectDelay);
  }

  submit(to: string, userData: Uint8Array): Promise<string> {
    if (this.closed) return Promise.reject(new SmppError('the SMPP link is closed'));
    if (userData.length > MAX_USER_DATA)
      return Promise.reject(
        new SmppError(`${userData.length} bytes of user data; an SMS takes ${MAX_USER_DATA}`),
      );
    let source: ReturnType<typeof smppAddress>;
    let destination: ReturnType<typeof smppAddress>;
    try {
      source = smppAddress(this.options.sourceAddress ?? '1234', this.options.sourceAddressing);
      destination = smppAddress(to, this.options.addressing);
    } catch (error) {
      return Promise.reject(error);
    }
    const fields = {
      source_addr_ton: source.ton,
      source_addr_npi: source.npi,
      source_addr: source.addr,
      dest_addr_ton: destination.ton,
      dest_addr_npi: destination.npi,
      destination_addr: destination.addr,
      esm_class: ESM_CLASS_UDHI,
      protocol_id: PID_SIM_DATA_DOWNLOAD,
      data_coding: this.options.dataCoding ?? DCS_8BIT_CLASS2,
      short_message: Buffer.from(userData),
    };
    return new Promise((resolve, reject) => {
      const timeoutMs = this.options.submitTimeoutMs ?? 60_000;
      const submission: Submission = {
        to,
        fields,
        written: false,
        resolve,
        reject,
        deadline: setTimeout(() => {
          this.settle(submission);
          reject(
            new SmppError(
              submission.written
                ? `no submit_sm_resp for the SMS to ${to} within ${timeoutMs} ms: the SMSC may or may not have it`
                : `the SMSC was not reachable for ${timeoutMs} ms: the SMS to ${to} was not sent`,
              undefined,
              submission.written,
            ),
          );
        }, timeoutMs),
      };
      this.queue.push(submission);
      this.flush();
    });
  }

  private settle(submission: Submission): void {
    clearTimeout(submission.deadline);
    const at = this.queue.indexOf(submission);
    if (at >= 0) this.queue.splice(at, 1);
  }

  // Writes every submit not yet on this bind, in order; each waits for its own submit_sm_resp.
  private flush(): void {
    const session = this.session;
    if (!session) return;
    corkTurn(session);
    for (const submission of this.queue) {
      if (submission.inFlight) continue;
      submission.inFlight = session;
      if (submission.written) this.resubmitted++;
      submission.written = true;
      this.request(session, new smpp.PDU('submit_sm', submission.fields)).then(
        (response) => {
          this.settle(submission);
          if (response.command_status === ESME.ROK) submission.resolve(String(response.message_id ?? ''));
          else
            submission.reject(
              new SmppError(
                `the SMSC refused the SMS to ${submission.to}: ${commandStatusText(response.command_status)}`,
                response.command_status,
              ),
            );
        },
        () => {}, // the bind dropped: the submission stays queued for the next one
      );
    }
  }

  onMessage(handler: MessageHandler): void {
    this.handlers.push(handler);
  }

  /** Unbinds and closes; submits not acknowledged by then fail with an SmppError. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.enquireTimer);
    for (const submission of [...this.queue]) {
      this.settle(submission);
      submission.reject(
        new SmppError(
          `the SMPP link was closed before the SMS to ${submission.to} was acknowledged`,
          undefined,
          submission.written,
        ),
      );
    }
    const session = this.session;
    if (!session || session.socket.destroyed) return;
    await this.request(session, new smpp.PDU('unbind')).catch(() => {});
    await new Promise<void>((resolve) => {
      if (session.socket.destroyed) return resolve();
      session.socket.once('close', () => resolve());
      session.close();
      setTimeout(() => session.destroy(), 500).unref();
    });
  }
}

// The PDUs written in one turn of the event loop (the submits a pacer lets out together, the
// acknowledgements of PoRs recorded in one commit) leave in one write instead of one each.
const corked = new WeakSet<smpp.Session>();
function corkTurn(session: smpp.Session): void {
  if (corked.has(session)) return;
  corked.add(session);
  session.socket.cork();
  process.nextTick(() => {
    corked.delete(session);
    session.socket.uncork();
  });
}
