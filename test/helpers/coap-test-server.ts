// An in-process CoAP server for the client's tests and the benchmark, built from the package's own
// codecs (like tls13-server.ts for TLS): piggybacked and separate responses, duplicate detection
// with the stored reply, Block1 reassembly and Block2 slicing with size negotiation, observe with
// CON or NON notifications, and hooks to script what no real server would do. Plain UDP on
// 127.0.0.1 only, and only for tests: it authenticates nobody.
import { createHash } from 'node:crypto';
import { createSocket, type RemoteInfo } from 'node:dgram';
import {
  blockSize,
  type CoapMessage,
  type CoapOption,
  DuplicateCache,
  decodeBlock,
  decodeMessage,
  decodeString,
  emptyMessage,
  encodeBlock,
  encodeMessage,
  findOption,
  findOptions,
  findUintOption,
  MAX_SZX,
  MessageType,
  Method,
  OptionNumber,
  ResponseCode,
  type Retransmission,
  retransmit,
  type TransmissionParameters,
  transmissionParameters,
  uintOption,
} from '@iotsafe/coap';

export interface TestRequest {
  method: number;
  path: string;
  query: string[];
  payload: Uint8Array;
  message: CoapMessage;
  peer: RemoteInfo;
}

export interface TestReply {
  code: number;
  payload?: Uint8Array | string;
  contentFormat?: number;
  options?: CoapOption[];
}

export interface TestResource {
  handle: (request: TestRequest) => TestReply | Promise<TestReply>;
  observable?: boolean;
  /** Answer a CON with an Empty ACK, then the response as a separate CON after this many ms. */
  separateAfter?: number;
}

export interface TestServerOptions {
  resources: Record<string, TestResource>;
  /** The largest block this server sends or accepts (it negotiates down to it). */
  maxBlockSize?: number;
  /** Notifications as NON (default CON). */
  nonNotifications?: boolean;
  transmission?: Partial<TransmissionParameters>;
  /** Sees each datagram first; true means it was handled here (scripted misbehaviour). */
  intercept?: (message: CoapMessage, peer: RemoteInfo, send: (m: CoapMessage) => void) => boolean;
}

interface Observer {
  peer: RemoteInfo;
  token: Uint8Array;
  request: TestRequest;
}

const peerKey = (peer: RemoteInfo) => `${peer.address}:${peer.port}`;
const text = new TextEncoder();

export interface CoapTestServer {
  port: number;
  /** `errors`: exceptions of handlers (a test asserts there are none). */
  counters: {
    requests: number;
    duplicates: number;
    handled: number;
    acks: number;
    resets: number;
    errors: string[];
  };
  /** Sends a notification of `path` to each observer; resolves when each was sent once. */
  notify(path: string): Promise<void>;
  observers(path: string): number;
  close(): Promise<void>;
}

