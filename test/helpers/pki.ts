// A throwaway PKI for TLS tests (test keys only): a CA, server certificates (valid, expired, for another
// host), and a client certificate, built with the protocol package's X.509 writer and node:crypto.
import { generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { encodeName, toPem } from '@iotsafe/device';
import {
  basicExtensions,
  encodeCertificate,
  encodeTbsCertificate,
  subjectAltNameExtension,
} from '@iotsafe/protocol';
import { type ConnectOptions, connect, type TlsClientSocket } from '@iotsafe/tls';

export interface Issued {
  certificatePem: string;
  certificateDer: Uint8Array;
  keyPem: string;
  key: KeyObject;
}

const name = (commonName: string) => encodeName({ commonName });

export interface IssueOptions {
  commonName: string;
  issuer?: Issued & { commonName: string };
  ca?: boolean;
  dns?: readonly string[];
  ips?: readonly string[];
  notBefore?: Date;
  notAfter?: Date;
  /** Certify this key (SubjectPublicKeyInfo DER) instead of a freshly generated one — a SIM's key. */
  publicKeySpki?: Uint8Array;
}

export function issue(o: IssueOptions): Issued & { commonName: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = o.publicKeySpki ?? new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const serial = randomBytes(12);
  serial[0]! &= 0x7f;
  const tbs = encodeTbsCertificate({
    serial,
    issuer: name(o.issuer?.commonName ?? o.commonName),
    subject: name(o.commonName),
    notBefore: o.notBefore ?? new Date(Date.now() - 3600_000),
    notAfter: o.notAfter ?? new Date(Date.now() + 30 * 86_400_000),
    publicKeyInfo: spki,
    extensions: [
      ...basicExtensions(o.ca ? 'ca' : 'endEntity'),
      ...(o.dns || o.ips ? [subjectAltNameExtension(o.dns ?? [], o.ips ?? [])] : []),
    ],
  });
  const der = encodeCertificate(tbs, new Uint8Array(sign('sha256', tbs, o.issuer?.key ?? privateKey)));
  return {
    commonName: o.commonName,
    certificateDer: der,
    certificatePem: toPem(der, 'CERTIFICATE'),
    key: privateKey,
    keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

export function testPki() {
  const ca = issue({ commonName: 'iotsafe test CA (test key)', ca: true });
  const server = issue({ commonName: 'localhost', issuer: ca, dns: ['localhost'], ips: ['127.0.0.1'] });
  const client = issue({ commonName: 'device-0001', issuer: ca });
  const expired = issue({
    commonName: 'localhost',
    issuer: ca,
    dns: ['localhost'],
    notBefore: new Date(Date.now() - 10 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
  });
  const otherHost = issue({ commonName: 'example.org', issuer: ca, dns: ['example.org'] });
  const strangerCa = issue({ commonName: 'another CA', ca: true });
  const untrusted = issue({
    commonName: 'localhost',
    issuer: strangerCa,
    dns: ['localhost'],
    ips: ['127.0.0.1'],
  });
  return { ca, server, client, expired, otherHost, untrusted };
}

/** Options for a server with the test PKI's certificate that requires a client certificate from its CA. */
export function mutualTlsOptions(pki: ReturnType<typeof testPki>) {
  return {
    key: pki.server.keyPem,
    cert: pki.server.certificatePem,
    ca: pki.ca.certificatePem,
    requestCert: true,
    rejectUnauthorized: true,
  };
}

/** Our TLS client to a server of the test PKI on 127.0.0.1 (its certificate names localhost). */
export function connectToTestServer(
  pki: { ca: Issued },
  port: number,
  options: Partial<ConnectOptions> = {},
): TlsClientSocket {
  return connect({ host: '127.0.0.1', servername: 'localhost', port, ca: pki.ca.certificatePem, ...options });
}

/** The server certificate, its key and the CA as PEM: what openssl s_server and mosquitto are given. */
export const serverPems = (pki: ReturnType<typeof testPki>) => ({
  cert: pki.server.certificatePem,
  key: pki.server.keyPem,
  ca: pki.ca.certificatePem,
});
