// A DTLS 1.2 server scripted from this library's own codecs and record layer (RFC 6347), for what real
// servers cannot be made to do: a bad Finished, a HelloVerifyRequest storm, the RFC 8442 ECDHE-PSK
// suites OpenSSL lacks. PSK and ECDHE-PSK only, one association per client address; it answers a
// client's retransmitted flight with its own last flight (RFC 6347 §4.2.4) and echoes application data.
import { createECDH, randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo } from 'node:dgram';
import {
  concatBytes,
  constantTimeEqual,
  ecdhePskPremaster,
  pskPremaster,
  tls12Prf,
  utf8,
} from '@iotsafe/protocol';
import { CONTENT_TYPE, HANDSHAKE_TYPE } from '../../packages/tls/src/constants.js';
import {
  DtlsReassembler,
  fragmentHandshake,
  toDtlsHandshake,
} from '../../packages/tls/src/dtls/handshake-framing.js';
import { marshalHelloVerifyRequest } from '../../packages/tls/src/dtls/messages.js';
import { DatagramRecordLayer, DTLS12 } from '../../packages/tls/src/dtls/record-layer.js';
import { marshalServerHello, unmarshalClientHello } from '../../packages/tls/src/hello.js';
import { Transcript } from '../../packages/tls/src/key-schedule.js';
import { marshalFinished } from '../../packages/tls/src/messages.js';
import type { HalfConnection } from '../../packages/tls/src/record/half-conn.js';
import {
  marshalServerHelloDone,
  marshalServerKeyExchange,
  unmarshalClientKeyExchange,
} from '../../packages/tls/src/tls12/messages.js';
import { Tls12RecordCipher } from '../../packages/tls/src/tls12/protection.js';
import { type Suite12, suite12ByCode } from '../../packages/tls/src/tls12/suites.js';

export interface ScriptedDtlsServerOptions {
  psk: Uint8Array;
  /** The suite chosen (default TLS_PSK_WITH_AES_128_CCM_8); must be a PSK or ECDHE-PSK one. */
  suite?: number;
  /** Answer every ClientHello with a HelloVerifyRequest, whatever its cookie (a storm). */
  helloVerifyStorm?: boolean;
  /** Changes the server's Finished verify_data before it is sent. */
  tamperFinished?: (verifyData: Uint8Array) => Uint8Array;
  /**
   * RFC 9146: the CID this server asks for when a client offers connection_id (one CID per server, so
   * one such association at a time). Associations are then found by CID, and follow the client to a
   * new address once a record from there authenticates.
   */
  connectionId?: Uint8Array;
  /** Echo application data (default true; a benchmark sink turns it off). */
  echo?: boolean;
}

export interface ScriptedDtlsServer {
  port: number;
  /** Datagrams received from clients, and HelloVerifyRequests sent. */
  stats: {
    datagrams: number;
    helloVerifyRequests: number;
    handshakes: number;
    alerts: number[];
    /** Associations that moved to a new client address (by their CID). */
    addressChanges: number;
  };
  /** Sends `datagram` as is to the last client heard from (for replay tests). */
  sendRaw(datagram: Uint8Array): Promise<void>;
  /** The datagrams the server sent, in order. */
  sent: Uint8Array[];
  close(): Promise<void>;
}

const prf = (suite: Suite12, secret: Uint8Array, label: string, seed: Uint8Array, n: number) =>
  tls12Prf(secret, concatBytes(utf8(label), seed), n, suite.hash);

class Association {
  readonly records = new DatagramRecordLayer();
  readonly reassembler = new DtlsReassembler();
  transcript = new Transcript();
  private seq = 0;
  private lastFlight: { type: number; content: Uint8Array; epochHalf: HalfConnection }[] = [];
  private clientRandom: Uint8Array = new Uint8Array(0);
  private serverRandom = new Uint8Array(randomBytes(32));
  private ecdh?: ReturnType<typeof createECDH>;
  private master: Uint8Array = new Uint8Array(0);
  private keys?: { client: Tls12RecordCipher; server: Tls12RecordCipher };
  private state: 'hello' | 'keyExchange' | 'finished' | 'done' = 'hello';

  constructor(
    private readonly options: ScriptedDtlsServerOptions,
    private readonly suite: Suite12,
    private readonly cookie: Uint8Array,
    private readonly send: (d: Uint8Array) => void,
    private readonly stats: ScriptedDtlsServer['stats'],
  ) {}