export async function startCoapTestServer(options: TestServerOptions): Promise<CoapTestServer> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const transmission = transmissionParameters(options.transmission);
  const maxSzx = options.maxBlockSize === undefined ? MAX_SZX : Math.log2(options.maxBlockSize) - 4;
  const seen = new DuplicateCache<string>();
  const counters = { requests: 0, duplicates: 0, handled: 0, acks: 0, resets: 0, errors: [] as string[] };
  const uploads = new Map<string, Uint8Array[]>();
  const responses = new Map<string, TestReply>();
  const observers = new Map<string, Observer[]>();
  const outstanding = new Map<string, { stop: Retransmission; token: Uint8Array }>();
  let nextId = 0x4000;
  let sequence = 2;

  const send = (message: CoapMessage, peer: RemoteInfo) => {
    const bytes = encodeMessage(message);
    socket.send(bytes, peer.port, peer.address);
    return bytes;
  };
  const sendConfirmable = (message: Omit<CoapMessage, 'type' | 'messageId'>, peer: RemoteInfo) => {
    const full: CoapMessage = { ...message, type: MessageType.CON, messageId: nextId++ & 0xffff };
    const bytes = encodeMessage(full);
    const key = `${peerKey(peer)}:${full.messageId}`;
    const stop = retransmit(
      transmission,
      () => socket.send(bytes, peer.port, peer.address),
      () => {
        outstanding.delete(key);
        removeObserver(peer, message.token);
      },
    );
    outstanding.set(key, { stop, token: message.token });
  };
  const removeObserver = (peer: RemoteInfo, token: Uint8Array) => {
    for (const [path, list] of observers)
      observers.set(
        path,
        list.filter((o) => !(peerKey(o.peer) === peerKey(peer) && Buffer.compare(o.token, token) === 0)),
      );
  };

  /** The response options and payload for one block of `reply` (RFC 7959 §2.4), with an ETag. */
  const shape = (request: TestRequest, reply: TestReply, extra: CoapOption[]) => {
    const payload =
      typeof reply.payload === 'string' ? text.encode(reply.payload) : (reply.payload ?? new Uint8Array(0));
    const opts = [...(reply.options ?? []), ...extra];
    if (reply.contentFormat !== undefined)
      opts.push(uintOption(OptionNumber.ContentFormat, reply.contentFormat));
    const asked = findOption(request.message.options, OptionNumber.Block2);
    const wanted = asked ? decodeBlock(asked) : { num: 0, more: false, szx: MAX_SZX };
    const szx = Math.min(wanted.szx, maxSzx);
    if (payload.length <= blockSize(szx) && !asked) return { options: opts, payload };
    const size = blockSize(szx);
    const num = Math.floor((wanted.num * blockSize(wanted.szx)) / size);
    const slice = payload.subarray(num * size, (num + 1) * size);
    const more = (num + 1) * size < payload.length;
    opts.push({ number: OptionNumber.Block2, value: encodeBlock({ num, more, szx }) });
    opts.push({
      number: OptionNumber.ETag,
      value: createHash('sha256').update(payload).digest().subarray(0, 4),
    });
    if (num === 0) opts.push(uintOption(OptionNumber.Size2, payload.length));
    return { options: opts, payload: slice };
  };

  /** Block1 reassembly (RFC 7959 §2.5): 2.31 for each block with M=1, the whole body at the end. */
  const reassemble = (request: TestRequest): TestReply | Uint8Array => {
    const value = findOption(request.message.options, OptionNumber.Block1);
    if (!value) return request.payload;
    const block = decodeBlock(value);
    const key = `${peerKey(request.peer)}:${request.path}`;
    const parts = block.num === 0 ? [] : uploads.get(key);
    const offset = parts?.reduce((n, p) => n + p.length, 0);
    if (!parts || offset !== block.num * blockSize(block.szx))
      return { code: ResponseCode.RequestEntityIncomplete };
    parts.push(Uint8Array.from(request.payload));
    uploads.set(key, parts);
    const szx = Math.min(block.szx, maxSzx);
    const echo = {
      number: OptionNumber.Block1,
      value: encodeBlock({ num: block.num, more: block.more, szx }),
    };
    if (block.more) return { code: ResponseCode.Continue, options: [echo] };
    uploads.delete(key);
    return Buffer.concat(parts);
  };

  const answer = async (
    request: TestRequest,
  ): Promise<{ code: number; options: CoapOption[]; payload: Uint8Array }> => {
    const resource = options.resources[request.path];
    if (!resource) return { code: ResponseCode.NotFound, options: [], payload: new Uint8Array(0) };
    // RFC 7959 §3.3: later Block2 blocks of a POST/PUT response come from the response already made.
    const block2 = findOption(request.message.options, OptionNumber.Block2);
    const cacheKey = `${peerKey(request.peer)}:${request.path}`;
    const cached = responses.get(cacheKey);
    if (request.method !== Method.GET && block2 && decodeBlock(block2).num > 0 && cached)
      return { code: cached.code, ...shape(request, cached, []) };
    const body = reassemble(request);
    if (!(body instanceof Uint8Array))
      return { code: body.code, options: body.options ?? [], payload: new Uint8Array(0) };
    const block1 = findOption(request.message.options, OptionNumber.Block1);
    const reply = await resource.handle({ ...request, payload: body });
    counters.handled++;
    if (request.method !== Method.GET) responses.set(cacheKey, reply);
    const extra: CoapOption[] = block1 ? [{ number: OptionNumber.Block1, value: block1 }] : [];
    const observe = findUintOption(request.message.options, OptionNumber.Observe);
    if (request.method === Method.GET && resource.observable && observe === 0 && reply.code >> 5 === 2) {
      removeObserver(request.peer, request.message.token);
      observers.set(request.path, [
        ...(observers.get(request.path) ?? []),
        { peer: request.peer, token: request.message.token, request },
      ]);
      extra.push(uintOption(OptionNumber.Observe, sequence));
    } else if (observe === 1) removeObserver(request.peer, request.message.token);
    return { code: reply.code, ...shape(request, reply, extra) };
  };

  socket.on('message', (datagram, peer) => {
    // A bug in a test handler must show as a 5.00, not as an unhandled rejection in another test.
    receive(datagram, peer).catch((error) => {
      counters.errors.push(String(error));
    });
  });
  const receive = async (datagram: Uint8Array, peer: RemoteInfo) => {
    let message: CoapMessage;
    try {
      message = decodeMessage(datagram);
    } catch {
      return;
    }
    if (options.intercept?.(message, peer, (m) => send(m, peer))) return;
    if (message.type === MessageType.ACK || message.type === MessageType.RST) {
      const key = `${peerKey(peer)}:${message.messageId}`;
      const entry = outstanding.get(key);
      if (!entry) return;
      entry.stop.stop();
      outstanding.delete(key);
      if (message.type === MessageType.RST) {
        counters.resets++;
        removeObserver(peer, entry.token);
      } else counters.acks++;
      return;
    }
    const dedupKey = `${peerKey(peer)}:${message.messageId}`;
    const previous = seen.lookup(dedupKey);
    if (previous) {
      counters.duplicates++;
      if (previous.reply) socket.send(previous.reply, peer.port, peer.address);
      return;
    }
    if (message.code === 0) {
      seen.remember(dedupKey, 60_000, send(emptyMessage(MessageType.RST, message.messageId), peer));
      return;
    }
    seen.remember(dedupKey, 60_000);
    counters.requests++;
    const request: TestRequest = {
      method: message.code,
      path: `/${findOptions(message.options, OptionNumber.UriPath).map(decodeString).join('/')}`,
      query: findOptions(message.options, OptionNumber.UriQuery).map(decodeString),
      payload: message.payload,
      message,
      peer,
    };
    const resource = options.resources[request.path];
    const confirmable = message.type === MessageType.CON;
    if (confirmable && resource?.separateAfter !== undefined) {
      seen.setReply(dedupKey, send(emptyMessage(MessageType.ACK, message.messageId), peer));
      await new Promise((r) => setTimeout(r, resource.separateAfter));
      sendConfirmable({ ...(await answer(request)), token: message.token }, peer);
      return;
    }
    const response = await answer(request);
    const type = confirmable ? MessageType.ACK : MessageType.NON;
    const messageId = confirmable ? message.messageId : nextId++ & 0xffff;
    seen.setReply(dedupKey, send({ type, messageId, token: message.token, ...response }, peer));
  };

  return {
    get port() {
      return (socket.address() as { port: number }).port;
    },
    counters,
    async notify(path) {
      sequence = (sequence + 1) % (1 << 24);
      for (const observer of observers.get(path) ?? []) {
        const request = { ...observer.request, message: { ...observer.request.message, options: [] } };
        const response = await answer(request);
        const notification = {
          ...response,
          token: observer.token,
          options: [
            ...response.options.filter((o) => o.number !== OptionNumber.Observe),
            uintOption(OptionNumber.Observe, sequence),
          ],
        };
        if (options.nonNotifications)
          send({ ...notification, type: MessageType.NON, messageId: nextId++ & 0xffff }, observer.peer);
        else sendConfirmable(notification, observer.peer);
      }
    },
    observers: (path) => observers.get(path)?.length ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const entry of outstanding.values()) entry.stop.stop();
        socket.close(() => resolve());
      }),
  };
}
