// A TLS 1.3 server scripted from the library's own primitives (key schedule, record protection, message
// codecs) plus node:crypto, for what no installed peer does: a tampered server Finished, and client
// authentication with ecdsa_brainpoolP256r1tls13_sha256 (RFC 8734; OpenSSL 3.0 and GnuTLS 3.7 lack it).
// One connection, TLS_AES_128_GCM_SHA256, on 127.0.0.1. It checks the client's CertificateVerify with
// node:crypto and the client Finished, and reports what it saw.
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  sign,
  verify,
  X509Certificate,
} from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { concatBytes, hkdfExtract } from '@iotsafe/protocol';
import {
  deriveSecret,
  emptyHash,
  finishedVerifyData,
  suiteByCode,
  TLS12,
  TLS13,
  Tls13RecordCipher,
  Transcript,
  trafficKeys,
} from '@iotsafe/tls';
import { marshalServerHello, unmarshalClientHello } from '../../packages/tls/src/hello.js';
import {
  certificateVerifyContent,
  marshalCertificate,
  marshalCertificateRequest,
  marshalCertificateVerify,
  marshalEncryptedExtensions,
  marshalFinished,
  unmarshalCertificate,
  unmarshalCertificateVerify,
} from '../../packages/tls/src/messages.js';
import { HandshakeBuffer } from '../../packages/tls/src/record/handshake-buffer.js';
import { StreamRecordLayer } from '../../packages/tls/src/record/stream-layer.js';

const SUITE = suiteByCode(0x1301)!;
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

export type ServerAuth =
  /** External PSK, psk_ke: ServerHello, EncryptedExtensions, Finished. */
  | { kind: 'psk'; psk: Uint8Array }
  /** ECDHE (x25519) with a P-256 server certificate, and a CertificateRequest for `requestSchemes`. */
  | { kind: 'certificate'; certificateDer: Uint8Array; keyPem: string; requestSchemes: readonly number[] };

export interface ScriptedServerOptions {
  auth: ServerAuth;
  /** Changes the server Finished's verify_data before it is sent. */
  tamperFinished?: (verifyData: Uint8Array) => Uint8Array;
  /** The scheme the server's CertificateVerify names (default 0x0403, which its P-256 key is). */
  claimScheme?: number;
}

export interface ClientFlightReport {
  /** The client's certificate chain (DER, leaf first); empty when it sent none. */
  chain: Uint8Array[];
  scheme?: number;
  signatureValid?: boolean;
  finishedValid: boolean;
}

export interface ScriptedServer {
  port: number;
  /** Everything the client sent. */
  received: () => Buffer;
  /** What the client's flight held, once it has come. */
  clientFlight: Promise<ClientFlightReport>;
  close: () => Promise<void>;
}

