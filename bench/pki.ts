// The operator's PKI: certificates issued per second by the CA from a P-256 CSR, and EST enrolments per
// second over HTTPS with mutual TLS (a new connection each, Node's https as the client), against the
// same server's cacerts on a new connection (the TLS and HTTP cost alone).
import { webcrypto } from 'node:crypto';
import { request } from 'node:https';
import { CertificateAuthority, pem, startEstServer } from '@iotsafe/pki';
import { x509 } from '../packages/pki/src/x509.js';
import { measure, printTable } from './harness.js';

const P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export async function pkiBenchmarks(): Promise<void> {
  const ca = await CertificateAuthority.create({ commonName: 'bench CA (test key)' });
  const keys = (await webcrypto.subtle.generateKey(P256, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const csr = new Uint8Array(
    (
      await x509.Pkcs10CertificateRequestGenerator.create({
        name: 'CN=bench-device',
        keys,
        signingAlgorithm: P256,
      })
    ).rawData,
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  const clientKey = `-----BEGIN PRIVATE KEY-----\n${pkcs8}\n-----END PRIVATE KEY-----\n`;
  const clientCert = pem(await ca.issue(csr), 'CERTIFICATE');
  const credential = await ca.issueServer('localhost');
  const server = await startEstServer({
    ca,
    tls: { key: credential.keyPem, cert: pem(credential.certificate, 'CERTIFICATE') },
  });
  const body = Buffer.from(csr).toString('base64');
  const call = (operation: string, post: boolean) =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        `${server.url}.well-known/est/${operation}`,
        {
          method: post ? 'POST' : 'GET',
          ca: ca.certificatePem,
          key: clientKey,
          cert: clientCert,
          agent: false,
          headers: post ? { 'Content-Type': 'application/pkcs10' } : {},
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(post ? body : undefined);
    });
  try {
    const issue = await measure('CA issue from a P-256 CSR (in process)', () => ca.issue(csr));
    const cacerts = await measure('EST cacerts, new mTLS connection (baseline)', () =>
      call('cacerts', false),
    );
    const enroll = await measure('EST simpleenroll, new mTLS connection', () => call('simpleenroll', true));
    printTable('PKI (CA and EST server in process; ratio = time against cacerts on a new connection)', [
      { name: issue.name, value: issue.opsPerSecond.toFixed(0), unit: 'certs/s' },
      { name: cacerts.name, value: cacerts.opsPerSecond.toFixed(0), unit: 'req/s', ratio: '1.00' },
      {
        name: enroll.name,
        value: enroll.opsPerSecond.toFixed(0),
        unit: 'enrolments/s',
        ratio: (enroll.microseconds / cacerts.microseconds).toFixed(2),
      },
    ]);
  } finally {
    await server.close();
  }
}
