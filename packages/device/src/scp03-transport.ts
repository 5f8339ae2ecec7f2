// SCP03 as a Transport (GPC Amd D): opens a secure channel over another transport and then wraps
// every command and unwraps every response, so the IoT SAFE client and GP commands run unchanged.
// Follow-ups (61xx) are handled here, below the wrapping, because the R-MAC covers the whole answer.
import {
  buildSelect,
  type CommandApdu,
  claForChannel,
  encodeResponseApdu,
  INS,
  parseCommandApdu,
  Scp03Error,
  type Scp03HostOptions,
  Scp03HostSession,
  type StaticKeys,
  StatusWordError,
  SW,
} from '@iotsafe/protocol';
import { ApduPump } from './apdu-pump.js';
import type { TraceSink } from './trace.js';
import { type Transport, TransportError } from './transport.js';

export interface Scp03TransportOptions extends Omit<Scp03HostOptions, 'keys'> {
  /** Select this application on the channel before authenticating (the session is with it). */
  select?: Uint8Array;
  /** Trace of the protected APDUs as they travel (the layer above traces the plain ones). */
  trace?: TraceSink;
}

export class Scp03Transport implements Transport {
  private closed = false;

  constructor(
    private readonly inner: Transport,
    private readonly pump: ApduPump,
    readonly session: Scp03HostSession,
  ) {}

  async transmit(bytes: Uint8Array): Promise<Uint8Array> {
    if (this.closed || !this.session.isOpen) throw new TransportError('the SCP03 session is closed');
    let apdu: CommandApdu;
    try {
      apdu = parseCommandApdu(bytes);
    } catch {
      throw new TransportError('not a command APDU');
    }
    // SELECT and MANAGE CHANNEL are not protected; a SELECT ends the session on the card (GPCS 10.2.3).
    if ((apdu.ins === INS.SELECT || apdu.ins === INS.MANAGE_CHANNEL) && (apdu.cla & 0x80) === 0) {
      if (apdu.ins === INS.SELECT) this.closed = true;
      return this.inner.transmit(bytes);
    }
    const response = await this.pump.exchange(this.session.wrap(apdu));
    try {
      return encodeResponseApdu(this.session.unwrap(response));
    } catch (error) {
      this.closed = true;
      if (error instanceof Scp03Error) throw new TransportError(error.message);
      throw error;
    }
  }

  async reset(): Promise<Uint8Array> {
    this.closed = true;
    return this.inner.reset();
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** Opens an SCP03 session (INITIALIZE UPDATE, EXTERNAL AUTHENTICATE) and returns the protected Transport. */
export async function openScp03(
  transport: Transport,
  keys: StaticKeys,
  options: Scp03TransportOptions = {},
): Promise<Scp03Transport> {
  const pump = new ApduPump(transport, options.trace ? { trace: options.trace } : {});
  const channel = options.channel ?? 0;
  if (options.select) {
    const selected = await pump.exchange(buildSelect(claForChannel(channel), options.select));
    if (selected.sw !== SW.OK) throw new StatusWordError(selected.sw, 'SELECT of the security domain');
  }
  const session = new Scp03HostSession({ ...options, keys });
  const update = await pump.exchange(session.initializeUpdate());
  if (update.sw !== SW.OK) throw new StatusWordError(update.sw, 'INITIALIZE UPDATE');
  session.processInitializeUpdateResponse(update.data);
  const authenticated = await pump.exchange(session.externalAuthenticate());
  if (authenticated.sw !== SW.OK) throw new StatusWordError(authenticated.sw, 'EXTERNAL AUTHENTICATE');
  return new Scp03Transport(transport, pump, session);
}
