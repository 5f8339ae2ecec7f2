// A Transport through PC/SC (pcsc-lite via the `smartcard` N-API binding): a real SIM in a reader, or
// the virtual SIM behind pcscd + vsmartcard-vpcd. T=0 follow-ups are left to the APDU pump.
import { type Transport, TransportError } from '../transport.js';

type SmartcardModule = typeof import('smartcard');
type PcscCard = Awaited<
  ReturnType<ReturnType<InstanceType<SmartcardModule['Context']>['listReaders']>[number]['connect']>
>;

export interface PcscOptions {
  /** Reader by name (a substring is enough) or index in the list; the first reader by default. */
  reader?: string | number;
  exclusive?: boolean;
  protocol?: 'T=0' | 'T=1' | 'any';
}

export interface PcscReader {
  name: string;
  /** A card is present. */
  card: boolean;
  /** Another program holds the card (exclusive or shared). */
  inUse: boolean;
  atr?: Uint8Array;
}

export interface PcscEvent {
  type: 'reader-attached' | 'reader-detached' | 'card-inserted' | 'card-removed';
  reader: string;
}

async function loadPcsc(): Promise<SmartcardModule> {
  try {
    return await import('smartcard');
  } catch (error) {
    throw new TransportError(
      `PC/SC is not available (the smartcard module did not load: ${(error as Error).message})`,
    );
  }
}

function establish(pcsc: SmartcardModule): InstanceType<SmartcardModule['Context']> {
  try {
    return new pcsc.Context();
  } catch (error) {
    throw new TransportError(`cannot reach pcscd: ${(error as Error).message}`);
  }
}

export class PcscTransport implements Transport {
  private constructor(
    private readonly pcsc: SmartcardModule,
    private readonly context: InstanceType<SmartcardModule['Context']>,
    private card: PcscCard,
    readonly readerName: string,
    private readonly options: PcscOptions,
  ) {}

  /** The readers pcscd knows, whether a card is in each (and its ATR), whether it is in use. */
  static async readers(): Promise<PcscReader[]> {
    const pcsc = await loadPcsc();
    const context = establish(pcsc);
    try {
      return context.listReaders().map((r) => ({
        name: r.name,
        card: (r.state & pcsc.SCARD_STATE_PRESENT) !== 0,
        inUse: (r.state & pcsc.SCARD_STATE_INUSE) !== 0,
        ...(r.atr?.length ? { atr: new Uint8Array(r.atr) } : {}),
      }));
    } catch (error) {
      throw new TransportError(`cannot list PC/SC readers (is pcscd running?): ${(error as Error).message}`);
    } finally {
      context.close();
    }
  }

  /** Names of the readers pcscd knows. */
  static async listReaders(): Promise<string[]> {
    const pcsc = await loadPcsc();
    const context = establish(pcsc);
    try {
      return context.listReaders().map((r) => r.name);
    } catch (error) {
      throw new TransportError(`cannot list PC/SC readers (is pcscd running?): ${(error as Error).message}`);
    } finally {
      context.close();
    }
  }

  /**
   * Reports readers attached/detached and cards inserted/removed (pcscd's reader monitor) until stopped:
   * how a device learns its SIM was pulled without waiting for the next command to fail.
   */
  static async watch(listener: (event: PcscEvent) => void): Promise<{ stop(): void }> {
    const pcsc = await loadPcsc();
    const devices = new pcsc.Devices();
    const report = (type: PcscEvent['type']) => (info: { reader: { name: string } } | { name: string }) =>
      listener({ type, reader: 'reader' in info ? info.reader.name : info.name });
    devices.on('reader-attached', report('reader-attached'));
    devices.on('reader-detached', report('reader-detached'));
    devices.on('card-inserted', report('card-inserted'));
    devices.on('card-removed', report('card-removed'));
    devices.on('error', () => {}); // a monitor error ends in missing events, never in a crash
    try {
      devices.start();
    } catch (error) {
      throw new TransportError(`cannot watch PC/SC readers (is pcscd running?): ${(error as Error).message}`);
    }
    return { stop: () => devices.stop() };
  }

