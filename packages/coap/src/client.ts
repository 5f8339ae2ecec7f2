// A CoAP client (RFC 7252) over one DatagramTransport: requests and responses matched by token,
// piggybacked and separate responses, block-wise bodies (RFC 7959), observe (RFC 7641), ping.
import { randomFillSync } from 'node:crypto';
import { MAX_SZX, sizeExponent } from './block.js';
import { type Exchange, fetchBlock2, type RequestParts, sendBlock1 } from './blockwise.js';
import { Method, type MethodName, methodCode } from './codes.js';
import { parseContentFormat } from './content-format.js';
import {
  CoapAbortError,
  CoapError,
  CoapFormatError,
  CoapResetError,
  CoapsTransportRequiredError,
  CoapTimeoutError,
  CoapUriError,
} from './errors.js';
import { type CoapMessage, MessageType } from './message.js';
import { MessageLayer } from './message-layer.js';
import { Observation } from './observation.js';
import { type CoapOption, firstUnrecognizedCritical, OptionNumber, uintOption } from './options.js';
import { CoapResponse } from './response.js';
import { Slots } from './slots.js';
import type { TraceEvent } from './trace.js';
import { derivedTimes, type TransmissionParameters, transmissionParameters } from './transmission.js';
import { type DatagramPeer, type DatagramTransport, UdpTransport } from './transport.js';
import { parseCoapUri, resourceOptions } from './uri.js';

export interface CoapClientOptions {
  /** RFC 7252 §4.8 parameters; every one can be changed (e.g. a shorter ACK_TIMEOUT on a LAN). */
  transmission?: Partial<TransmissionParameters>;
  /**
   * Block size for Block1 uploads and Block2 requests: 16 … 1024. Default 1,024, or the largest that
   * leaves 128 bytes of headroom in the transport's `maxDatagramSize` (a DTLS PMTU).
   */
  blockSize?: number;
  /** Token length in bytes, 1 to 8 (default 8: RFC 7252 §5.3.1 asks for randomness). */
  tokenLength?: number;
  /** How long to wait for a separate or NON response, in ms (default MAX_TRANSMIT_WAIT). */
  responseTimeout?: number;
  /** The largest representation a block-wise download may reach (default 16 MiB). */
  maxBodySize?: number;
  /** Every datagram in and out, every retransmission and discard (for --trace). */
  trace?: (event: TraceEvent) => void;
  /** Jitter source in [0, 1), for reproducible tests. */
  random?: () => number;
}

export interface ConnectOptions extends CoapClientOptions {
  /** Opens the DTLS association for coaps:// URIs (e.g. the DTLS 1.2 client of @iotsafe/tls). */
  secureTransport?: (peer: DatagramPeer) => Promise<DatagramTransport>;
  /** Use this transport instead of opening one (any scheme). */
  transport?: DatagramTransport;
}

export interface RequestOptions {
  method?: MethodName | number;
  payload?: Uint8Array | string;
  /** A number, a media type or a short name: 50, "application/json", "json". */
  contentFormat?: number | string;
  accept?: number | string;
  /** More options (ETag, If-Match, …), added to those of the URI. */
  options?: CoapOption[];
  /** CON (default) or NON. */
  confirmable?: boolean;
  /** Block size for this request; given explicitly, it is also asked for in Block2 (RFC 7959 §2.4). */
  blockSize?: number;
  signal?: AbortSignal;
}

interface TokenRoute {
  /** A response message with this token; false rejects it (RST). */
  deliver(message: CoapMessage): boolean;
}

const tokenKey = (token: Uint8Array) =>
  Buffer.from(token.buffer, token.byteOffset, token.length).toString('hex');
const textEncoder = new TextEncoder();

export class CoapClient {
  private readonly transmission: Readonly<TransmissionParameters>;
  private readonly layer: MessageLayer;
  private readonly routes = new Map<string, TokenRoute>();
  private readonly slots: Slots;
  private readonly tokenLength: number;
  private readonly responseTimeout: number;
  private readonly szx: number;
  private readonly maxBodySize: number;
  private randomPool = new Uint8Array(0);
  private closed = false;
  /** How to end each exchange still waiting, and each observation, when the client closes. */
  private readonly pending = new Set<(error: Error) => void>();
  private readonly observations = new Set<Observation>();

