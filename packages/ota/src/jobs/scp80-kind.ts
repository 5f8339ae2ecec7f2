// The SCP80 job kind: each step is a secured script (TS 102 225 command packet, TS 102 226 RFM/RAM)
// sent by SMS, and its PoR. One step = one counter = one packet: the counter is taken and the attempt
// recorded in one transaction before any SMS leaves. A retry after a card error builds a new packet
// with a new counter (the card answered, so running it again is what the retry is for). A retry after
// no PoR resends the same packet with the same counter: a card that had it refuses the copy by its
// counter check (TS 102 225 §5.1.1, SPI b5b4 10/11; status 02 CNTR low), one that never had it runs
// it, so a script reaches a SIM at most once per step. Where the SPI asks for no counter check a
// resend could run twice, so there is none. A worker that takes over an item whose attempt was out
// when its worker died does not send again: it waits for that attempt's PoR (which any worker's bind
// may receive) and only then decides.
import {
  bytesToHex,
  commandPacketUserData,
  type DecodedResponse,
  decodeSpi,
  encodeCommandPacket,
  FormatError,
  hexToBytes,
  OtaPacketError,
  OtaUnsupportedError,
  POR_STATUS,
} from '@iotsafe/protocol';
import type { PorRouter } from '../por-router.js';
import { storedPor } from '../por-router.js';
import type { SmsLink } from '../smpp-link.js';
import { SmppError } from '../smpp-pdu.js';
import { StorageError } from '../storage/engine.js';
import { type AttemptRecord, JobStoppedError } from '../storage/job-records.js';
import type { OtaKeySet, SimRecord } from '../storage/sim-store.js';
import type { OtaStore } from '../storage/store.js';
import type { JobKind, PlannedSim, RetryPolicy, StepContext, StepResult } from './kind.js';
import { parseScp80Spec, type Scp80Spec, type Scp80Step } from './scp80-spec.js';

export { parseScp80Spec, type Scp80Spec, type Scp80Step } from './scp80-spec.js';

/** The most SMS one script may take unless configured (a 2 KB certificate with its RAM commands). */
export const DEFAULT_MAX_SMS_PER_SCRIPT = 16;

export interface Scp80KindOptions {
  sms: SmsLink;
  router: PorRouter;
  porTimeoutMs?: number;
  maxSmsPerScript?: number;
}

interface Prepared {
  sim: { iccid: string; msisdn: string };
  keySet: OtaKeySet;
  spi: string;
  header: { spi: Uint8Array; kic: number; kid: number; tar: Uint8Array; data: Uint8Array };
  sms: number;
}

/** SIMs checked per round of check(). */
const CHECK_CHUNK = 2000;

/** A script that needs more SMS than allowed: refused before any counter is spent. */
export class OtaLimitError extends Error {
  override name = 'OtaLimitError';
  constructor(
    message: string,
    readonly smsNeeded: number,
    readonly limit: number,
  ) {
    super(message);
  }
}

export class Scp80Kind implements JobKind {
  readonly name = 'scp80';

  private readonly smsCounts = new Map<string, number>();

  constructor(private readonly options: Scp80KindOptions) {}

  parse(spec: unknown): Scp80Spec {
    return parseScp80Spec(spec);
  }

  steps(spec: unknown): number {
    return (spec as Scp80Spec).steps.length;
  }

  retry(spec: unknown): RetryPolicy | undefined {
    return (spec as Scp80Spec).retry;
  }

  private get maxSms(): number {
    return this.options.maxSmsPerScript ?? DEFAULT_MAX_SMS_PER_SCRIPT;
  }

  /** The SIM, its key set and the packet's shape; the SMS count depends on the length only. */
  async prepare(store: OtaStore, iccid: string, step: Scp80Step): Promise<Prepared> {
    const sender = await store.sims.sender(iccid, step.kvn ?? 1);
    return this.shape(sender, sender.keySet, step);
  }