  /** `authenticated` hears how many records opened, before any is answered. */
  receive(datagram: Uint8Array, authenticated: (count: number) => void = () => {}): void {
    const records = this.records.open(datagram);
    authenticated(records.length);
    for (const record of records) {
      if (record.type === CONTENT_TYPE.APPLICATION_DATA) {
        if (this.options.echo !== false) this.sendRecords([[CONTENT_TYPE.APPLICATION_DATA, record.content]]);
      } else if (record.type === CONTENT_TYPE.ALERT) this.stats.alerts.push(record.content[1]!);
      else if (record.type === CONTENT_TYPE.CHANGE_CIPHER_SPEC && this.keys) {
        for (const early of this.records.changeReadCipher(this.keys.client))
          this.take(early.type, early.content);
      } else this.take(record.type, record.content);
    }
    if (this.reassembler.peerRetransmitted) {
      this.reassembler.peerRetransmitted = false;
      this.resend();
    }
  }

  private take(type: number, content: Uint8Array): void {
    if (type !== CONTENT_TYPE.HANDSHAKE) return;
    this.reassembler.push(content);
    for (let m = this.reassembler.next(); m; m = this.reassembler.next())
      this.onMessage(m.type, m.body, m.raw);
  }

  private frame(message: Uint8Array): Uint8Array {
    const framed = toDtlsHandshake(message, this.seq++);
    this.transcript.add(framed);
    return framed;
  }

  private onMessage(type: number, body: Uint8Array, raw: Uint8Array): void {
    if (this.state === 'hello' && type === HANDSHAKE_TYPE.CLIENT_HELLO) {
      const hello = unmarshalClientHello(body, true);
      const cookieOk = hello.dtlsCookie && Buffer.from(hello.dtlsCookie).equals(Buffer.from(this.cookie));
      if (this.options.helloVerifyStorm || !cookieOk) {
        // Stateless (§4.2.1): the HelloVerifyRequest takes the ClientHello's message_seq, nothing is kept.
        this.stats.helloVerifyRequests++;
        const hvr = toDtlsHandshake(
          marshalHelloVerifyRequest({ serverVersion: DTLS12, cookie: this.cookie }),
          this.reassembler.expected - 1,
        );
        this.sendFlight([[CONTENT_TYPE.HANDSHAKE, hvr]]);
        return;
      }
      this.seq = this.reassembler.expected - 1;
      this.transcript.add(raw);
      this.clientRandom = hello.random;
      const flight: [number, Uint8Array][] = [];
      const serverHello = marshalServerHello({
        legacyVersion: DTLS12,
        random: this.serverRandom,
        sessionId: new Uint8Array(0),
        cipherSuite: this.suite.code,
        extendedMasterSecret: true,
        renegotiationInfo: new Uint8Array(0),
        ...(hello.connectionId && this.options.connectionId
          ? { connectionId: this.options.connectionId }
          : {}),
      });
      if (hello.connectionId && this.options.connectionId)
        this.records.useConnectionIds(this.options.connectionId, hello.connectionId);
      flight.push([CONTENT_TYPE.HANDSHAKE, this.frame(serverHello)]);
      if (this.suite.keyExchange === 'ecdhe_psk') {
        this.ecdh = createECDH('prime256v1');
        this.ecdh.generateKeys();
        const ske = marshalServerKeyExchange(
          {
            pskIdentityHint: new Uint8Array(0),
            group: 0x0017,
            publicKey: new Uint8Array(this.ecdh.getPublicKey()),
          },
          'ecdhe_psk',
        );
        flight.push([CONTENT_TYPE.HANDSHAKE, this.frame(ske)]);
      }
      flight.push([CONTENT_TYPE.HANDSHAKE, this.frame(marshalServerHelloDone())]);
      this.state = 'keyExchange';
      this.sendFlight(flight);
      return;
    }
    if (this.state === 'keyExchange' && type === HANDSHAKE_TYPE.CLIENT_KEY_EXCHANGE) {
      this.transcript.add(raw);
      const cke = unmarshalClientKeyExchange(body, this.suite.keyExchange);
      const premaster =
        this.suite.keyExchange === 'ecdhe_psk'
          ? ecdhePskPremaster(new Uint8Array(this.ecdh!.computeSecret(cke.publicKey!)), this.options.psk)
          : pskPremaster(this.options.psk);
      this.master = tls12Prf(
        premaster,
        concatBytes(utf8('extended master secret'), this.transcript.digest()),
        48,
        this.suite.hash,
      );
      const { keyLength: k, fixedIvLength: iv } = this.suite;
      const block = prf(
        this.suite,
        this.master,
        'key expansion',
        concatBytes(this.serverRandom, this.clientRandom),
        2 * (k + iv),
      );
      this.keys = {
        client: new Tls12RecordCipher(this.suite, block.subarray(0, k), block.subarray(2 * k, 2 * k + iv)),
        server: new Tls12RecordCipher(this.suite, block.subarray(k, 2 * k), block.subarray(2 * k + iv)),
      };
      this.state = 'finished';
      return;
    }
    if (this.state === 'finished' && type === HANDSHAKE_TYPE.FINISHED) {
      const expected = prf(this.suite, this.master, 'client finished', this.transcript.digest(), 12);
      if (!constantTimeEqual(body, expected)) {
        this.sendRecords([[CONTENT_TYPE.ALERT, Uint8Array.of(2, 51)]]);
        return;
      }
      this.transcript.add(raw);
      let verifyData = prf(this.suite, this.master, 'server finished', this.transcript.digest(), 12);
      if (this.options.tamperFinished) verifyData = this.options.tamperFinished(verifyData);
      const finished = toDtlsHandshake(marshalFinished(verifyData), this.seq++);
      this.lastFlight = [];
      const ccs = {
        type: CONTENT_TYPE.CHANGE_CIPHER_SPEC,
        content: Uint8Array.of(1),
        epochHalf: this.records.write,
      };
      const epoch1 = this.records.changeWriteCipher(this.keys!.server);
      this.lastFlight = [ccs, { type: CONTENT_TYPE.HANDSHAKE, content: finished, epochHalf: epoch1 }];
      this.state = 'done';
      this.stats.handshakes++;
      this.resend();
    }
  }

