// A throwaway PKI for TLS tests (test keys only): a CA, server certificates (valid, expired, for another
// host), and a client certificate, built with the protocol package's X.509 writer and node:crypto; and
// chains the way cloud endpoints present them (RSA or P-384, with an intermediate CA).
import { createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { encodeName, toPem } from '@iotsafe/device';
import {
  basicExtensions,
  CERTIFICATE_SIGNATURE,
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

/** The key types the test PKI issues: the curves and RSA sizes servers present. */
export type TestKeyType = 'p256' | 'p384' | 'p521' | 'rsa2048' | 'rsa3072' | 'rsa4096';

const rsaKeys = new Map<TestKeyType, { keys: KeyObject[]; next: number }>();

/**
 * A key pair. RSA keys are slow to make and not under test: a process makes three per size and hands
 * them out in turn, so the three certificates of one chain never share a key.
 */
function keyPair(type: TestKeyType): { privateKey: KeyObject; publicKey: KeyObject } {
  if (type.startsWith('rsa')) {
    const pool = rsaKeys.get(type) ?? { keys: [], next: 0 };
    rsaKeys.set(type, pool);
    if (pool.keys.length < 3)
      pool.keys.push(generateKeyPairSync('rsa', { modulusLength: Number(type.slice(3)) }).privateKey);
    const privateKey = pool.keys[pool.next++ % pool.keys.length]!;
    return { privateKey, publicKey: createPublicKey(privateKey) };
  }
  const namedCurve = { p256: 'prime256v1', p384: 'secp384r1', p521: 'secp521r1' }[type as 'p256'];
  return generateKeyPairSync('ec', { namedCurve });
}

/** How a key signs a certificate: its hash and AlgorithmIdentifier. */
function certificateSignature(key: KeyObject): { hash: string; algorithm: Uint8Array } {
  if (key.asymmetricKeyType === 'rsa') return { hash: 'sha256', algorithm: CERTIFICATE_SIGNATURE.rsaSha256 };
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === 'secp384r1') return { hash: 'sha384', algorithm: CERTIFICATE_SIGNATURE.ecdsaSha384 };
  if (curve === 'secp521r1') return { hash: 'sha512', algorithm: CERTIFICATE_SIGNATURE.ecdsaSha512 };
  return { hash: 'sha256', algorithm: CERTIFICATE_SIGNATURE.ecdsaSha256 };
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
  /** The key to generate (default P-256). */
  keyType?: TestKeyType;
}

export function issue(o: IssueOptions): Issued & { commonName: string } {
  const { privateKey, publicKey } = keyPair(o.keyType ?? 'p256');
  const spki = o.publicKeySpki ?? new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const issuerKey = o.issuer?.key ?? privateKey;
  const signature = certificateSignature(issuerKey);
  const serial = randomBytes(12);
  serial[0]! &= 0x7f;
  const tbs = encodeTbsCertificate({
    serial,
    issuer: name(o.issuer?.commonName ?? o.commonName),
    subject: name(o.commonName),
    notBefore: o.notBefore ?? new Date(Date.now() - 3600_000),
    notAfter: o.notAfter ?? new Date(Date.now() + 30 * 86_400_000),
    publicKeyInfo: spki,
    signatureAlgorithm: signature.algorithm,
    extensions: [
      ...basicExtensions(o.ca ? 'ca' : 'endEntity'),
      ...(o.dns || o.ips ? [subjectAltNameExtension(o.dns ?? [], o.ips ?? [])] : []),
    ],
  });
  const der = encodeCertificate(
    tbs,
    new Uint8Array(sign(signature.hash, tbs, issuerKey)),
    signature.algorithm,
  );
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

/**
 * A chain as cloud endpoints present theirs: a root CA, an intermediate, and a leaf for localhost and
 * 127.0.0.1, each of the given key types; the device's CA and client certificate (P-256) beside it.
 */
export function serverChain(types: { root: TestKeyType; intermediate: TestKeyType; leaf: TestKeyType }) {
  const root = issue({ commonName: `test root CA ${types.root} (test key)`, ca: true, keyType: types.root });
  const intermediate = issue({
    commonName: `test intermediate CA ${types.intermediate} (test key)`,
    ca: true,
    issuer: root,
    keyType: types.intermediate,
  });
  const leaf = issue({
    commonName: 'localhost',
    issuer: intermediate,
    dns: ['localhost'],
    ips: ['127.0.0.1'],
    keyType: types.leaf,
  });
  return {
    root,
    intermediate,
    leaf,
    /** What the server sends: leaf, then intermediate (PEM). */
    chainPem: leaf.certificatePem + intermediate.certificatePem,
  };
}
