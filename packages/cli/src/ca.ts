// `iotsafe ca init|issue|revoke|crl`: the operator's certificate authority (@iotsafe/pki) in a
// directory — ca.pem, ca.key (sealed with the storage key, 0600), issued.json — so the certificate a
// walkthrough writes to the SIM is issued by a command, and revoked into a CRL (RFC 5280 §5) later.
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CertificateAuthority,
  CsrError,
  DEVICE_PROFILE,
  derFromPem,
  pem,
  REVOCATION_REASONS,
  RevocationError,
  type RevocationReason,
} from '@iotsafe/pki';
import { type Command, Option } from 'commander';
import { writeSecretFile } from './key-files.js';
import { emit } from './output.js';
import { bounded, openCa } from './pki-commands.js';
import { type GlobalOptions, storageKey, UsageError } from './session.js';

const days = (text: string) => bounded(text, '--days', 1, 36500);

export function registerCa(program: Command, globals: () => GlobalOptions): void {
  const ca = program
    .command('ca')
    .description('a local certificate authority (its key sealed with the storage key)');
  ca.command('init <dir>')
    .description('create a CA: DIR/ca.pem (certificate), DIR/ca.key (sealed, 0600), DIR/issued.json')
    .option('--cn <name>', 'its common name', 'iotsafe-stack local CA')
    .option('--days <n>', 'validity', '3650')
    .action(async (dir: string, options: { cn: string; days: string }) => {
      const authority = await CertificateAuthority.create({
        commonName: options.cn,
        days: days(options.days),
      });
      await authority.save(dir, storageKey(globals()));
      emit(
        globals().json,
        { directory: dir, certificate: join(dir, 'ca.pem') },
        () => `CA "${options.cn}" created in ${dir} (certificate ${join(dir, 'ca.pem')})`,
      );
    });

  ca.command('issue')
    .description('issue a client certificate for a CSR (its signature checked), or a server certificate')
    .requiredOption('--ca <dir>', 'the CA directory')
    .option('--csr <file>', 'a PKCS#10 request (PEM or DER), e.g. from `iotsafe csr`')
    .option('--server <hostname>', 'instead: a server certificate for HOSTNAME and 127.0.0.1, with a new key')
    .option('--key-out <file>', "with --server: where the server's key goes (PEM, 0600)")
    .requiredOption('--out <file>', 'the certificate (PEM)')
    .option('--days <n>', 'validity', '365')
    .action(
      async (options: {
        ca: string;
        csr?: string;
        server?: string;
        keyOut?: string;
        out: string;
        days: string;
      }) => {
        if ((options.csr === undefined) === (options.server === undefined))
          throw new UsageError('issue for --csr FILE or for --server HOSTNAME');
        if (options.server && !options.keyOut)
          throw new UsageError('--server needs --key-out FILE for its key');
        const authority = await openCa(options.ca, globals());
        let certificate: Uint8Array;
        if (options.csr) {
          const csr = derFromPem(new Uint8Array(readFileSync(options.csr)), 'CERTIFICATE REQUEST');
          try {
            certificate = await authority.issue(csr, { profile: DEVICE_PROFILE, days: days(options.days) });
          } catch (error) {
            throw error instanceof CsrError ? new UsageError(`${options.csr}: ${error.message}`) : error;
          }
        } else {
          const issued = await authority.issueServer(options.server!, days(options.days));
          writeSecretFile(options.keyOut!, issued.keyPem);
          certificate = issued.certificate;
        }
        writeFileSync(options.out, pem(certificate, 'CERTIFICATE'));
        const serial = new X509Certificate(certificate).serialNumber;
        const record = authority.find(serial)!;
        emit(
          globals().json,
          {
            file: options.out,
            serial: record.serial,
            subject: record.subject,
            notAfter: record.notAfter,
            role: record.role,
          },
          () =>
            `issued ${record.role} certificate ${options.out}: ${record.subject}, serial ${record.serial}, valid to ${record.notAfter}`,
        );
      },
    );

  ca.command('revoke')
    .description('revoke a certificate this CA issued (it goes into the next CRL)')
    .requiredOption('--ca <dir>', 'the CA directory')
    .option('--serial <hex>', 'its serial number')
    .option('--cert <file>', 'or the certificate itself (PEM or DER)')
    .addOption(
      new Option('--reason <reason>', 'RFC 5280 CRLReason')
        .choices(REVOCATION_REASONS)
        .default('unspecified'),
    )
    .action(async (options: { ca: string; serial?: string; cert?: string; reason: RevocationReason }) => {
      if ((options.serial === undefined) === (options.cert === undefined))
        throw new UsageError('revoke --serial HEX or --cert FILE');
      let serial = options.serial;
      if (options.cert) {
        try {
          serial = new X509Certificate(derFromPem(new Uint8Array(readFileSync(options.cert)), 'CERTIFICATE'))
            .serialNumber;
        } catch {
          throw new UsageError(`${options.cert} is not an X.509 certificate`);
        }
      }
      const authority = await openCa(options.ca, globals());
      let revoked: ReturnType<CertificateAuthority['revoke']>;
      try {
        revoked = authority.revoke(serial!, options.reason);
      } catch (error) {
        throw error instanceof RevocationError ? new UsageError(error.message) : error;
      }
      const { record, already } = revoked;
      emit(
        globals().json,
        {
          serial: record.serial,
          subject: record.subject,
          revokedAt: record.revokedAt,
          reason: record.reason,
          already,
        },
        () =>
          `${already ? 'already revoked' : 'revoked'}: serial ${record.serial} (${record.subject}), ${record.reason} at ${record.revokedAt}; make a CRL with \`iotsafe ca crl\``,
      );
    });

  ca.command('crl')
    .description('write a CRL (RFC 5280 §5, PEM) of every revoked certificate, with the next CRL number')
    .requiredOption('--ca <dir>', 'the CA directory')
    .requiredOption('--out <file>', 'where the CRL goes (PEM "X509 CRL")')
    .option('--days <n>', 'nextUpdate, in days from now', '7')
    .action(async (options: { ca: string; out: string; days: string }) => {
      const authority = await openCa(options.ca, globals());
      const days = bounded(options.days, '--days', 1, 3650);
      const der = await authority.crl({ days });
      writeFileSync(options.out, pem(der, 'X509 CRL'));
      const revoked = authority.issued.filter((r) => r.revokedAt).length;
      const nextUpdate = new Date(Date.now() + days * 86_400_000).toISOString();
      emit(
        globals().json,
        { file: options.out, number: authority.crlNumber, revoked, nextUpdate },
        () =>
          `CRL ${authority.crlNumber} written to ${options.out}: ${revoked} revoked, next update before ${nextUpdate}`,
      );
    });
}
