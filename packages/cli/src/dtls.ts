// DTLS 1.2 (RFC 6347, the RFC 7925 IoT profile) with the keys in the SIM, for `iotsafe coap
// coaps://…` and `iotsafe connect dtls://HOST:PORT` (in the manner of openssl s_client -dtls1_2): a
// Type II SIM's PSK (the master secret by COMPUTE PRF, the PSK never leaves the SIM) or a Type I SIM's
// key and certificate (ECDHE-ECDSA, the SIM signing). With --session-file the session is kept sealed
// with the storage key, and the next run resumes it: an abbreviated handshake, no SIM operation.
import { readFileSync } from 'node:fs';
import { byId, byLabel, type IoTSafe, IoTSafeKeyOps } from '@iotsafe/device';
import { utf8 } from '@iotsafe/protocol';
import { connectDtls, type DtlsClient, type DtlsConnectOptions, type DtlsSession } from '@iotsafe/tls';
import { printError } from './output.js';
import { type GlobalOptions, storageKey } from './session.js';
import { readDtlsSessionFile, writeDtlsSessionFile } from './session-files.js';
import { UsageError } from './usage.js';

/** What a DTLS association authenticates with: a Type II SIM's PSK, or a Type I SIM's key and certificate. */
export type DtlsCredentials =
  | { kind: 'psk'; pskLabel: string; pskIdentity: string }
  | { kind: 'certificate'; keyId: string; certId: string; offload: 'sign' | 'full' };

/** How to trust the server (certificates only) and the options that tune the association. */
export interface DtlsSetup {
  credentials: DtlsCredentials;
  /** Trust anchors: a PEM file, or the certificate in a SIM file container. */
  ca?: string;
  caId?: string;
  servername?: string;
  sessionFile?: string;
  options?: Omit<DtlsConnectOptions, 'host' | 'port' | 'keyOps' | 'ca' | 'servername' | 'dtlsSession'>;
}

/** One association's SIM share: the APDUs between the start of the handshake and its end. */
export interface DtlsOpened {
  dtls: DtlsClient;
  apdus: number;
}

/**
 * Opens DTLS associations to `host:port` with the SIM behind `client`: the KeyOps, the trust anchors and
 * the kept session are read once; each `open()` is one handshake (CoAP opens one per client).
 */
export async function dtlsWithSim(
  client: IoTSafe,
  setup: DtlsSetup,
  globals: GlobalOptions,
): Promise<(peer: { host: string; port: number }) => Promise<DtlsOpened>> {
  const { credentials } = setup;
  const keyOps = await IoTSafeKeyOps.create(client, {
    offload: credentials.kind === 'psk' ? 'sign' : credentials.offload,
    ...(credentials.kind === 'psk'
      ? { psk: { identity: utf8(credentials.pskIdentity), secret: byLabel(credentials.pskLabel) } }
      : { privateKey: byId(credentials.keyId), certificateChain: [byId(credentials.certId)] }),
  });
  const ca = setup.ca
    ? readFileSync(setup.ca, 'utf8')
    : setup.caId
      ? [await client.readFile(byId(setup.caId))]
      : undefined;
  if (!ca && credentials.kind === 'certificate')
    throw new UsageError("how to trust the server's certificate? pass --ca FILE (or --ca-id HEX)");
  const key = setup.sessionFile ? storageKey(globals) : undefined;
  return async (peer) => {
    const server = `${peer.host}:${peer.port}`;
    const file = setup.sessionFile;
    const kept: DtlsSession | undefined =
      file && key
        ? readDtlsSessionFile(file, key, server, (message) => printError(`warning: ${message}`))
        : undefined;
    const before = client.apduCount;
    const dtls = connectDtls({
      host: peer.host,
      port: peer.port,
      keyOps,
      ...(ca ? { ca } : {}),
      ...(setup.servername ? { servername: setup.servername } : {}),
      ...(kept ? { dtlsSession: kept } : {}),
      ...setup.options,
    });
    if (globals.trace)
      dtls.on('retransmit', ({ attempt, timeout }: { attempt: number; timeout: number }) =>
        printError(`DTLS: flight sent again (retransmission ${attempt}, next timer ${timeout} ms)`),
      );
    if (file && key)
      dtls.on('session', (session: DtlsSession) => {
        // A session that cannot be kept costs the next run a handshake, not this one its link.
        try {
          writeDtlsSessionFile(file, key, server, session);
        } catch (error) {
          printError(`warning: the DTLS session was not kept in ${file}: ${(error as Error).message}`);
        }
      });
    await dtls.ready();
    return { dtls, apdus: client.apduCount - before };
  };
}