export async function startScriptedTls13Server(options: ScriptedServerOptions): Promise<ScriptedServer> {
  const chunks: Buffer[] = [];
  let report!: (r: ClientFlightReport) => void;
  let refuse!: (e: Error) => void;
  const clientFlight = new Promise<ClientFlightReport>((resolve, reject) => {
    report = resolve;
    refuse = reject;
  });
  clientFlight.catch(() => {});
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    const incoming = new StreamRecordLayer(TLS12); // the client's records, opened with its handshake keys once known
    const clientMessages = new HandshakeBuffer();
    let state: ReturnType<typeof serverFlight> | undefined;
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      try {
        incoming.push(chunk);
        for (let record = incoming.next(); record; record = incoming.next()) {
          if (record.type !== 22) continue; // ChangeCipherSpec
          if (!state) {
            state = serverFlight(record.content, options);
            for (const part of state.flight) socket.write(part);
            incoming.changeReadCipher(state.clientProtection);
            continue;
          }
          clientMessages.push(record.content);
          const result = state.readClientFlight(clientMessages);
          if (result) report(result);
        }
      } catch (error) {
        refuse(error as Error); // a clear alert from the client lands here too
        socket.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received: () => Buffer.concat(chunks),
    clientFlight,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function serverFlight(clientHelloMessage: Uint8Array, options: ScriptedServerOptions) {
  const { auth } = options;
  const hello = unmarshalClientHello(clientHelloMessage.subarray(4));
  const transcript = new Transcript('sha256');
  transcript.add(clientHelloMessage);
  const zeros = new Uint8Array(32);
  let shared = zeros;
  let keyShare = new Uint8Array(0);
  if (auth.kind === 'certificate') {
    const x25519 = hello.keyShares?.find((k) => k.group === 0x001d)?.publicKey;
    if (!x25519) throw new Error('the ClientHello has no x25519 share');
    const pair = generateKeyPairSync('x25519');
    keyShare = new Uint8Array(pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
    const peer = createPublicKey({ key: Buffer.concat([X25519_SPKI, x25519]), format: 'der', type: 'spki' });
    shared = new Uint8Array(diffieHellman({ privateKey: pair.privateKey, publicKey: peer }));
  }
  const serverHello = marshalServerHello({
    legacyVersion: TLS12,
    random: new Uint8Array(32).fill(0x5a),
    sessionId: hello.sessionId,
    cipherSuite: SUITE.code,
    supportedVersion: TLS13,
    ...(auth.kind === 'psk' ? { selectedIdentity: 0 } : { keyShare: { group: 0x001d, publicKey: keyShare } }),
  });
  transcript.add(serverHello);
  const early = hkdfExtract('sha256', zeros, auth.kind === 'psk' ? auth.psk : zeros);
  const handshakeSecret = hkdfExtract(
    'sha256',
    deriveSecret('sha256', early, 'derived', emptyHash('sha256')),
    shared,
  );
  const serverSecret = deriveSecret('sha256', handshakeSecret, 's hs traffic', transcript.digest());
  const clientSecret = deriveSecret('sha256', handshakeSecret, 'c hs traffic', transcript.digest());
  const serverKeys = trafficKeys('sha256', serverSecret, SUITE.keyLength);
  const clientKeys = trafficKeys('sha256', clientSecret, SUITE.keyLength);

  const messages = [marshalEncryptedExtensions({})];
  if (auth.kind === 'certificate') {
    messages.push(
      marshalCertificateRequest({ context: new Uint8Array(0), signatureAlgorithms: auth.requestSchemes }),
    );
    messages.push(marshalCertificate({ context: new Uint8Array(0), chain: [auth.certificateDer] }));
  }
  for (const m of messages) transcript.add(m);
  if (auth.kind === 'certificate') {
    const content = certificateVerifyContent('server', transcript.digest());
    const signature = new Uint8Array(sign('sha256', content, createPrivateKey(auth.keyPem)));
    const certificateVerify = marshalCertificateVerify({ scheme: options.claimScheme ?? 0x0403, signature });
    transcript.add(certificateVerify);
    messages.push(certificateVerify);
  }
  const verifyData = finishedVerifyData('sha256', serverSecret, transcript.digest());
  messages.push(marshalFinished(options.tamperFinished ? options.tamperFinished(verifyData) : verifyData));
  transcript.add(marshalFinished(verifyData));
  const outgoing = new StreamRecordLayer(TLS12);
  const flight = [outgoing.seal(22, serverHello)];
  outgoing.changeWriteCipher(new Tls13RecordCipher(SUITE, serverKeys.key, serverKeys.iv));
  flight.push(outgoing.seal(22, concatBytes(...messages)));

  const clientProtection = new Tls13RecordCipher(SUITE, clientKeys.key, clientKeys.iv);
  const seen: ClientFlightReport = { chain: [], finishedValid: false };
  /** Reads Certificate, CertificateVerify and Finished as they come; the report once Finished is in. */
  const readClientFlight = (buffer: HandshakeBuffer): ClientFlightReport | undefined => {
    for (let m = buffer.next(); m; m = buffer.next()) {
      if (m.type === 11) seen.chain = [...unmarshalCertificate(m.body).chain];
      if (m.type === 15) {
        const { scheme, signature } = unmarshalCertificateVerify(m.body);
        seen.scheme = scheme;
        const key = new X509Certificate(seen.chain[0]!).publicKey;
        seen.signatureValid = verify(
          'sha256',
          certificateVerifyContent('client', transcript.digest()),
          key,
          signature,
        );
      }
      if (m.type === 20) {
        const expected = finishedVerifyData('sha256', clientSecret, transcript.digest());
        seen.finishedValid = Buffer.from(expected).equals(Buffer.from(m.body));
        return seen;
      }
      transcript.add(m.raw);
    }
    return undefined;
  };
  return { flight, clientProtection, readClientFlight };
}