  static async open(options: PcscOptions = {}): Promise<PcscTransport> {
    const pcsc = await loadPcsc();
    const context = establish(pcsc);
    try {
      const { card, name } = await PcscTransport.connectCard(pcsc, context, options);
      return new PcscTransport(pcsc, context, card, name, options);
    } catch (error) {
      context.close(); // a failed open keeps nothing of pcscd's
      throw error;
    }
  }

  private static async connectCard(
    pcsc: SmartcardModule,
    context: InstanceType<SmartcardModule['Context']>,
    options: PcscOptions,
  ) {
    let readers: ReturnType<typeof context.listReaders>;
    try {
      readers = context.listReaders();
    } catch (error) {
      throw new TransportError(`cannot list PC/SC readers (is pcscd running?): ${(error as Error).message}`);
    }
    const wanted = options.reader;
    const reader =
      typeof wanted === 'number'
        ? readers[wanted]
        : wanted === undefined
          ? readers[0]
          : readers.find((r) => r.name.includes(wanted));
    if (!reader)
      throw new TransportError(
        `no PC/SC reader ${wanted === undefined ? '' : `"${wanted}" `}(found: ${readers.map((r) => r.name).join(', ') || 'none'})`,
      );
    const share = options.exclusive ? pcsc.SCARD_SHARE_EXCLUSIVE : pcsc.SCARD_SHARE_SHARED;
    const protocol =
      options.protocol === 'T=0'
        ? pcsc.SCARD_PROTOCOL_T0
        : options.protocol === 'T=1'
          ? pcsc.SCARD_PROTOCOL_T1
          : pcsc.SCARD_PROTOCOL_T0 | pcsc.SCARD_PROTOCOL_T1;
    try {
      return { card: await reader.connect(share, protocol), name: reader.name };
    } catch (error) {
      throw new TransportError(`cannot connect to the card in "${reader.name}": ${(error as Error).message}`);
    }
  }

  get atr(): Uint8Array {
    return new Uint8Array(this.card.atr ?? []);
  }

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    let response: Uint8Array;
    try {
      response = new Uint8Array(await this.card.transmit(Buffer.from(command), { autoGetResponse: false }));
    } catch (error) {
      throw new TransportError(`PC/SC transmit to "${this.readerName}" failed: ${(error as Error).message}`);
    }
    // A reader that lost the card mid-command can report success with no bytes (vpcd does).
    if (response.length < 2)
      throw new TransportError(`"${this.readerName}" answered without a status word (card removed?)`);
    return response;
  }

  /** Connects again after the card was removed and put back, or the reader came back. */
  async reconnect(): Promise<void> {
    try {
      this.card.disconnect(this.pcsc.SCARD_LEAVE_CARD);
    } catch {
      // the old handle may already be gone
    }
    this.card = (
      await PcscTransport.connectCard(this.pcsc, this.context, { ...this.options, reader: this.readerName })
    ).card;
  }

  async reset(): Promise<Uint8Array> {
    const share = this.options.exclusive ? this.pcsc.SCARD_SHARE_EXCLUSIVE : this.pcsc.SCARD_SHARE_SHARED;
    try {
      await this.card.reconnect(
        share,
        this.pcsc.SCARD_PROTOCOL_T0 | this.pcsc.SCARD_PROTOCOL_T1,
        this.pcsc.SCARD_RESET_CARD,
      );
      return new Uint8Array(this.card.getStatus().atr);
    } catch (error) {
      throw new TransportError(`PC/SC reset of "${this.readerName}" failed: ${(error as Error).message}`);
    }
  }

  async close(): Promise<void> {
    try {
      this.card.disconnect(this.pcsc.SCARD_LEAVE_CARD);
    } finally {
      this.context.close();
    }
  }
}
