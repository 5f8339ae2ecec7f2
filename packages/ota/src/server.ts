// The OTA server: sends a script to a SIM as SCP80-secured SMS and waits for its PoR. Each attempt
// takes a fresh counter from the key store (committed first), so a retry after a timeout never reuses
// one; a PoR is matched by the SIM's MSISDN, the TAR and the counter it echoes.
import {
  bytesToHex,
  commandPacketUserData,
  type DecodedResponse,
  decodeResponsePacket,
  decodeSpi,
  encodeCommandPacket,
  FormatError,
  hexToBytes,
  OtaPacketError,
} from '@iotsafe/protocol';
import type { OtaKeyStore, SimRecord } from './key-store.js';
import type { SmsLink } from './smpp-link.js';

export interface OtaScript {
  /** ICCID or MSISDN of the SIM. */
  sim: string;
  /** TAR, 6 hex digits: 000000 RAM to the ISD, B00000 RFM. */
  tar: string;
  /** Secured data: compact C-APDUs or an expanded script. */
  script: Uint8Array;
  /** SPI, 4 hex digits (default 1619: cipher, CC, counter higher, PoR required, ciphered + CC). */
  spi?: string;
  kvn?: number;
}

export interface OtaResult {
  /** The PoR, or undefined when the SPI asked for none. */
  por?: DecodedResponse;
  counter: bigint;
  attempts: number;
}

/** No PoR came back after every attempt. */
export class OtaTimeoutError extends Error {
  override name = 'OtaTimeoutError';
}

/** A script the server will not send: it needs more SMS than the limit allows. Nothing was sent. */
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

/** The most SMS one script may take unless configured (a 2 KB certificate with its RAM commands). */
export const DEFAULT_MAX_SMS_PER_SCRIPT = 16;

export interface OtaServerOptions {
  /** How long to wait for a PoR per attempt (default 10 s). */
  timeoutMs?: number;
  /** Attempts in all, each with a new counter (default 2). */
  attempts?: number;
  /** The most SMS (concatenated parts) one script may take (default 16; at most 255). */
  maxSmsPerScript?: number;
}

interface Waiting {
  msisdn: string;
  tar: string;
  counter: bigint;
  open: (userData: Uint8Array) => DecodedResponse;
  resolve: (por: DecodedResponse) => void;
}

export class OtaServer {
  private readonly waiting = new Set<Waiting>();
  /** PoRs that matched nothing or did not verify (diagnostics). */
  unmatched = 0;

  constructor(
    private readonly store: OtaKeyStore,
    private readonly link: SmsLink,
    private readonly options: OtaServerOptions = {},
  ) {
    link.onMessage((from, userData) => this.received(from, userData));
  }

  /** The SIM a request names (by ICCID or MSISDN); a KeyStoreError when none. */
  sim(iccidOrMsisdn: string): SimRecord {
    return this.store.sim(iccidOrMsisdn.replace(/^\+/, ''));
  }

  async send(request: OtaScript): Promise<OtaResult> {
    const { iccid, msisdn } = this.sim(request.sim);
    const kvn = request.kvn ?? 1;
    const keySet = this.store.keySet(iccid, kvn);
    const spiBytes = hexToBytes(request.spi ?? '1619');
    const spi = decodeSpi(spiBytes);
    const keys = { kic: keySet.kic, kid: keySet.kid };
    const security = { spi, kic: keySet.kicByte, kid: keySet.kidByte };
    const tar = hexToBytes(request.tar);
    const attempts = this.options.attempts ?? 2;
    // the SMS count depends on the packet's length only: measured before a counter is spent
    const header = { spi: spiBytes, kic: keySet.kicByte, kid: keySet.kidByte, tar, data: request.script };
    const needed = commandPacketUserData(encodeCommandPacket({ ...header, counter: 0n }, keys)).length;
    const limit = this.options.maxSmsPerScript ?? DEFAULT_MAX_SMS_PER_SCRIPT;
    if (needed > limit)
      throw new OtaLimitError(
        `the script needs ${needed} SMS; the limit is ${limit} per script`,
        needed,
        limit,
      );
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const counter = this.store.nextCounter(iccid, kvn); // durable before anything is sent
      const packet = encodeCommandPacket({ ...header, counter }, keys);
      const waiting =
        spi.por === 'none'
          ? undefined
          : this.expect(msisdn, bytesToHex(tar), counter, (ud) => decodeResponsePacket(ud, security, keys));
      for (const [n, userData] of commandPacketUserData(packet, Number(counter & 0xffn)).entries())
        await this.link.submit(msisdn, userData).catch((error) => {
          throw new Error(`SMS ${n + 1} to ${msisdn}: ${(error as Error).message}`);
        });
      if (!waiting) return { counter, attempts: attempt };
      const por = await waiting;
      if (por) return { por, counter, attempts: attempt };
    }
    throw new OtaTimeoutError(`no PoR from ${msisdn} (TAR ${request.tar}) after ${attempts} attempts`);
  }

  private expect(
    msisdn: string,
    tar: string,
    counter: bigint,
    open: Waiting['open'],
  ): Promise<DecodedResponse | undefined> {
    return new Promise((resolve) => {
      const entry: Waiting = {
        msisdn,
        tar,
        counter,
        open,
        resolve: (por) => {
          clearTimeout(timer);
          this.waiting.delete(entry);
          resolve(por);
        },
      };
      const timer = setTimeout(() => {
        this.waiting.delete(entry);
        resolve(undefined);
      }, this.options.timeoutMs ?? 10_000);
      this.waiting.add(entry);
    });
  }

  // A PoR (02 71 00 …) names its TAR in clear; error PoRs may echo a zero counter, so they match by TAR.
  private received(from: string, userData: Uint8Array): void {
    if (userData[0] !== 0x02 || userData[1] !== 0x71 || userData.length < 9) return;
    const tar = bytesToHex(userData.subarray(6, 9));
    for (const entry of this.waiting) {
      if (entry.msisdn !== from || entry.tar !== tar) continue;
      try {
        const por = entry.open(userData);
        if (por.secured && por.counter !== entry.counter) continue; // a late PoR of an earlier attempt
        entry.resolve(por);
        return;
      } catch (error) {
        if (!(error instanceof FormatError || error instanceof OtaPacketError)) throw error;
      }
    }
    this.unmatched++;
  }
}