  constructor(
    readonly transport: DatagramTransport,
    private readonly settings: CoapClientOptions = {},
    /** Whether close() also closes the transport. */
    private readonly ownsTransport = false,
  ) {
    this.transmission = transmissionParameters(settings.transmission);
    this.tokenLength = settings.tokenLength ?? 8;
    if (!Number.isInteger(this.tokenLength) || this.tokenLength < 1 || this.tokenLength > 8)
      throw new RangeError('tokenLength must be 1 to 8');
    this.responseTimeout = settings.responseTimeout ?? derivedTimes(this.transmission).maxTransmitWait;
    this.szx =
      settings.blockSize === undefined
        ? defaultSzx(transport.maxDatagramSize)
        : sizeExponent(settings.blockSize);
    this.slots = new Slots(this.transmission.nstart);
    this.maxBodySize = settings.maxBodySize ?? 16 * 1024 * 1024;
    this.layer = new MessageLayer(transport, {
      transmission: this.transmission,
      onMessage: (message) => this.route(message),
      ...(settings.trace ? { trace: settings.trace } : {}),
      ...(settings.random ? { random: settings.random } : {}),
    });
  }

  /**
   * Opens a client for a coap:// or coaps:// URI (its path is ignored: requests name theirs).
   * coaps:// needs `secureTransport`; without it, a CoapsTransportRequiredError.
   */
  static async connect(uri: string, options: ConnectOptions = {}): Promise<CoapClient> {
    const target = parseCoapUri(uri);
    if (options.transport) return new CoapClient(options.transport, options, false);
    if (target.secure && !options.secureTransport)
      throw new CoapsTransportRequiredError(
        `${uri}: coaps:// needs a DTLS transport (pass secureTransport, e.g. the DTLS client of @iotsafe/tls)`,
      );
    const peer = { host: target.host, port: target.port };
    const transport = target.secure ? await options.secureTransport!(peer) : await UdpTransport.connect(peer);
    return new CoapClient(transport, options, true);
  }

  get parameters(): Readonly<TransmissionParameters> {
    return this.transmission;
  }

  private newToken(): Uint8Array {
    for (;;) {
      if (this.randomPool.length < this.tokenLength) this.randomPool = randomFillSync(new Uint8Array(1024));
      const token = this.randomPool.subarray(0, this.tokenLength);
      this.randomPool = this.randomPool.subarray(this.tokenLength);
      if (!this.routes.has(tokenKey(token))) return token;
    }
  }

  /** A response message from the peer (CON or NON): to whom its token belongs, or a RST. */
  private route(message: CoapMessage): 'accept' | 'reject' {
    if (message.code >> 5 < 2) return 'reject'; // a request: this endpoint serves nothing
    const route = this.routes.get(tokenKey(message.token));
    if (!route) return 'reject'; // RFC 7252 §5.3.2, RFC 7641 §3.6
    return route.deliver(message) ? 'accept' : 'reject';
  }

