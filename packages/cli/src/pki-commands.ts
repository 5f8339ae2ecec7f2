import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  byId,
  EstError,
  IoTSafe,
  MemoryTransport,
  RenewalSlotError,
  renewCertificate,
  TransportError,
} from '@iotsafe/device';
import { CaStoreError, CertificateAuthority, pem, startEstServer } from '@iotsafe/pki';
import { bytesToHex } from '@iotsafe/protocol';
import type { Command } from 'commander';
import { warnIfExposed } from './key-files.js';
import { emit, printError } from './output.js';
import { type GlobalOptions, openSim, storageKey, UsageError } from './session.js';
import { serveUntilInterrupted } from './wait.js';

export function bounded(text: string, what: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${what} takes ${min} to ${max}`);
  return n;
}

/** The CA's own errors as the CLI's: a directory that cannot be used, a serial it never issued. */
export async function openCa(dir: string, globals: GlobalOptions): Promise<CertificateAuthority> {
  try {
    return await CertificateAuthority.open(dir, storageKey(globals));
  } catch (error) {
    throw error instanceof CaStoreError ? new UsageError(error.message) : error;
  }
}

function hexId(text: string, what: string): string {
  if (!/^([0-9a-fA-F]{2}){1,20}$/.test(text)) throw new UsageError(`${what} takes 1 to 20 bytes of hex`);
  return text;
}

export function registerPki(program: Command, globals: () => GlobalOptions): void {
  const est = program.command('est').description('EST (RFC 7030): certificate enrolment over HTTPS');
  est
    .command('serve')
    .description('run an EST server in front of a CA directory until interrupted')
    .requiredOption('--ca <dir>', 'the CA directory')
    .option('--hostname <name>', 'the name in its server certificate (and 127.0.0.1)', 'localhost')
    .option('--host <address>', 'where to listen', '127.0.0.1')
    .option('--port <n>', 'port (default: a free one)', '0')
    .option('--port-file <file>', 'write the port there once listening')
    .option('--days <n>', 'validity of the certificates it issues', '365')
    .option('--basic-user <name>', 'also take HTTP Basic for simpleenroll, as this user')
    .option('--basic-password-file <file>', "that user's password (a file: never on the command line)")
    .action(
      async (options: {
        ca: string;
        hostname: string;
        host: string;
        port: string;
        portFile?: string;
        days: string;
        basicUser?: string;
        basicPasswordFile?: string;
      }) => {
        if ((options.basicUser === undefined) !== (options.basicPasswordFile === undefined))
          throw new UsageError('HTTP Basic takes both --basic-user and --basic-password-file');
        let basic: { username: string; password: string } | undefined;
        if (options.basicUser) {
          warnIfExposed(options.basicPasswordFile!, 'holds a password');
          const password = readFileSync(options.basicPasswordFile!, 'utf8').trim();
          if (password.length < 12) throw new UsageError('the Basic password must be at least 12 characters');
          basic = { username: options.basicUser, password };
        }
        const authority = await openCa(options.ca, globals());
        const days = bounded(options.days, '--days', 1, 36500);
        const credential = await authority.issueServer(options.hostname);
        const server = await startEstServer({
          ca: authority,
          tls: { key: credential.keyPem, cert: pem(credential.certificate, 'CERTIFICATE') },
          host: options.host,
          port: bounded(options.port, '--port', 0, 65535),
          profile: { role: 'client', days },
          ...(basic ? { basic } : {}),
          log: (line) => printError(`est: ${line}`),
        });
        const caFile = join(options.ca, 'ca.pem');
        const auth = basic ? 'client certificate, or HTTP Basic for simpleenroll' : 'client certificate';
        await serveUntilInterrupted({
          json: globals().json,
          ready: { url: server.url, hostname: options.hostname, ca: caFile, auth },
          text: () =>
            `EST server on ${server.url}.well-known/est/ (${auth}); its certificate names ${options.hostname}, trust ${caFile}`,
          portFile: options.portFile,
          port: server.port,
          close: [() => server.close()],
        });
      },
    );

  program
    .command('renew')
    .description(
      'renew the SIM credential over EST: new key in the SIM, CSR signed there, mTLS with the current one',
    )
    .requiredOption('--est <url>', 'the EST server, https://HOST[:PORT]/')
    .requiredOption('--ca-cert <file>', "the EST server's trust anchor (PEM), e.g. the CA's ca.pem")
    .option('--servername <name>', "the name the server's certificate must carry (default: the URL's host)")
    .option('--key-id <hex>', 'the current private key container', '01')
    .option('--cert-id <hex>', "the current certificate's file container", '02')
    .requiredOption('--next-key-id <hex>', 'the key container for the new key (it is generated there)')
    .requiredOption('--next-cert-id <hex>', 'the file container for the new certificate')
    .option('--fraction <f>', 'renew once this fraction of the validity has passed', String(2 / 3))
    .option('--force', 'renew even when not due')
    .option('--attempts <n>', 'tries per EST request (network failures, 5xx, Retry-After)', '3')
    .action(
      async (options: {
        est: string;
        caCert: string;
        servername?: string;
        keyId: string;
        certId: string;
        nextKeyId: string;
        nextCertId: string;
        fraction: string;
        force?: boolean;
        attempts: string;
      }) => {
        const g = globals();
        if (g.reader || g.modem || g.tcp)
          throw new UsageError(
            'renew writes the new certificate from the host side: it takes a SIM directory (--sim DIR); a real SIM gets it by remote administration',
          );
        const fraction = Number(options.fraction);
        if (!(fraction > 0 && fraction <= 1)) throw new UsageError('--fraction is in (0, 1]');
        let ca: string;
        try {
          ca = readFileSync(options.caCert, 'utf8');
        } catch {
          throw new UsageError(`cannot read ${options.caCert}`);
        }
        const sim = openSim(g);
        const iotsafe = await IoTSafe.connect(
          new MemoryTransport(sim.card),
          g.trace ? { trace: (l) => printError(l) } : {},
        );
        try {
          const result = await renewCertificate({
            iotsafe,
            endpoint: {
              url: options.est,
              ca,
              ...(options.servername ? { servername: options.servername } : {}),
            },
            current: {
              privateKey: byId(hexId(options.keyId, '--key-id')),
              certificate: byId(hexId(options.certId, '--cert-id')),
            },
            next: {
              privateKey: byId(hexId(options.nextKeyId, '--next-key-id')),
              certificate: byId(hexId(options.nextCertId, '--next-cert-id')),
            },
            writeCertificate: (file, der) => sim.writeFile(file, der),
            policy: { fraction },
            force: options.force === true,
            retry: { attempts: bounded(options.attempts, '--attempts', 1, 10) },
          });
          const active = {
            keyId: bytesToHex(
              'id' in result.active.privateKey ? result.active.privateKey.id : new Uint8Array(0),
            ),
            certId: bytesToHex(
              'id' in result.active.certificate ? result.active.certificate.id : new Uint8Array(0),
            ),
          };
          emit(
            globals().json,
            {
              renewed: result.renewed,
              dueAt: result.dueAt.toISOString(),
              active,
              ...(result.serial ? { serial: result.serial, notAfter: result.notAfter!.toISOString() } : {}),
              attempts: result.attempts,
            },
            () =>
              result.renewed
                ? `renewed: key ${active.keyId}, certificate ${active.certId} (serial ${result.serial}, valid to ${result.notAfter!.toISOString()}); use them from now on`
                : `not due until ${result.dueAt.toISOString()} (pass --force to renew now); key ${active.keyId}, certificate ${active.certId} stay`,
          );
        } catch (error) {
          if (error instanceof EstError && error.kind === 'transport')
            throw new TransportError(error.message);
          if (error instanceof RenewalSlotError) throw new UsageError(error.message);
          throw error;
        } finally {
          await iotsafe.close();
          sim.close();
        }
      },
    );
}
