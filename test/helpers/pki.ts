// A throwaway PKI for TLS tests (test keys only): a CA, server certificates (valid, expired, for another
// host), and a client certificate, built with the protocol package's DER writer and node:crypto.
import { generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import {
  derBitString,
  derBoolean,
  derContext,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derSmallInteger,
  derTime,
  derUnsignedInteger,
  derUtf8String,
  OID,
} from '@iotsafe/protocol';

export interface Issued {
  certificatePem: string;
  certificateDer: Uint8Array;
  keyPem: string;
  key: KeyObject;
}

const pem = (der: Uint8Array, label: string) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
const name = (cn: string) => derSequence(derSet(derSequence(derOid(OID.commonName), derUtf8String(cn))));
const ext = (oid: string, critical: boolean, value: Uint8Array) =>
  derSequence(derOid(oid), ...(critical ? [derBoolean(true)] : []), derOctetString(value));

function subjectAltName(dns: readonly string[], ips: readonly string[]): Uint8Array {
  const entries = [
    ...dns.map((d) => derContext(2, Buffer.from(d, 'ascii'), true)),
    ...ips.map((ip) => derContext(7, Uint8Array.from(ip.split('.').map(Number)), true)),
  ];
  return ext('2.5.29.17', false, derSequence(...entries));
}

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
  const algorithm = derSequence(derOid(OID.ecdsaWithSha256));
  const extensions = [
    ext(OID.basicConstraints, true, o.ca ? derSequence(derBoolean(true)) : derSequence()),
    ext(
      OID.keyUsage,
      true,
      o.ca ? Uint8Array.of(0x03, 0x02, 0x01, 0x06) : Uint8Array.of(0x03, 0x02, 0x07, 0x80),
    ),
    ...(o.dns || o.ips ? [subjectAltName(o.dns ?? [], o.ips ?? [])] : []),
  ];
  const serial = randomBytes(12);
  serial[0]! &= 0x7f;
  const tbs = derSequence(
    derContext(0, derSmallInteger(2)),
    derUnsignedInteger(serial),
    algorithm,
    name(o.issuer?.commonName ?? o.commonName),
    derSequence(
      derTime(o.notBefore ?? new Date(Date.now() - 3600_000)),
      derTime(o.notAfter ?? new Date(Date.now() + 30 * 86_400_000)),
    ),
    name(o.commonName),
    spki,
    derContext(3, derSequence(...extensions)),
  );
  const signature = sign('sha256', tbs, o.issuer?.key ?? privateKey);
  const der = derSequence(tbs, algorithm, derBitString(new Uint8Array(signature)));
  return {
    commonName: o.commonName,
    certificateDer: der,
    certificatePem: pem(der, 'CERTIFICATE'),
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