  /**
   * One request message, one response message (RFC 7252 §5.2): piggybacked in the ACK, or separate
   * after an Empty ACK, or for NON any response with the token. `keep` leaves the token routed to
   * `onLater` afterwards (observe).
   */
  private async exchange(
    request: RequestParts,
    options: { confirmable: boolean; signal?: AbortSignal; token?: Uint8Array },
    keep?: (message: CoapMessage) => boolean,
  ): Promise<CoapMessage> {
    if (this.closed) throw new CoapAbortError('the CoAP client is closed');
    if (options.signal?.aborted)
      throw new CoapAbortError('request aborted', { cause: options.signal.reason });
    await this.slots.acquire(options.signal);
    if (this.closed) {
      this.slots.release();
      throw new CoapAbortError('the CoAP client is closed');
    }
    const token = options.token ?? this.newToken();
    const key = tokenKey(token);
    let settle!: { resolve: (m: CoapMessage) => void; reject: (e: Error) => void };
    const result = new Promise<CoapMessage>((resolve, reject) => {
      settle = { resolve, reject };
    });
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let stopSending = () => {};
    const finish = (outcome: CoapMessage | Error) => {
      if (done) return;
      done = true;
      this.pending.delete(finish);
      if (timer) clearTimeout(timer);
      stopSending();
      options.signal?.removeEventListener('abort', onAbort);
      if (keep && !(outcome instanceof Error)) this.routes.set(key, { deliver: keep });
      else this.routes.delete(key);
      this.slots.release();
      if (outcome instanceof Error) settle.reject(outcome);
      else settle.resolve(outcome);
    };
    this.pending.add(finish);
    const onAbort = () => finish(new CoapAbortError('request aborted', { cause: options.signal?.reason }));
    options.signal?.addEventListener('abort', onAbort);
    const waitForResponse = () => {
      timer = setTimeout(
        () => finish(new CoapTimeoutError(`no response within ${this.responseTimeout} ms`)),
        this.responseTimeout,
      );
    };
    const accept = (message: CoapMessage): boolean => {
      const critical = firstUnrecognizedCritical(message.options);
      if (critical !== undefined) {
        // RFC 7252 §5.4.1: a response with an unrecognised critical option is rejected.
        finish(new CoapFormatError(`response with unrecognised critical option ${critical}`));
        return false;
      }
      finish(message);
      return true;
    };
    this.routes.set(key, { deliver: accept });
    const message = { code: request.code, token, options: request.options, payload: request.payload };
    if (options.confirmable) {
      const sent = this.layer.confirmable(message);
      stopSending = sent.stop;
      sent.reply.then(
        (reply) => {
          if (done) return;
          if (reply.type === MessageType.RST) finish(new CoapResetError('the server answered with a Reset'));
          else if (reply.code === 0)
            waitForResponse(); // Empty ACK: a separate response follows
          else if (tokenKey(reply.token) !== key)
            finish(new CoapFormatError('piggybacked response with another token'));
          else accept(reply);
        },
        (error: Error) => finish(error),
      );
    } else {
      const sent = this.layer.nonConfirmable(message, () =>
        finish(new CoapResetError('the server answered with a Reset')),
      );
      stopSending = sent.forget;
      waitForResponse();
    }
    return result;
  }

  private requestParts(resource: string, options: RequestOptions): RequestParts {
    const method = options.method ?? 'GET';
    const code = typeof method === 'number' ? method : methodCode(method);
    if (code === undefined || code < 1 || code > 31) throw new CoapError(`unknown method ${String(method)}`);
    const uriOptions = resource.startsWith('/') ? resourceOptions(resource) : this.absoluteOptions(resource);
    const all = [...uriOptions, ...(options.options ?? [])];
    if (options.contentFormat !== undefined)
      all.push(uintOption(OptionNumber.ContentFormat, formatNumber(options.contentFormat)));
    if (options.accept !== undefined) all.push(uintOption(OptionNumber.Accept, formatNumber(options.accept)));
    const payload =
      typeof options.payload === 'string'
        ? textEncoder.encode(options.payload)
        : (options.payload ?? new Uint8Array(0));
    return { code, options: all, payload };
  }

  private absoluteOptions(uri: string): CoapOption[] {
    const target = parseCoapUri(uri);
    const remote = this.transport.remote;
    if (target.port !== remote.port)
      throw new CoapUriError(`${uri} is not on this client's peer (port ${remote.port})`);
    return target.options;
  }

  private blockSettings(options: RequestOptions) {
    return {
      szx: options.blockSize === undefined ? this.szx : sizeExponent(options.blockSize),
      requestBlock2: options.blockSize !== undefined || this.settings.blockSize !== undefined,
      maxBodySize: this.maxBodySize,
    };
  }

