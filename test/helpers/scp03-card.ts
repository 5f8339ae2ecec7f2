// An SCP03 host session driven straight over a card's transmit (no Transport, no async): the tamper
// tests and the SCP03 fuzzer wrap a command, change its bytes, and see what the card makes of them.
import {
  buildSelect,
  type CommandApdu,
  claForChannel,
  concatBytes,
  encodeCommandApdu,
  parseCommandApdu,
  parseResponseApdu,
  type ResponseApdu,
  Scp03HostSession,
  type StaticKeys,
} from '@iotsafe/protocol';

export interface SyncCard {
  transmit(command: Uint8Array): Uint8Array;
}

/** One exchange, following 61xx with GET RESPONSE on the command's channel (T=0 and T=1 cards). */
export function exchange(card: SyncCard, bytes: Uint8Array, channel = 0): ResponseApdu {
  let response = parseResponseApdu(card.transmit(bytes));
  let data = response.data;
  for (let i = 0; i < 16 && response.sw >> 8 === 0x61; i++) {
    const le = response.sw & 0xff || 256;
    response = parseResponseApdu(card.transmit(encodeCommandApdu({ ...getResponse(channel), le })));
    data = concatBytes(data, response.data);
  }
  return { data, sw: response.sw };
}

const getResponse = (channel: number): CommandApdu => ({
  cla: claForChannel(channel),
  ins: 0xc0,
  p1: 0,
  p2: 0,
  data: new Uint8Array(0),
});

export interface RawScp03Options {
  keys: StaticKeys;
  level: number;
  channel?: number;
  /** The application the session is with (selected on the channel first). */
  select: Uint8Array;
}

/** Selects `select` on the channel and opens a session with it; throws unless every step answers 9000. */
export function openRawScp03(card: SyncCard, options: RawScp03Options): Scp03HostSession {
  const channel = options.channel ?? 0;
  const step = (apdu: CommandApdu, what: string) => {
    const r = exchange(card, encodeCommandApdu(apdu), channel);
    if (r.sw !== 0x9000) throw new Error(`${what} answered ${r.sw.toString(16)}`);
    return r;
  };
  step(buildSelect(claForChannel(channel), options.select), 'SELECT');
  const host = new Scp03HostSession({ keys: options.keys, securityLevel: options.level, channel });
  host.processInitializeUpdateResponse(step(host.initializeUpdate(), 'INITIALIZE UPDATE').data);
  step(host.externalAuthenticate(), 'EXTERNAL AUTHENTICATE');
  return host;
}

/** A plain command (hex) wrapped by the session, as wire bytes. */
export function wrapHex(host: Scp03HostSession, plainHex: string): Uint8Array {
  return encodeCommandApdu(host.wrap(parseCommandApdu(Uint8Array.from(Buffer.from(plainHex, 'hex')))));
}
