// Where each PoR belongs. An SMS from a SIM is put back together when it came in parts (TS 23.040
// §9.2.3.24.1 concatenation), then matched by index: the sender's number and the TAR (in clear in the
// PoR header) name the open attempts; the counter the PoR echoes, once opened with that attempt's
// keys, names the one (TS 102 225 §5.2). An unsecured error PoR (RHL 0A) may not echo the counter: it
// matches only where one attempt is open for that number and TAR (the engine sends one at a time per
// SIM). Attempts of this process are found in memory; others' in the store, so any worker's bind may
// take any PoR; the worker waiting on it is told at once where the store can (PostgreSQL NOTIFY) and
// polls for it in any case. The PoR is recorded before the SMSC's deliver_sm is acknowledged.
import {
  bytesToHex,
  type DecodedResponse,
  decodeResponsePacket,
  decodeSpi,
  decodeUserDataHeader,
  encodeUserDataHeader,
  FormatError,
  hexToBytes,
  type OtaKeys,
  OtaPacketError,
  porStatusText,
  SmsReassembler,
} from '@iotsafe/protocol';
import type { AttemptRecord } from './storage/job-records.js';
import type { OtaStore } from './storage/store.js';

export interface ExpectedPor {
  attemptId: number;
  msisdn: string;
  tar: string;
  counter: bigint;
  spi: string;
  kicByte: number;
  kidByte: number;
  keys: OtaKeys;
}

/** What an attempt sent (its SMS acknowledged by the SMSC): written with the PoR when known by then. */
export interface SentSms {
  sentAt: number;
  messageIds: readonly string[];
}

interface Waiter extends ExpectedPor {
  since: number;
  resolve: (por: DecodedResponse | undefined) => void;
  sent?: SentSms;
  sentRecorded: boolean;
}

export interface PorWait {
  por: Promise<DecodedResponse | undefined>;
  cancel: () => void;
  /** The attempt's SMS are out: the PoR, when it comes, is recorded with them (one statement). */
  sent(sent: SentSms): void;
  /** Whether the PoR was recorded with what was sent (so the caller need not write it again). */
  readonly sentRecorded: boolean;
}

/** How much less often a router polls for others' PoRs when they are also announced to it. */
const LISTENING_POLL_FACTOR = 5;

const isPor = (userData: Uint8Array) =>
  userData.length >= 9 && userData[0] === 0x02 && userData[1] === 0x71 && userData[2] === 0x00;

export class PorRouter {
  private readonly local = new Map<string, Set<Waiter>>();
  private readonly byId = new Map<number, Waiter>();
  private readonly reassembler = new SmsReassembler(4096);
  private poller: NodeJS.Timeout | undefined;
  /** The engine's LISTEN for PoRs other workers recorded (PostgreSQL), once started. */
  private listening: Promise<(() => Promise<void>) | undefined> | undefined;
  private closed = false;
  /** PoRs that matched no open attempt (late, duplicated, or for another server), and SMS not PoRs. */
  unmatched = 0;
  /** PoRs recorded for attempts of other workers. */
  forOthers = 0;

  constructor(
    private readonly store: OtaStore,
    private readonly options: { pollMs?: number } = {},
  ) {}

  /** Registers an attempt before its SMS go out; the promise gives its PoR, or undefined on cancel. */
  expect(expected: ExpectedPor): PorWait {
    let waiter!: Waiter;
    const por = new Promise<DecodedResponse | undefined>((resolve) => {
      waiter = { ...expected, since: Date.now(), resolve, sentRecorded: false };
    });
    const key = `${expected.msisdn}/${expected.tar}`;
    const set = this.local.get(key) ?? new Set<Waiter>();
    this.local.set(key, set);
    set.add(waiter);
    this.byId.set(expected.attemptId, waiter);
    this.startPolling();
    return {
      por,
      cancel: () => this.settle(waiter, undefined),
      sent: (sent) => {
        waiter.sent = sent;
      },
      get sentRecorded() {
        return waiter.sentRecorded;
      },
    };
  }

  private settle(waiter: Waiter, por: DecodedResponse | undefined): void {
    if (this.byId.get(waiter.attemptId) !== waiter) return;
    this.byId.delete(waiter.attemptId);
    const key = `${waiter.msisdn}/${waiter.tar}`;
    const set = this.local.get(key);
    set?.delete(waiter);
    if (set?.size === 0) this.local.delete(key);
    if (this.byId.size === 0) this.stopPolling();
    waiter.resolve(por);
  }

  /** Attempts waiting here for their PoR. */
  get waiting(): number {
    return this.byId.size;
  }

