// The IoT SAFE client (GSMA IoT.05): a typed method per command, objects addressed by ID or
// label, session hygiene (close before open, always close, recover a session a crash left open), and
// parsers that accept every real-applet variant the virtual SIM's personalities reproduce.
import {
  type ApplicationInfo,
  buildCloseChannel,
  buildComputeDh,
  buildComputeHkdf,
  buildComputePrf,
  buildGenerateKeyPair,
  buildGetApplicationInfo,
  buildGetObjectInfo,
  buildGetObjectList,
  buildGetRandom,
  buildOpenChannel,
  buildPutPublicKeyInit,
  buildReadFile,
  buildReadPublicKey,
  buildSelect,
  buildSignInit,
  buildVerifyInit,
  bytesToHex,
  type ClassKind,
  type CommandApdu,
  claForChannel,
  concatBytes,
  DEFAULT_AIDS,
  type DecodeRecovery,
  decodeApplicationInfo,
  decodeKeyPairGenerated,
  decodeObjectList,
  decodePublicKeyData,
  decodeSignatureResponse,
  encodePublicKeyData,
  encodeSignatureInput,
  encodeSignatureTlv,
  FormatError,
  type HashAlgorithm,
  INS,
  type ObjectClass,
  type ObjectDescriptor,
  type ObjectRef,
  SIGNATURE_ALGORITHM,
  type SignMode,
  StatusWordError,
  SW,
  utf8,
} from '@iotsafe/protocol';
import { ApduPump, type PumpResponse } from './apdu-pump.js';
import {
  AppletNotFoundError,
  CardBusyError,
  type GeneratedKeyPair,
  type HkdfInput,
  type IoTSafeOptions,
  type OpenedSignature,
  type PrfInput,
  type SessionNumbers,
  type SignOptions,
  type SignPayload,
} from './iotsafe-types.js';
import { type EarlySession, NumberedSessions } from './numbered-sessions.js';
import { sameInit, signatureInput } from './sign-payload.js';
import type { Transport } from './transport.js';

export * from './iotsafe-types.js';

export class IoTSafe {
  private classKind: ClassKind;
  private readonly autoClass: boolean;
  private readonly sessions: SessionNumbers;
  private ownsChannel = true;
  private readonly numbered: NumberedSessions;
  private readonly recovered: { command: string; note: DecodeRecovery }[] = [];

  private constructor(
    readonly transport: Transport,
    private readonly pump: ApduPump,
    readonly channel: number,
    readonly aid: Uint8Array,
    private readonly options: IoTSafeOptions,
  ) {
    this.autoClass = (options.classes ?? 'auto') === 'auto';
    this.classKind = options.classes === 'interindustry' ? 'interindustry' : 'proprietary';
    this.sessions = { sign: 1, verify: 2, putPublicKey: 3, ...options.sessions };
    this.numbered = new NumberedSessions(
      (build, name) => this.exchange(build, name),
      (name, build, accept) => this.run(name, build, accept),
      options.closeBeforeOpen === true,
      options.updateChunk ?? 255,
      options.sessionEnd ?? 'close',
    );
  }

  /** How sessions end now: 'lastUpdate' falls back to 'close' on a card that keeps them open. */
  get sessionEnding(): 'close' | 'lastUpdate' {
    return this.numbered.ending;
  }

  /** What this client read from the card's answers despite their encoding (each also in the trace). */
  get recoveries(): readonly DecodeRecovery[] {
    return this.recovered.map((r) => r.note);
  }

  /** Decodes descriptors, noting (and tracing) each length the card mis-declared. */
  private decodeObjects(command: string, data: Uint8Array): ObjectDescriptor[] {
    return decodeObjectList(data, (note) => {
      this.recovered.push({ command, note });
      this.options.trace?.(`! recovered in the answer to ${command}: ${note.message}`);
    });
  }

  /** Transport exchanges so far (GET RESPONSEs and retries included). */
  get apduCount(): number {
    return this.pump.exchanges;
  }

  /** Of `apduCount`, the GET RESPONSEs and 6Cxx resends the card asked for (T=0). */
  get followUpCount(): number {
    return this.pump.followUps;
  }