  /**
   * What a job's creation checks for each SIM named (ICCID or MSISDN), read a few hundred SIMs per
   * statement: that it exists, has a number, the key set of every step, and that every script fits
   * (the first failure, in the order given, is thrown: a StorageError, an OtaLimitError). The ICCIDs.
   */
  async check(store: OtaStore, names: readonly string[], steps: readonly Scp80Step[]): Promise<string[]> {
    const kvns = steps.map((step) => step.kvn ?? 1);
    const iccids: string[] = [];
    // a chunk at a time: the keys of a 200,000-SIM selection are never all in memory at once
    for (let at = 0; at < names.length; at += CHECK_CHUNK) {
      const chunk = names.slice(at, at + CHECK_CHUNK);
      const senders = await store.sims.senders(chunk, kvns);
      senders.forEach((sender, i) => {
        if (!sender) throw new StorageError(`no SIM ${chunk[i]}`, 'unknown_sim');
        for (const step of steps) this.shape(sender, sender.keySets.get(step.kvn ?? 1), step);
        iccids.push(sender.iccid);
      });
    }
    return iccids;
  }

  // The checks in the order a SIM fails them: its number, the step's key set, the script's SMS count.
  private shape(
    sim: { iccid: string; msisdn?: string },
    keySet: OtaKeySet | undefined,
    step: Scp80Step,
  ): Prepared {
    if (!sim.msisdn) throw new StorageError(`SIM ${sim.iccid} has no MSISDN to send SMS to`, 'unknown_sim');
    if (!keySet)
      throw new StorageError(`SIM ${sim.iccid} has no key set ${step.kvn ?? 1}`, 'unknown_key_set');
    const spi = step.spi ?? '1619';
    const header = {
      spi: hexToBytes(spi),
      kic: keySet.kicByte,
      kid: keySet.kidByte,
      tar: hexToBytes(step.tar),
      data: hexToBytes(step.script),
    };
    const sms = this.smsCount(header, keySet);
    if (sms > this.maxSms)
      throw new OtaLimitError(
        `the script needs ${sms} SMS; the limit is ${this.maxSms} per script`,
        sms,
        this.maxSms,
      );
    return { sim: { iccid: sim.iccid, msisdn: sim.msisdn }, keySet, spi, header, sms };
  }

  // The SMS a packet takes depends on its length only: on the SPI, the algorithms and key lengths
  // (padding, checksum) and the script, not on the keys' values or the counter. Built once per shape.
  private smsCount(header: Prepared['header'], keySet: OtaKeySet): number {
    const shape = `${bytesToHex(header.spi)}/${header.kic}/${header.kid}/${keySet.kic.length}/${keySet.kid.length}/${bytesToHex(header.tar)}/${bytesToHex(header.data)}`;
    let count = this.smsCounts.get(shape);
    if (count === undefined) {
      const keys = { kic: keySet.kic, kid: keySet.kid };
      count = commandPacketUserData(encodeCommandPacket({ ...header, counter: 0n }, keys)).length;
      if (this.smsCounts.size >= 256) this.smsCounts.clear();
      this.smsCounts.set(shape, count);
    }
    return count;
  }

  async plan(spec: unknown, sim: SimRecord, store: OtaStore): Promise<PlannedSim> {
    const steps = [];
    for (const step of (spec as Scp80Spec).steps) {
      try {
        const prepared = await this.prepare(store, sim.iccid, step);
        steps.push({
          description: `TAR ${step.tar}, SPI ${prepared.spi}, KVN ${prepared.keySet.kvn}: ${step.script.length / 2}-byte script`,
          sms: prepared.sms,
        });
      } catch (error) {
        return { iccid: sim.iccid, steps, refused: refusal(error)?.detail ?? String(error) };
      }
    }
    return { iccid: sim.iccid, steps };
  }

  async runStep(context: StepContext): Promise<StepResult> {
    const spec = context.spec as Scp80Spec;
    return this.runScript(context, spec.steps[context.item.step]!, spec.porTimeoutMs);
  }