  /** The SMS handler (every bind's): resolves when the PoR, if it is one of ours, is recorded. */
  async received(from: string, userData: Uint8Array): Promise<void> {
    const whole = this.reassemble(from, userData);
    if (!whole) return;
    if (!isPor(whole)) {
      this.unmatched++;
      return;
    }
    const tar = bytesToHex(whole.subarray(6, 9));
    const mine = [...(this.local.get(`${from}/${tar}`) ?? [])];
    const match = matchPor(whole, mine);
    if (match) {
      const waiter = match.expected as Waiter;
      const sent = waiter.sent;
      if ((await this.record(waiter.attemptId, match.por, sent)) && sent) waiter.sentRecorded = true;
      this.settle(waiter, match.por);
      return;
    }
    const open = (await this.store.jobs.openAttempts(from, tar)).filter((a) => !this.byId.has(a.id));
    const theirs = (await Promise.all(open.map((a) => this.expectationOf(a)))).filter(
      (e): e is ExpectedPor => e !== undefined,
    );
    const other = matchPor(whole, theirs);
    if (!other) {
      this.unmatched++;
      return;
    }
    if (await this.record(other.expected.attemptId, other.por)) {
      this.forOthers++;
      // the worker waiting on it hears now rather than at its next poll; a lost message costs a poll
      await this.store.jobs.announcePor(other.expected.attemptId).catch(() => {});
    }
  }

  private async record(attemptId: number, por: DecodedResponse, sent?: SentSms): Promise<boolean> {
    return this.store.jobs.recordPor(
      attemptId,
      { status: por.status, data: bytesToHex(por.data), secured: por.secured, counter: por.counter },
      sent,
    );
  }

  private async expectationOf(attempt: AttemptRecord): Promise<ExpectedPor | undefined> {
    if (attempt.kvn === undefined || attempt.counter === undefined || !attempt.spi) return undefined;
    const set = await this.store.sims.keySet(attempt.iccid, attempt.kvn).catch(() => undefined);
    if (!set) return undefined;
    return {
      attemptId: attempt.id,
      msisdn: attempt.msisdn ?? '',
      tar: attempt.tar ?? '',
      counter: attempt.counter,
      spi: attempt.spi,
      kicByte: set.kicByte,
      kidByte: set.kidByte,
      keys: { kic: set.kic, kid: set.kid },
    };
  }

  // Parts wait for the rest; a malformed header is not a PoR of ours.
  private reassemble(from: string, userData: Uint8Array): Uint8Array | undefined {
    if (isPor(userData)) return userData;
    try {
      const { elements, body } = decodeUserDataHeader(userData);
      const whole = this.reassembler.add(from, elements, body);
      if (!whole) return undefined;
      return Uint8Array.from([...encodeUserDataHeader(whole.elements), ...whole.body]);
    } catch (error) {
      if (!(error instanceof FormatError)) throw error;
      this.unmatched++;
      return undefined;
    }
  }

  // PoRs recorded by another worker's bind for attempts waiting here: announced where the engine can
  // (PostgreSQL NOTIFY), and polled for in any case, less often when announced.
  private startPolling(): void {
    if (this.poller) return;
    this.startListening();
    const every = (this.options.pollMs ?? 200) * (this.listening ? LISTENING_POLL_FACTOR : 1);
    this.poller = setInterval(() => {
      const old = [...this.byId.values()]
        .filter((w) => Date.now() - w.since >= every)
        .map((w) => w.attemptId);
      for (let at = 0; at < old.length; at += 500) this.settleAnswered(old.slice(at, at + 500));
    }, every);
    this.poller.unref();
  }

  private settleAnswered(ids: readonly number[]): void {
    this.store.jobs.answered(ids).then(
      (answered) => {
        for (const attempt of answered) {
          const waiter = this.byId.get(attempt.id);
          if (waiter) this.settle(waiter, storedPor(attempt));
        }
      },
      () => {},
    );
  }

  private startListening(): void {
    if (this.listening || this.closed) return;
    const listening = this.store.jobs.listenForPors((id) => {
      if (this.byId.has(id)) this.settleAnswered([id]);
    });
    if (!listening) return;
    this.listening = listening.catch(() => undefined); // no listener: the polling alone
  }

  private stopPolling(): void {
    clearInterval(this.poller);
    this.poller = undefined;
  }

  close(): void {
    this.closed = true;
    this.stopPolling();
    void this.listening?.then((stop) => stop?.());
    this.listening = undefined;
    for (const waiter of [...this.byId.values()]) this.settle(waiter, undefined);
  }
}

/** The PoR an attempt recorded, as decoded when it came. */
export function storedPor(attempt: AttemptRecord): DecodedResponse | undefined {
  if (attempt.state !== 'por' || attempt.porStatus === undefined) return undefined;
  return {
    tar: hexToBytes(attempt.tar ?? '000000'),
    counter: attempt.counter ?? 0n,
    status: attempt.porStatus,
    statusText: porStatusText(attempt.porStatus),
    data: hexToBytes(attempt.porData ?? ''),
    secured: attempt.porSecured ?? false,
  };
}

// The attempt whose keys open the PoR and whose counter it echoes; an unsecured error PoR only where
// one attempt is open.
function matchPor(
  userData: Uint8Array,
  candidates: readonly ExpectedPor[],
): { expected: ExpectedPor; por: DecodedResponse } | undefined {
  for (const expected of candidates) {
    let por: DecodedResponse;
    try {
      por = decodeResponsePacket(
        userData,
        { spi: decodeSpi(hexToBytes(expected.spi)), kic: expected.kicByte, kid: expected.kidByte },
        expected.keys,
      );
    } catch (error) {
      if (error instanceof FormatError || error instanceof OtaPacketError) continue;
      throw error;
    }
    if (
      por.secured
        ? por.counter === expected.counter
        : candidates.length === 1 || por.counter === expected.counter
    )
      return { expected, por };
  }
  return undefined;
}