  /**
   * Uses an applet already selected on `channel` (for example by openScp03, whose session is with the
   * applet): no MANAGE CHANNEL, no SELECT, and close() leaves the channel to its owner.
   */
  static attach(
    transport: Transport,
    channel: number,
    aid: Uint8Array,
    options: IoTSafeOptions = {},
  ): IoTSafe {
    const pump = new ApduPump(transport, {
      trace: options.trace,
      getResponseClass: options.getResponseClass,
      maxResponseData: options.maxResponseData,
    });
    const client = new IoTSafe(transport, pump, channel, aid, options);
    client.ownsChannel = false;
    return client;
  }

  /** Opens a channel (or uses the basic one) and selects the applet. */
  static async connect(transport: Transport, options: IoTSafeOptions = {}): Promise<IoTSafe> {
    const pump = new ApduPump(transport, {
      trace: options.trace,
      getResponseClass: options.getResponseClass,
      maxResponseData: options.maxResponseData,
    });
    let channel = 0;
    if (options.logicalChannel ?? true) {
      const opened = await pump.exchange(buildOpenChannel());
      if (opened.sw === SW.OK && opened.data.length === 1) channel = opened.data[0]!;
    }
    const aids = options.aids ?? DEFAULT_AIDS;
    let lastSw: number = SW.NOT_FOUND;
    for (const channelToTry of channel === 0 ? [0] : [channel, 0]) {
      for (const aid of aids) {
        const selected = await pump.exchange(buildSelect(claForChannel(channelToTry), aid));
        if (selected.sw === SW.OK) {
          if (channelToTry !== channel) await closeChannel(pump, channel);
          return new IoTSafe(transport, pump, channelToTry, aid, options);
        }
        lastSw = selected.sw;
        // 6985: the applet is selected on another channel and is not multi-selectable (Kigen).
        if (selected.sw === SW.CONDITIONS_NOT_SATISFIED) break;
      }
    }
    if (channel !== 0) await closeChannel(pump, channel);
    const tried = aids.map((a) => bytesToHex(a)).join(', ');
    throw new AppletNotFoundError(lastSw, `SELECT of the IoT SAFE applet (tried ${tried})`);
  }

  /** Closes the sessions 'lastUpdate' left open, then the logical channel (the transport stays open). */
  async close(): Promise<void> {
    await this.numbered.cancelAllEarly();
    await this.numbered.endDeferred();
    await this.numbered.closeLeftOpen();
    if (this.channel !== 0 && this.ownsChannel) await closeChannel(this.pump, this.channel);
  }

  private cla(): number {
    return claForChannel(this.channel, this.classKind);
  }

  /**
   * Sends a command built for the current CLA; with 'auto', switches to 0N once on 6E00; on 6984 waits
   * and sends it again as busyWait says (the applet refuses it before changing anything).
   */
  private async exchange(build: (cla: number) => CommandApdu, name = 'command'): Promise<PumpResponse> {
    const wait = this.options.busyWait ?? {};
    const started = Date.now();
    let interval = wait === false ? 0 : (wait.intervalMs ?? 100);
    for (;;) {
      const response = await this.exchangeOnce(build);
      if (response.sw !== SW.REFERENCED_DATA_INVALIDATED || wait === false) return response;
      const waited = Date.now() - started;
      if (waited + interval > (wait.timeoutMs ?? 15_000)) throw new CardBusyError(name, waited);
      this.options.trace?.(`! 6984: the applet is being updated; ${name} again in ${interval} ms`);
      await new Promise((resolve) => setTimeout(resolve, interval));
      interval = Math.min(1000, interval * 2);
    }
  }

  private async exchangeOnce(build: (cla: number) => CommandApdu): Promise<PumpResponse> {
    const response = await this.pump.exchange(build(this.cla()));
    if (response.sw !== SW.CLA_NOT_SUPPORTED || !this.autoClass || this.classKind !== 'proprietary')
      return response;
    this.classKind = 'interindustry';
    return this.pump.exchange(build(this.cla()));
  }