  /**
   * One attempt of `step` for the context's item (or the resumption of its open one): what runStep
   * does, for a kind that builds its scripts itself (a rotation builds each from the step before).
   */
  async runScript(context: StepContext, step: Scp80Step, porTimeoutMs?: number): Promise<StepResult> {
    const timeoutMs = porTimeoutMs ?? this.options.porTimeoutMs ?? 10_000;
    let prepared: Prepared;
    try {
      prepared = await this.prepare(context.store, context.item.iccid, step);
    } catch (error) {
      const refused = refusal(error);
      if (refused) return refused;
      throw error;
    }
    const last = context.lastAttempt;
    if (last?.state === 'sending') return this.resume(context, prepared, last, timeoutMs);
    if (last) return resultFromLedger(last);
    await this.options.sms.ready?.(); // the counter is taken when the SMS can leave, not long before
    const { sim, keySet, header } = prepared;
    const keys = { kic: keySet.kic, kid: keySet.kid };
    const unanswered = await this.unansweredAttempt(context, prepared);
    if (typeof unanswered === 'string')
      return { outcome: 'failed', code: 'unconfirmed', detail: `no PoR came, and ${unanswered}` };
    let counter: bigint;
    let attemptId: number;
    try {
      [counter, attemptId] = await context.store.engine.transaction(async (tx) => {
        const taken = unanswered ?? (await context.store.sims.takeCounter(tx, sim.iccid, keySet.kvn));
        const id = await context.store.jobs.insertAttempt(tx, {
          item: context.item,
          worker: context.worker,
          transport: 'sms',
          msisdn: sim.msisdn,
          tar: step.tar,
          spi: prepared.spi,
          kvn: keySet.kvn,
          counter: taken,
          smsCount: prepared.sms,
          deadline: Date.now() + timeoutMs,
        });
        return [taken, id] as const;
      });
    } catch (error) {
      // the job stopped since this item was claimed: checked in the transaction that takes the counter
      if (error instanceof JobStoppedError) return { outcome: 'skipped', detail: error.message };
      const refused = refusal(error);
      if (refused) return refused;
      throw error;
    }
    const packet = encodeCommandPacket({ ...header, counter }, keys);
    const wantsPor = decodeSpi(header.spi).por !== 'none';
    const waiting = wantsPor
      ? this.options.router.expect({
          attemptId,
          msisdn: sim.msisdn,
          tar: step.tar,
          counter,
          spi: prepared.spi,
          kicByte: keySet.kicByte,
          kidByte: keySet.kidByte,
          keys,
        })
      : undefined;
    const messageIds: string[] = [];
    let unsure: SmppError | undefined;
    try {
      for (const userData of commandPacketUserData(packet, Number(counter & 0xffn)))
        messageIds.push(await this.options.sms.submit(sim.msisdn, userData));
    } catch (error) {
      if (!(error instanceof SmppError)) throw error;
      if (!error.mayHaveReached) {
        waiting?.cancel();
        await context.store.jobs.closeAttempt(attemptId, 'smsc_error', { error: error.message });
        return { outcome: 'smsc_error', detail: error.message };
      }
      unsure = error; // it may be out: wait for its PoR like any other
    }
    const sent = { attemptId, sentAt: Date.now(), messageIds };
    waiting?.sent(sent);
    if (!waiting) {
      await context.store.jobs.closeAttempt(attemptId, 'sent', sent);
      return {
        outcome: 'ok',
        detail: 'sent; the SPI asks for no PoR',
        data: { counter: counter.toString() },
        sent,
      };
    }
    const por = await within(waiting.por, timeoutMs, waiting.cancel);
    if (por && unanswered !== undefined && por.status === POR_STATUS.counterLow)
      return {
        outcome: 'failed',
        code: 'unconfirmed',
        detail: `the card refused the resend by its counter check (CNTR low): it had counter ${counter} already, so the script ran at most once; its PoR was lost`,
        sent,
      };
    if (por) return { ...classify(por, counter), ...(waiting.sentRecorded ? {} : { sent }) };
    const closed = await context.store.jobs.closeAttempt(attemptId, 'no_por', {
      ...sent,
      ...(unsure ? { error: unsure.message } : {}),
    });
    const late = storedPor(closed);
    if (late) return { ...classify(late, counter), sent };
    return {
      outcome: 'no_por',
      detail: `no PoR within ${timeoutMs} ms`,
      data: { counter: counter.toString() },
      sent,
    };
  }

