// An EST server for tests on 127.0.0.1 in front of a fresh CA, and a client credential from it, written
// where curl and openssl read them (test keys only).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateAuthority, type EstServerOptions, pem, startEstServer } from '../src/index.js';
import { softwareCsr, tempDir } from './csr-helpers.js';

export const BASIC = { username: 'factory', password: 'test-bootstrap-secret' }; // TEST credential

export async function estFixture(options: Partial<EstServerOptions> = {}) {
  const dir = tempDir('est');
  const ca = await CertificateAuthority.create({ commonName: 'Operator Test CA' });
  const serverCredential = await ca.issueServer('est.test');
  const server = await startEstServer({
    ca,
    tls: { key: serverCredential.keyPem, cert: pem(serverCredential.certificate, 'CERTIFICATE') },
    basic: BASIC,
    ...options,
  });
  writeFileSync(join(dir, 'ca.pem'), ca.certificatePem);
  /** A client credential the CA issued, in DIR/NAME.key and DIR/NAME.pem. */
  async function client(name: string, subject = `CN=${name}`) {
    const { csr, keyPem } = await softwareCsr(subject);
    const certificate = await ca.issue(csr);
    writeFileSync(join(dir, `${name}.key`), keyPem, { mode: 0o600 });
    writeFileSync(join(dir, `${name}.pem`), pem(certificate, 'CERTIFICATE'));
    return { certificate, keyPem, key: join(dir, `${name}.key`), cert: join(dir, `${name}.pem`) };
  }
  return { dir, ca, server, client, caFile: join(dir, 'ca.pem') };
}