  /** Like exchange, and a StatusWordError for any SW outside `accept`. */
  private async run(
    name: string,
    build: (cla: number) => CommandApdu,
    accept: readonly number[] = [SW.OK],
  ): Promise<PumpResponse> {
    const response = await this.exchange(build, name);
    if (!accept.includes(response.sw)) throw new StatusWordError(response.sw, name);
    return response;
  }

  // --- discovery -----------------------------------------------------------------------------------

  async random(length: number): Promise<Uint8Array> {
    if (!Number.isInteger(length) || length < 1 || length > 256)
      throw new RangeError('GET RANDOM gives 1 to 256 bytes');
    const { data } = await this.run('GET RANDOM', (cla) => buildGetRandom(cla, length));
    if (data.length !== length)
      throw new FormatError(`GET RANDOM returned ${data.length} bytes, asked ${length}`);
    return data;
  }

  async applicationInfo(): Promise<ApplicationInfo> {
    const { data } = await this.run('GET DATA (application)', buildGetApplicationInfo);
    return decodeApplicationInfo(data);
  }

  /** Every object, following 6300 paging (GET DATA P1=01, then P2=01). */
  async listObjects(): Promise<ObjectDescriptor[]> {
    const pages: Uint8Array[] = [];
    let next = false;
    for (let page = 0; page < 256; page++) {
      const le = Math.min(256, this.options.maxResponseData ?? 256);
      const response = await this.run(
        'GET DATA (object list)',
        (cla) => ({ ...buildGetObjectList(cla, next), le }),
        [SW.OK, SW.MORE_DATA],
      );
      pages.push(response.data);
      if (response.sw === SW.OK) return this.decodeObjects('GET DATA (object list)', concatBytes(...pages));
      next = true;
    }
    throw new FormatError('object list did not end after 256 pages');
  }

  async objectInfo(objectClass: ObjectClass, ref: ObjectRef): Promise<ObjectDescriptor> {
    const { data } = await this.run(`GET DATA (${objectClass} info)`, (cla) =>
      buildGetObjectInfo(cla, objectClass, ref),
    );
    const [descriptor] = this.decodeObjects(`GET DATA (${objectClass} info)`, data);
    if (!descriptor) throw new FormatError('empty object descriptor');
    return descriptor;
  }

  // --- files ---------------------------------------------------------------------------------------

  /**
   * Reads a whole file: its size from GET DATA C3, then READ FILE chunks advancing by what each answer
   * holds. Without GET DATA C3 (broken applets, wolfSSL IOTSAFE_NO_GETDATA) it reads until the card
   * signals the end and cuts a DER object to its encoded length.
   */
  async readFile(ref: ObjectRef): Promise<Uint8Array> {
    let size: number | undefined;
    const info = await this.exchange((cla) => buildGetObjectInfo(cla, 'file', ref), 'GET DATA (file info)');
    if (info.sw === SW.OK) size = this.decodeObjects('GET DATA (file info)', info.data)[0]?.fileSize;
    else if (info.sw === SW.NOT_FOUND) throw new StatusWordError(info.sw, 'GET DATA (file info)');
    const chunk = Math.min(this.options.readChunk ?? 256, 256);
    const parts: Uint8Array[] = [];
    let offset = 0;
    while (size === undefined || offset < size) {
      if (offset > 0xffff) throw new FormatError('file larger than READ FILE can address');
      const want = size === undefined ? chunk : Math.min(chunk, size - offset);
      const response = await this.exchange((cla) => buildReadFile(cla, ref, offset, want), 'READ FILE');
      if (response.sw !== SW.OK) {
        const endOfFile =
          size === undefined &&
          offset > 0 &&
          [SW.INCORRECT_P1P2, SW.INCOMPATIBLE_FILE_STRUCTURE, 0x6b00].includes(response.sw as 0x6a86);
        if (endOfFile) break;
        throw new StatusWordError(response.sw, 'READ FILE');
      }
      if (response.data.length === 0) break;
      parts.push(response.data);
      offset += response.data.length;
      if (size === undefined && response.data.length < want) break;
    }
    const content = concatBytes(...parts);
    return size === undefined ? trimToDer(content) : content;
  }

  // --- keys ----------------------------------------------------------------------------------------