  /**
   * The counter of this step's last attempt when it got no PoR (so this retry resends that packet),
   * why a resend is not safe (the script might run twice), undefined when a new counter is due.
   */
  private async unansweredAttempt(
    context: StepContext,
    prepared: Prepared,
  ): Promise<bigint | string | undefined> {
    if (context.item.attempt === 0) return undefined; // the step's first attempt: none came before it
    const previous = await context.store.jobs.lastAttemptOf(context.item);
    if (previous?.state !== 'no_por' || previous.counter === undefined) return undefined;
    const checked = decodeSpi(hexToBytes(prepared.spi)).counter;
    if (checked !== 'higher' && checked !== 'next')
      return 'the SPI asks for no counter check: a resend could run the script twice';
    if (previous.kvn !== prepared.keySet.kvn)
      return `the key set changed since (KVN ${previous.kvn} to ${prepared.keySet.kvn}): a new packet could run the script twice`;
    return previous.counter;
  }

  // The attempt was out when its worker died: its PoR may still come (to any worker); never resend.
  private async resume(
    context: StepContext,
    prepared: Prepared,
    attempt: AttemptRecord,
    timeoutMs: number,
  ): Promise<StepResult> {
    const counter = attempt.counter ?? 0n;
    const waiting = this.options.router.expect({
      attemptId: attempt.id,
      msisdn: attempt.msisdn ?? prepared.sim.msisdn,
      tar: attempt.tar ?? '',
      counter,
      spi: attempt.spi ?? prepared.spi,
      kicByte: prepared.keySet.kicByte,
      kidByte: prepared.keySet.kidByte,
      keys: { kic: prepared.keySet.kic, kid: prepared.keySet.kid },
    });
    const already = storedPor(await context.store.jobs.attempt(attempt.id));
    if (already) {
      waiting.cancel();
      return classify(already, counter);
    }
    const wait = Math.max((attempt.deadline ?? 0) - Date.now(), timeoutMs);
    const por = await within(waiting.por, wait, waiting.cancel);
    if (por) return classify(por, counter);
    const closed = await context.store.jobs.closeAttempt(attempt.id, 'no_por', {
      error: 'its worker stopped; no PoR came',
    });
    const late = storedPor(closed);
    if (late) return classify(late, counter);
    return {
      outcome: 'no_por',
      detail: `no PoR within ${wait} ms (attempt taken over)`,
      data: { counter: counter.toString() },
    };
  }
}

// What an attempt that ended came to, as its worker would have reported it.
function resultFromLedger(attempt: AttemptRecord): StepResult {
  const counter = attempt.counter ?? 0n;
  const por = storedPor(attempt);
  if (por) return classify(por, counter);
  const data = { counter: counter.toString() };
  if (attempt.state === 'sent') return { outcome: 'ok', detail: 'sent; the SPI asks for no PoR', data };
  if (attempt.state === 'smsc_error')
    return { outcome: 'smsc_error', detail: attempt.error ?? 'refused by the SMSC', data };
  return { outcome: 'no_por', detail: attempt.error ?? 'no PoR', data };
}

function classify(por: DecodedResponse, counter: bigint): StepResult {
  const data = {
    counter: counter.toString(),
    status: por.status,
    statusText: por.statusText,
    data: bytesToHex(por.data),
    secured: por.secured,
  };
  if (por.status === 0) return { outcome: 'ok', detail: por.statusText, data };
  return {
    outcome: 'card_error',
    detail: `PoR ${por.status.toString(16).padStart(2, '0')} ${por.statusText}`,
    data,
  };
}

// A failure no retry can mend, as a step result; undefined for anything else.
function refusal(error: unknown): Extract<StepResult, { outcome: 'failed' }> | undefined {
  if (error instanceof StorageError && error.code !== 'invalid')
    return { outcome: 'failed', detail: error.message, code: error.code };
  if (error instanceof StorageError)
    return { outcome: 'failed', detail: error.message, code: 'invalid_request' };
  if (error instanceof OtaLimitError)
    return { outcome: 'failed', detail: error.message, code: 'too_many_sms' };
  if (error instanceof FormatError || error instanceof OtaPacketError || error instanceof OtaUnsupportedError)
    return { outcome: 'failed', detail: error.message, code: 'invalid_request' };
  return undefined;
}

function within<T>(promise: Promise<T | undefined>, ms: number, cancel: () => void): Promise<T | undefined> {
  const timer = setTimeout(cancel, ms);
  return promise.finally(() => clearTimeout(timer));
}