  private sendFlight(records: [number, Uint8Array][]): void {
    this.lastFlight = records.map(([type, content]) => ({ type, content, epochHalf: this.records.write }));
    this.resend();
  }

  private resend(): void {
    for (const r of this.lastFlight)
      for (const fragment of r.type === CONTENT_TYPE.HANDSHAKE
        ? fragmentHandshake(r.content, 1000)
        : [r.content])
        this.send(this.records.seal(r.type, fragment, r.epochHalf));
  }

  private sendRecords(records: [number, Uint8Array][]): void {
    for (const [type, content] of records) this.send(this.records.seal(type, content));
  }
}

export async function startScriptedDtlsServer(
  options: ScriptedDtlsServerOptions,
): Promise<ScriptedDtlsServer> {
  const suite = suite12ByCode(options.suite ?? 0xc0a8);
  if (!suite || (suite.keyExchange !== 'psk' && suite.keyExchange !== 'ecdhe_psk'))
    throw new Error('the scripted DTLS server does PSK and ECDHE-PSK suites only');
  const socket = createSocket('udp4');
  const cookie = new Uint8Array(randomBytes(16));
  const associations = new Map<string, Association>();
  const stats: ScriptedDtlsServer['stats'] = {
    datagrams: 0,
    helloVerifyRequests: 0,
    handshakes: 0,
    alerts: [],
    addressChanges: 0,
  };
  const sent: Uint8Array[] = [];
  let last: RemoteInfo | undefined;
  const peers = new Map<Association, RemoteInfo>();
  const byCid = new Map<string, Association>();
  const cid = options.connectionId;
  socket.on('message', (data: Buffer, from) => {
    stats.datagrams++;
    last = from;
    const key = `${from.address}:${from.port}`;
    // RFC 9146 §6: a CID record names its association, whatever address it comes from.
    const named =
      cid && data[0] === 25 ? byCid.get(data.subarray(11, 11 + cid.length).toString('hex')) : undefined;
    let association = named ?? associations.get(key);
    if (!association) {
      const created = new Association(
        options,
        suite,
        cookie,
        (datagram) => {
          sent.push(datagram);
          const to = peers.get(created)!;
          socket.send(datagram, to.port, to.address);
        },
        stats,
      );
      association = created;
      associations.set(key, association);
      peers.set(association, from);
      if (cid) byCid.set(Buffer.from(cid).toString('hex'), association);
    }
    const found = association;
    found.receive(new Uint8Array(data), (authenticated) => {
      if (!named || authenticated === 0) return;
      const before = peers.get(found)!;
      if (before.port !== from.port || before.address !== from.address) stats.addressChanges++;
      peers.set(found, from);
    });
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    port: socket.address().port,
    stats,
    sent,
    sendRaw: (datagram) =>
      new Promise((resolve) => {
        if (!last) return resolve();
        socket.send(datagram, last.port, last.address, () => resolve());
      }),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