  /**
   * A request to a resource ("/path?query", or a full URI of the same peer). Resolves with the
   * response whatever its code (check `ok`); rejects with a CoapError when there is none.
   */
  async request(resource: string, options: RequestOptions = {}): Promise<CoapResponse> {
    const request = this.requestParts(resource, options);
    const settings = this.blockSettings(options);
    const exchange: Exchange = (parts) =>
      this.exchange(parts, {
        confirmable: options.confirmable ?? true,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    const { response, messages } = await sendBlock1(exchange, request, settings);
    const whole = await fetchBlock2(exchange, request, response, settings);
    return new CoapResponse(whole.last, whole.payload, messages + whole.messages - 1);
  }

  get(resource: string, options: Omit<RequestOptions, 'method' | 'payload'> = {}) {
    return this.request(resource, { ...options, method: Method.GET });
  }

  put(
    resource: string,
    payload: Uint8Array | string,
    options: Omit<RequestOptions, 'method' | 'payload'> = {},
  ) {
    return this.request(resource, { ...options, method: Method.PUT, payload });
  }

  post(
    resource: string,
    payload: Uint8Array | string,
    options: Omit<RequestOptions, 'method' | 'payload'> = {},
  ) {
    return this.request(resource, { ...options, method: Method.POST, payload });
  }

  delete(resource: string, options: Omit<RequestOptions, 'method' | 'payload'> = {}) {
    return this.request(resource, { ...options, method: Method.DELETE });
  }

  /**
   * Registers an observation (RFC 7641 §3.1: GET with Observe 0). Resolves once the first response
   * came; `registered` says whether the server added this client as an observer.
   */
  async observe(
    resource: string,
    options: Omit<RequestOptions, 'method' | 'payload'> = {},
  ): Promise<Observation> {
    const request = this.requestParts(resource, { ...options, method: Method.GET });
    request.options.push(uintOption(OptionNumber.Observe, 0));
    const settings = this.blockSettings(options);
    const confirmable = options.confirmable ?? true;
    const plain: Exchange = (parts) => this.exchange(parts, { confirmable });
    const token = this.newToken();
    const observation = new Observation({
      request,
      fetchRest: (first) => fetchBlock2(plain, request, first, settings),
      deregister: () => {
        const cancel = {
          ...request,
          options: request.options.map((o) =>
            o.number === OptionNumber.Observe ? uintOption(OptionNumber.Observe, 1) : o,
          ),
        };
        return this.exchange(cancel, { confirmable, token });
      },
      forget: () => this.routes.delete(tokenKey(token)),
    });
    this.observations.add(observation);
    observation.once('end', () => this.observations.delete(observation));
    try {
      const first = await this.exchange(
        request,
        { confirmable, token, ...(options.signal ? { signal: options.signal } : {}) },
        (m) => observation.notify(m),
      );
      await observation.start(first);
    } catch (error) {
      this.observations.delete(observation);
      this.routes.delete(tokenKey(token));
      throw error;
    }
    return observation;
  }

  /** A CoAP ping (RFC 7252 §4.3); resolves with the round-trip time in ms. */
  async ping(): Promise<number> {
    const started = performance.now();
    await this.layer.ping();
    return performance.now() - started;
  }

  /** Stops retransmissions, rejects pending requests, ends observations (without deregistering). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.layer.close();
    const closing = new CoapAbortError('the CoAP client is closed');
    for (const finish of [...this.pending]) finish(closing);
    for (const observation of [...this.observations]) observation.abandon(closing);
    this.slots.releaseAll();
    this.routes.clear();
    if (this.ownsTransport) await this.transport.close();
  }
}

/** Room for the header, token and options next to a block (RFC 7252 §4.6 keeps 128 bytes). */
const HEADROOM = 128;

/** The largest block that fits the transport's datagrams with headroom: 1,024 when unknown. */
function defaultSzx(maxDatagramSize: number | undefined): number {
  let szx = MAX_SZX;
  while (maxDatagramSize !== undefined && szx > 0 && (1 << (szx + 4)) + HEADROOM > maxDatagramSize) szx--;
  return szx;
}

function formatNumber(format: number | string): number {
  return typeof format === 'number' ? format : parseContentFormat(format);
}
