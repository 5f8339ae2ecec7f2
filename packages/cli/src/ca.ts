// `iotsafe ca init|issue`: a local certificate authority in a directory (certificate-authority.ts), so
// the certificate a walkthrough writes to the SIM is issued by a command. Revocation and CRLs come
// with credential rotation.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toPem } from '@iotsafe/device';
import type { Command } from 'commander';
import { CertificateAuthority, derFromPem } from './certificate-authority.js';
import { writeSecretFile } from './key-files.js';
import { emit } from './output.js';
import { type GlobalOptions, storageKey, UsageError } from './session.js';

function days(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 36500) throw new UsageError('--days takes 1 to 36500');
  return n;
}

export function registerCa(program: Command, globals: () => GlobalOptions): void {
  const ca = program
    .command('ca')
    .description('a local certificate authority (its key sealed with the storage key)');
  ca.command('init <dir>')
    .description('create a CA: DIR/ca.pem (certificate), DIR/ca.key (sealed, 0600), DIR/issued.json')
    .option('--cn <name>', 'its common name', 'iotsafe-stack local CA')
    .option('--days <n>', 'validity', '3650')
    .action((dir: string, options: { cn: string; days: string }) => {
      const authority = CertificateAuthority.create(options.cn, days(options.days));
      authority.save(dir, storageKey(globals()));
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
      (options: {
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
        const authority = CertificateAuthority.open(options.ca, storageKey(globals()));
        let certificate: Uint8Array;
        if (options.csr) {
          certificate = authority.issue(
            derFromPem(new Uint8Array(readFileSync(options.csr)), 'CERTIFICATE REQUEST'),
            days(options.days),
          );
        } else {
          const issued = authority.issueServer(options.server!, days(options.days));
          writeSecretFile(options.keyOut!, issued.keyPem);
          certificate = issued.certificate;
        }
        writeFileSync(options.out, toPem(certificate, 'CERTIFICATE'));
        authority.saveIssued(options.ca);
        const record = authority.issued[authority.issued.length - 1]!;
        emit(
          globals().json,
          { file: options.out, ...record },
          () =>
            `issued ${record.role} certificate ${options.out}: ${record.subject}, serial ${record.serial}, valid to ${record.notAfter}`,
        );
      },
    );
}