  async generateKeyPair(ref: ObjectRef): Promise<GeneratedKeyPair> {
    const { data } = await this.run('GENERATE KEY PAIR', (cla) => buildGenerateKeyPair(cla, ref));
    const result = decodeKeyPairGenerated(data);
    return {
      privateKey: result.privateKeyId ? { id: result.privateKeyId } : ref,
      publicKey: result.publicKeyId
        ? { id: result.publicKeyId }
        : 'id' in ref
          ? { id: ref.id }
          : { label: ref.label },
      point: result.publicKey,
    };
  }

  async readPublicKey(ref: ObjectRef): Promise<Uint8Array> {
    const { data } = await this.run('READ PUBLIC KEY', (cla) => buildReadPublicKey(cla, ref));
    return decodePublicKeyData(data);
  }

  async putPublicKey(ref: ObjectRef, point: Uint8Array): Promise<void> {
    const session = this.sessions.putPublicKey;
    await this.numbered.within(
      'PUT PUBLIC KEY',
      INS.PUT_PUBLIC_KEY_INIT,
      session,
      (cla) => buildPutPublicKeyInit(cla, session, ref),
      async () => {
        await this.numbered.sendUpdates(
          'PUT PUBLIC KEY UPDATE',
          INS.PUT_PUBLIC_KEY_UPDATE,
          session,
          encodePublicKeyData(point),
        );
      },
    );
  }

  // --- signatures ------------------------------------------------------------------------------------

  /** Signs inside the SIM; returns raw r ‖ s. */
  async sign(key: ObjectRef, payload: SignPayload, options: SignOptions = {}): Promise<Uint8Array> {
    const hash = options.hash ?? 'sha256';
    const mode = options.mode ?? 'padAndSign';
    const input = signatureInput(mode, hash, payload);
    const session = this.sessions.sign;
    const init = { key, mode, hash, algorithm: SIGNATURE_ALGORITHM.ECDSA };
    // An early INIT with other parameters is not taken: within() closes it and opens this one.
    const early = options.opened && sameInit(options.opened, key, hash, mode) ? options.opened : undefined;
    return this.numbered.within(
      'COMPUTE SIGNATURE',
      INS.COMPUTE_SIGNATURE_INIT,
      session,
      (cla) => buildSignInit(cla, session, init),
      async () => {
        const response = await this.numbered.sendUpdates(
          'COMPUTE SIGNATURE UPDATE',
          INS.COMPUTE_SIGNATURE_UPDATE,
          session,
          encodeSignatureInput(input, this.options.fullTextLength),
        );
        return decodeSignatureResponse(response.data, this.options.curveSize ?? 32);
      },
      options.deferSessionEnd ?? false,
      early && openedSignatures.get(early),
    );
  }

  /**
   * Sends COMPUTE SIGNATURE INIT now, for a sign() given `{ opened }` once the data is known: the INIT
   * is off that caller's critical path (a TLS client waiting for the server's flight). Never rejects; an
   * INIT the card refused is sent again by sign(). Not used: cancelSignature(), or close() closes it.
   */
  openSignature(key: ObjectRef, options: { hash?: HashAlgorithm; mode?: SignMode } = {}): OpenedSignature {
    const hash = options.hash ?? 'sha256';
    const mode = options.mode ?? 'padAndSign';
    const session = this.sessions.sign;
    const init = { key, mode, hash, algorithm: SIGNATURE_ALGORITHM.ECDSA };
    const opened: OpenedSignature = { key, hash, mode };
    const handle = this.numbered.openEarly('COMPUTE SIGNATURE', INS.COMPUTE_SIGNATURE_INIT, session, (cla) =>
      buildSignInit(cla, session, init),
    );
    openedSignatures.set(opened, handle);
    return opened;
  }

  /** INIT close of a signature session opened early and not used (nothing if sign() took it). */
  async cancelSignature(opened: OpenedSignature): Promise<void> {
    const handle = openedSignatures.get(opened);
    if (handle) await this.numbered.cancelEarly(handle);
  }

