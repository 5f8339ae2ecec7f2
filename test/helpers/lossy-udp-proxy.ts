// A bad link in a box: a seeded UDP proxy on 127.0.0.1 between clients and one server that drops,
// duplicates, reorders and delays datagrams, drops those above an MTU, and rebinds a client's
// address (its datagrams leave from a new source port, as after a NAT mapping timeout), each set
// per direction, counting what it did. Decisions come from one seeded generator per direction, so
// the same seed and the same traffic give the same losses. For tests and benchmarks (CoAP, DTLS).
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { SeededRandom } from './random.js';

export interface Impairment {
  /** Probability that a datagram is dropped, 0 to 1. */
  loss?: number;
  /** Probability that a datagram is sent twice. */
  duplicate?: number;
  /** Probability that a datagram is held back and sent after the next one (or after `reorderHold`). */
  reorder?: number;
  /** Added latency in ms: a constant, or uniform in [min, max] (which reorders too). */
  delay?: number | { min: number; max: number };
  /** Datagrams with more bytes than this are dropped (a path MTU without fragmentation). */
  mtu?: number;
}

export interface DirectionCounters {
  received: number;
  forwarded: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  delayed: number;
  oversize: number;
}

export interface LossyProxyOptions {
  target: { host: string; port: number };
  seed: number;
  /** Client → server. */
  toServer?: Impairment;
  /** Server → client. */
  toClient?: Impairment;
  /** A NAT timeout: after this many ms without a datagram from a client, it is rebound. */
  natTimeout?: number;
  /** The longest a reordered datagram waits for one to overtake it (default 50 ms). */
  reorderHold?: number;
}

export interface LossyUdpProxy {
  /** Where clients send: 127.0.0.1 and this port. */
  port: number;
  counters: {
    toServer: DirectionCounters;
    toClient: DirectionCounters;
    rebinds: number;
    /** Datagrams the server sent to a client's old (rebound) address: lost, as behind a NAT. */
    toOldMapping: number;
  };
  /** Rebinds every client now: their next datagrams reach the server from new source ports. */
  rebind(): Promise<void>;
  setImpairment(direction: 'toServer' | 'toClient', impairment: Impairment): void;
  close(): Promise<void>;
}

const emptyCounters = (): DirectionCounters => ({
  received: 0,
  forwarded: 0,
  dropped: 0,
  duplicated: 0,
  reordered: 0,
  delayed: 0,
  oversize: 0,
});

/** One direction's impairments applied to a stream of datagrams. */
class ImpairedLink {
  private held?: { send: () => void; timer: NodeJS.Timeout };
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    public impairment: Impairment,
    private readonly random: SeededRandom,
    readonly counters: DirectionCounters,
    private readonly reorderHold: number,
  ) {}

  private chance(p: number | undefined): boolean {
    return p !== undefined && p > 0 && this.random.next() / 0x1_0000_0000 < p;
  }

  private later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      action();
    }, ms);
    this.timers.add(timer);
  }

  pass(datagram: Buffer, send: (d: Buffer) => void): void {
    const i = this.impairment;
    this.counters.received++;
    // Every decision draws from the generator in the same order, whatever the settings.
    const lost = this.chance(i.loss);
    const twice = this.chance(i.duplicate);
    const hold = this.chance(i.reorder);
    const jitter = this.random.next() / 0x1_0000_0000;
    if (i.mtu !== undefined && datagram.length > i.mtu) {
      this.counters.oversize++;
      this.counters.dropped++;
      return;
    }
    if (lost) {
      this.counters.dropped++;
      return;
    }
    const emit = () => {
      if (twice) this.counters.duplicated++;
      for (let c = twice ? 2 : 1; c > 0; c--) {
        this.counters.forwarded++;
        send(datagram);
      }
    };
    const delay =
      i.delay === undefined
        ? 0
        : typeof i.delay === 'number'
          ? i.delay
          : i.delay.min + jitter * (i.delay.max - i.delay.min);
    const go = () => {
      if (hold && !this.held) {
        // Held back until the next datagram overtakes it, or for reorderHold at most.
        this.counters.reordered++;
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.held = undefined;
          emit();
        }, this.reorderHold);
        this.timers.add(timer);
        this.held = { send: emit, timer };
        return;
      }
      emit();
      const held = this.held;
      if (held) {
        this.held = undefined;
        clearTimeout(held.timer);
        this.timers.delete(held.timer);
        held.send();
      }
    };
    if (delay > 0) {
      this.counters.delayed++;
      this.later(delay, go);
    } else go();
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    if (this.held) clearTimeout(this.held.timer);
    this.timers.clear();
  }
}

interface Mapping {
  client: RemoteInfo;
  upstream: Socket;
  lastSeen: number;
}

const bindUdp = (socket: Socket, port = 0) =>
  new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });

export async function startLossyUdpProxy(options: LossyProxyOptions): Promise<LossyUdpProxy> {
  const front = createSocket('udp4');
  await bindUdp(front);
  const counters = { toServer: emptyCounters(), toClient: emptyCounters(), rebinds: 0, toOldMapping: 0 };
  const hold = options.reorderHold ?? 50;
  const up = new ImpairedLink(
    options.toServer ?? {},
    new SeededRandom(options.seed),
    counters.toServer,
    hold,
  );
  const down = new ImpairedLink(
    options.toClient ?? {},
    new SeededRandom(options.seed ^ 0x5eed),
    counters.toClient,
    hold,
  );
  const mappings = new Map<string, Mapping>();
  const retired: Socket[] = [];

  const open = async (client: RemoteInfo): Promise<Mapping> => {
    const upstream = createSocket('udp4');
    await bindUdp(upstream);
    const mapping: Mapping = { client, upstream, lastSeen: performance.now() };
    upstream.on('message', (datagram) => {
      if (mappings.get(`${client.address}:${client.port}`) !== mapping) {
        counters.toOldMapping++;
        return;
      }
      down.pass(datagram, (d) => front.send(d, client.port, client.address));
    });
    upstream.on('error', () => {}); // ICMP unreachable from a server that went away: a lost datagram
    return mapping;
  };
  const retire = (key: string) => {
    const old = mappings.get(key);
    if (!old) return;
    mappings.delete(key);
    retired.push(old.upstream); // kept open, so what the server still sends there is counted, then lost
    counters.rebinds++;
  };

  let queue = Promise.resolve();
  front.on('message', (datagram, client) => {
    // One at a time, so a new mapping is opened once per client and datagrams keep their order.
    queue = queue.then(async () => {
      const key = `${client.address}:${client.port}`;
      let mapping = mappings.get(key);
      const now = performance.now();
      if (mapping && options.natTimeout !== undefined && now - mapping.lastSeen > options.natTimeout) {
        retire(key);
        mapping = undefined;
      }
      if (!mapping) {
        mapping = await open(client);
        mappings.set(key, mapping);
      }
      mapping.lastSeen = now;
      const upstream = mapping.upstream;
      up.pass(datagram, (d) => upstream.send(d, options.target.port, options.target.host));
    });
  });
  front.on('error', () => {});

  return {
    port: front.address().port,
    counters,
    async rebind() {
      await queue;
      for (const key of [...mappings.keys()]) retire(key);
    },
    setImpairment(direction, impairment) {
      (direction === 'toServer' ? up : down).impairment = impairment;
    },
    async close() {
      await queue;
      up.close();
      down.close();
      const sockets = [front, ...retired, ...[...mappings.values()].map((m) => m.upstream)];
      await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
