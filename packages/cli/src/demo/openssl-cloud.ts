// The rotation chapter's second cloud: `openssl s_server` with the CA's CRL checked in the handshake
// (-CRL -crl_check -verify_return_error), so that a revoked client certificate is refused for what it
// is — a certificate_revoked alert (RFC 8446 §6.2, code 44) — where Node's server checks chain and CRL
// only after the handshake. Started on 127.0.0.1 (a free port, read from its ACCEPT line), stopped by
// the chapter; it answers each line with the line reversed (-rev).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toPem } from '@iotsafe/device';
import type { CertificateAuthority } from '@iotsafe/pki';

export interface OpensslCloud {
  port: number;
  close(): Promise<void>;
}

/** Whether `openssl` can be run here (the demo says so and keeps Node's refusal when it cannot). */
export const opensslPresent = (): boolean =>
  spawnSync('openssl', ['version'], { stdio: 'ignore' }).error === undefined;

/** Starts s_server in `dir` for TLS 1.3 with a required client certificate from `ca`, its CRL checked. */
export async function startOpensslCloud(ca: CertificateAuthority, dir: string): Promise<OpensslCloud> {
  const server = await ca.issueServer('localhost', 1);
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text, { mode: 0o600 });
    return join(dir, name);
  };
  const args = [
    's_server',
    '-accept',
    '127.0.0.1:0',
    '-tls1_3',
    '-cert',
    file('openssl-cloud.pem', toPem(server.certificate, 'CERTIFICATE')),
    '-key',
    file('openssl-cloud.key', server.keyPem),
    '-CAfile',
    file('openssl-cloud-ca.pem', ca.certificatePem),
    '-CRL',
    file('openssl-cloud-crl.pem', toPem(await ca.crl(), 'X509 CRL')),
    '-crl_check',
    '-Verify',
    '1',
    '-verify_return_error',
    '-rev',
  ];
  const child: ChildProcess = spawn('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`openssl s_server did not start: ${output}`)), 10_000);
    const read = (chunk: Buffer) => {
      output += chunk;
      const match = /^ACCEPT 127\.0\.0\.1:(\d+)$/m.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`openssl s_server exited (${code}): ${output}`));
    });
  });
  return {
    port,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