  /** Verifies inside the SIM: true on 9000, false on 6D01; other status words throw. */
  async verify(
    key: ObjectRef,
    payload: SignPayload,
    signature: Uint8Array,
    options: SignOptions = {},
  ): Promise<boolean> {
    const hash = options.hash ?? 'sha256';
    const mode = options.mode ?? 'padAndSign';
    const input = signatureInput(mode, hash, payload);
    const session = this.sessions.verify;
    const init = { key, mode, hash, algorithm: SIGNATURE_ALGORITHM.ECDSA };
    return this.numbered.within(
      'VERIFY SIGNATURE',
      INS.VERIFY_SIGNATURE_INIT,
      session,
      (cla) => buildVerifyInit(cla, session, init),
      async () => {
        const data = concatBytes(
          encodeSignatureInput(input, this.options.fullTextLength),
          encodeSignatureTlv(signature, 2),
        );
        const response = await this.numbered.sendUpdates(
          'VERIFY SIGNATURE UPDATE',
          INS.VERIFY_SIGNATURE_UPDATE,
          session,
          data,
          [SW.OK, SW.SIGNATURE_MISMATCH],
        );
        return response.sw === SW.OK;
      },
    );
  }

  // --- key agreement and derivation ---------------------------------------------------------------

  /** ECDH inside the SIM; returns the shared secret (x-coordinate). */
  async computeDH(privateKey: ObjectRef, publicKey: ObjectRef): Promise<Uint8Array> {
    const { data } = await this.run('COMPUTE DH', (cla) => buildComputeDh(cla, { privateKey, publicKey }));
    return data;
  }

  /** TLS 1.2 PRF inside the SIM (modes 00 general, 01 PSK, 02 ECDHE-PSK). */
  async prf(input: PrfInput): Promise<Uint8Array> {
    const labelAndSeed = concatBytes(
      typeof input.label === 'string' ? utf8(input.label) : input.label,
      input.seed,
    );
    const request =
      input.mode === 'general'
        ? { mode: input.mode, secret: input.secret, labelAndSeed, length: input.length }
        : input.mode === 'psk'
          ? { mode: input.mode, secretRef: input.secret, labelAndSeed, length: input.length }
          : {
              mode: input.mode,
              secretRef: input.secret,
              otherSecret: input.otherSecret,
              labelAndSeed,
              length: input.length,
            };
    const { data } = await this.run('COMPUTE PRF', (cla) => buildComputePrf(cla, request));
    if (data.length !== input.length)
      throw new FormatError(`COMPUTE PRF returned ${data.length} bytes, asked ${input.length}`);
    return data;
  }

  /** HKDF-Extract inside the SIM, with the IKM given or taken from a secret container. */
  async hkdfExtract(input: HkdfInput): Promise<Uint8Array> {
    const hash = input.hash ?? 'sha256';
    const request =
      'ikm' in input
        ? { mode: 'ikm' as const, ikm: input.ikm, salt: input.salt, hash }
        : { mode: 'secret' as const, secretRef: input.secret, salt: input.salt, hash };
    const { data } = await this.run('COMPUTE HKDF', (cla) => buildComputeHkdf(cla, request));
    return data;
  }

  // --- sessions ------------------------------------------------------------------------------------

  /** The INIT closes deferred by deferSessionEnd (best effort, as every close after success is). */
  async endDeferredSessions(): Promise<void> {
    await this.numbered.endDeferred();
  }
}

/** The numbered session behind each OpenedSignature. */
const openedSignatures = new WeakMap<OpenedSignature, EarlySession>();

async function closeChannel(pump: ApduPump, channel: number): Promise<void> {
  await pump.exchange(buildCloseChannel(channel)).catch(() => undefined);
}

/** Cuts trailing padding after a DER object (files read without a known size). */
function trimToDer(content: Uint8Array): Uint8Array {
  if (content[0] !== 0x30 || content.length < 2) return content;
  const first = content[1]!;
  const lengthBytes = first < 0x80 ? 0 : first & 0x7f;
  if (lengthBytes > 3 || content.length < 2 + lengthBytes) return content;
  let length = first < 0x80 ? first : 0;
  for (let i = 0; i < lengthBytes; i++) length = length * 256 + content[2 + i]!;
  const total = 2 + lengthBytes + length;
  return total <= content.length ? content.subarray(0, total) : content;
}
