// The server's link to an SMSC over SMPP 3.4 (smpp@0.5.1): bind_transceiver, submit_sm of SIM data
// download SMS (esm_class UDHI, protocol_id 7F, data_coding 04 binary: spec/scp80-81.md §4.5), and the
// deliver_sm that bring PoRs (and MO SMS-SUBMIT PoRs) back.
import smpp from 'smpp';

export interface SmsLink {
  /** Sends one SMS of 8-bit user data (UDH included) to an MSISDN. */
  submit(to: string, userData: Uint8Array): Promise<void>;
  /** Called with every SMS that arrives: the sender's MSISDN and its user data. */
  onMessage(handler: (from: string, userData: Uint8Array) => void): void;
  close(): Promise<void>;
}

/** An SMPP link could not be set up or a submit was refused. */
export class SmppError extends Error {
  override name = 'SmppError';
}

const ESM_CLASS_UDHI = 0x40;
const PID_SIM_DATA_DOWNLOAD = 0x7f;
const DATA_CODING_BINARY = 0x04;

/** smpp decodes short_message into { udh: IE buffers, message } when UDHI is set: put it back together. */
export function rawShortMessage(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  const { udh, message } = (value ?? {}) as { udh?: Uint8Array[]; message?: Uint8Array | string };
  const body = typeof message === 'string' ? Buffer.from(message, 'latin1') : Buffer.from(message ?? []);
  if (!udh?.length) return new Uint8Array(body);
  const header = Buffer.concat(udh.map((ie) => Buffer.from(ie)));
  return new Uint8Array(Buffer.concat([Buffer.from([header.length]), header, body]));
}

export class SmppLink implements SmsLink {
  private handlers: ((from: string, userData: Uint8Array) => void)[] = [];

  private constructor(
    private readonly session: smpp.Session,
    private readonly sourceAddress: string,
  ) {
    session.on('pdu', (pdu: smpp.Pdu) => {
      if (pdu.command !== 'deliver_sm') return;
      session.send(pdu.response());
      const userData = rawShortMessage(pdu.short_message);
      for (const handler of this.handlers) handler(String(pdu.source_addr), userData);
    });
  }

  static async connect(options: {
    host: string;
    port: number;
    systemId: string;
    password: string;
    /** The server's own address in submit_sm (the SIM sees it as TP-OA). */
    sourceAddress?: string;
  }): Promise<SmppLink> {
    const session = smpp.connect({ host: options.host, port: options.port });
    await new Promise<void>((resolve, reject) => {
      session.once('error', (e: Error) => reject(new SmppError(`cannot reach the SMSC: ${e.message}`)));
      session.once('connect', () => resolve());
    });
    session.on('error', () => {}); // a later socket error ends in 'close'; submits then fail clearly
    session.socket.setNoDelay(true);
    const bound = await new Promise<smpp.Pdu>((resolve) =>
      session.send(
        new smpp.PDU('bind_transceiver', { system_id: options.systemId, password: options.password }),
        resolve,
      ),
    );
    if (bound.command_status !== 0) {
      session.destroy();
      throw new SmppError(`the SMSC refused the bind (command_status ${bound.command_status})`);
    }
    return new SmppLink(session, options.sourceAddress ?? '1234');
  }

  submit(to: string, userData: Uint8Array): Promise<void> {
    const pdu = new smpp.PDU('submit_sm', {
      source_addr: this.sourceAddress,
      destination_addr: to,
      esm_class: ESM_CLASS_UDHI,
      protocol_id: PID_SIM_DATA_DOWNLOAD,
      data_coding: DATA_CODING_BINARY,
      short_message: Buffer.from(userData),
    });
    return new Promise((resolve, reject) => {
      const sent = this.session.send(pdu, (response) =>
        response.command_status === 0
          ? resolve()
          : reject(new SmppError(`submit_sm refused (command_status ${response.command_status})`)),
      );
      if (!sent) reject(new SmppError('the SMPP link is closed'));
    });
  }

  onMessage(handler: (from: string, userData: Uint8Array) => void): void {
    this.handlers.push(handler);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.session.socket.destroyed) return resolve();
      this.session.send(new smpp.PDU('unbind'), () => this.session.close(() => resolve()));
      setTimeout(() => this.session.destroy(() => resolve()), 500).unref();
    });
  }
}
