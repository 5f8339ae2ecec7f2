// `iotsafe ota rotation cloud`: the cloud side of a rotation as a command (docs/rotation.md). A mutual
// TLS server (node:tls, TLS 1.2 and 1.3) that trusts the operator's CA and its CRL — made from the CA's
// records, made again when a revocation is added — and reports every client certificate it accepts to
// the OTA store (RotationService.certificateSeen): the proof that commits a rotation awaiting it.
// Each client gets one line naming its certificate and the rotation it proved, then the end.
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { RotationService } from '@iotsafe/ota';
import { pem } from '@iotsafe/pki';
import type { Command } from 'commander';
import { openKeyStore } from './ota-server.js';
import { printError } from './output.js';
import { bounded, openCa } from './pki-commands.js';
import { type GlobalOptions, storageKey } from './session.js';
import { serveUntilInterrupted } from './wait.js';

export function registerRotationCloud(rotation: Command, globals: () => GlobalOptions): void {
  rotation
    .command('cloud')
    .description(
      'a mutual-TLS cloud server trusting the CA and its CRL; each certificate it accepts proves its rotation',
    )
    .requiredOption('--store <file|url>', 'the OTA store the rotations are in')
    .requiredOption('--ca <dir>', "the operator's CA (`iotsafe ca init`)")
    .option('--hostname <name>', 'the name in its server certificate (and 127.0.0.1)', 'localhost')
    .option('--host <address>', 'where to listen', '127.0.0.1')
    .option('--port <n>', 'port (default: a free one)', '0')
    .option('--port-file <file>', 'write the port there once listening')
    .action(
      async (options: {
        store: string;
        ca: string;
        hostname: string;
        host: string;
        port: string;
        portFile?: string;
      }) => {
        const port = bounded(options.port, '--port', 0, 65535);
        const authority = await openCa(options.ca, globals());
        const store = await openKeyStore(options.store, storageKey(globals()), false);
        const service = new RotationService(store, storageKey(globals()));
        const identity = await authority.issueServer(options.hostname);
        // RFC 5280 §6.3: the CRL of the CA's records, made again only when the set of revocations changes
        let revoked = '';
        let context: tls.SecureContext | undefined;
        const current = async () => {
          const now = authority.issued
            .filter((r) => r.revokedAt)
            .map((r) => r.serial)
            .join(',');
          if (!context || now !== revoked) {
            context = tls.createSecureContext({
              key: identity.keyPem,
              cert: pem(identity.certificate, 'CERTIFICATE'),
              ca: authority.certificatePem,
              crl: pem(await authority.crl(), 'X509 CRL'),
            });
            revoked = now;
          }
          return context;
        };
        const server = tls.createServer({
          secureContext: await current(),
          requestCert: true,
          // checked below, so that the refusal and its reason (revoked, unknown CA…) are logged
          rejectUnauthorized: false,
          minVersion: 'TLSv1.2',
          // each handshake that names the server takes the CRL as it is now
          SNICallback: (_name, done) =>
            void current().then(
              (c) => done(null, c),
              (error: Error) => done(error),
            ),
        });
        server.on('tlsClientError', (error) => printError(`cloud: a client refused: ${error.message}`));
        server.on('secureConnection', (socket) => {
          socket.on('error', () => {});
          const peer = socket.getPeerX509Certificate();
          const subject = peer?.subject.replace(/\n/g, ', ') ?? 'a client without a certificate';
          if (!peer || !socket.authorized) {
            printError(`cloud: refused ${subject}: ${socket.authorizationError ?? 'no client certificate'}`);
            return socket.destroy();
          }
          const serial = peer.serialNumber.toUpperCase();
          void service.certificateSeen(new X509Certificate(peer.raw)).then(
            (proved) => {
              const line = `accepted ${subject}, certificate ${serial}${proved ? `: rotation ${proved} proven` : ''}`;
              printError(`cloud: ${line}`);
              socket.end(
                `hello ${subject}: certificate ${serial} accepted${proved ? `, rotation ${proved} proven` : ''}\n`,
              );
            },
            (error: Error) => {
              printError(`cloud: ${serial} accepted, its proof not recorded: ${error.message}`);
              socket.destroy();
            },
          );
        });
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, options.host, resolve);
        });
        const bound = (server.address() as AddressInfo).port;
        await serveUntilInterrupted({
          json: globals().json,
          ready: { host: options.host, port: bound, hostname: options.hostname },
          text: () =>
            `cloud on ${options.host}:${bound} (mutual TLS; trusts ${options.ca}/ca.pem and its CRL; certificate for ${options.hostname})`,
          portFile: options.portFile,
          port: bound,
          close: [() => new Promise<void>((resolve) => server.close(() => resolve())), () => store.close()],
        });
      },
    );
}
