// A small certificate authority for the demo and `iotsafe ca`: X.509 certificates (RFC 5280) issued from
// PKCS#10 requests signed in the SIM, and server certificates for local TLS peers. `iotsafe ca init DIR`
// keeps it in a directory: ca.pem (certificate), ca.key (P-256 key, PKCS#8 sealed with the storage key,
// owner-only) and issued.json (serial, subject, validity of each certificate, for revocation later).
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
  X509Certificate,
} from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeName, toPem } from '@iotsafe/device';
import {
  basicExtensions,
  decodeBerTlvs,
  derContext,
  derOctetString,
  derOid,
  derSequence,
  digest,
  encodeBerTlv,
  encodeCertificate,
  encodeTbsCertificate,
  OID,
  seal,
  subjectAltNameExtension,
  unseal,
  x509Extension,
} from '@iotsafe/protocol';
import { writeSecretFile } from './key-files.js';
import { UsageError } from './usage.js';

/** The parts of a CSR a CA needs, each as its full DER encoding; throws when the signature is wrong. */
function readCsr(csr: Uint8Array): { subject: Uint8Array; publicKeyInfo: Uint8Array } {
  const [outer] = decodeBerTlvs(csr);
  if (outer?.tag !== 0x30) throw new UsageError('not a PKCS#10 request');
  const [info, , signature] = decodeBerTlvs(outer.value);
  if (!info || !signature) throw new UsageError('not a PKCS#10 request');
  const [, subject, publicKeyInfo] = decodeBerTlvs(info.value);
  if (!subject || !publicKeyInfo) throw new UsageError('not a PKCS#10 request');
  const spki = encodeBerTlv(publicKeyInfo.tag, publicKeyInfo.value);
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  if (!verify('sha256', encodeBerTlv(info.tag, info.value), key, signature.value.subarray(1))) {
    throw new UsageError('the request signature does not verify');
  }
  return { subject: encodeBerTlv(subject.tag, subject.value), publicKeyInfo: spki };
}

/** DER of a PEM (the first block with `label`) or the bytes themselves when they are not PEM. */
export function derFromPem(bytes: Uint8Array, label: string): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1');
  const m = new RegExp(`-----BEGIN ${label}-----([^-]*)-----END ${label}-----`).exec(text);
  return m ? new Uint8Array(Buffer.from(m[1]!.replace(/\s/g, ''), 'base64')) : bytes;
}

export interface IssuedRecord {
  serial: string;
  subject: string;
  notAfter: string;
  role: 'client' | 'server';
}

const KEY_CONTEXT = 'iotsafe ca key';
type Role = 'ca' | 'client' | { server: string };

export class CertificateAuthority {
  readonly issued: IssuedRecord[] = [];

  private constructor(
    private readonly privateKey: KeyObject,
    readonly certificate: Uint8Array,
  ) {}

  private get name(): Uint8Array {
    const [outer] = decodeBerTlvs(this.certificate);
    const [tbs] = decodeBerTlvs(outer!.value);
    // TBSCertificate: [0] version, serial, signature algorithm, issuer, validity, subject, …
    const fields = decodeBerTlvs(tbs!.value);
    const subject = fields[5]!;
    return encodeBerTlv(subject.tag, subject.value);
  }

  private get keyId(): Uint8Array {
    const spki = new Uint8Array(createPublicKey(this.privateKey).export({ format: 'der', type: 'spki' }));
    return digest('sha256', spki).subarray(0, 20);
  }

  /** A new CA with a fresh P-256 key, valid for `days`. */
  static create(commonName: string, days = 3650): CertificateAuthority {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
    const name = encodeName({ commonName, organization: 'iotsafe-stack' });
    const keyId = digest('sha256', spki).subarray(0, 20);
    const tbs = certificateBody(name, name, spki, days, 'ca', keyId);
    const certificate = encodeCertificate(tbs, new Uint8Array(sign('sha256', tbs, privateKey)));
    return new CertificateAuthority(privateKey, certificate);
  }

  /** Writes a new CA directory; refuses a directory that holds anything. */
  save(dir: string, storageKey: Uint8Array): void {
    if (existsSync(dir) && readdirSync(dir).length > 0)
      throw new UsageError(`${dir} exists and is not empty`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pkcs8 = new Uint8Array(this.privateKey.export({ format: 'der', type: 'pkcs8' }));
    writeSecretFile(join(dir, 'ca.key'), `${seal(storageKey, pkcs8, KEY_CONTEXT)}\n`);
    writeFileSync(join(dir, 'ca.pem'), toPem(this.certificate, 'CERTIFICATE'));
    this.saveIssued(dir);
  }

  static open(dir: string, storageKey: Uint8Array): CertificateAuthority {
    let sealed: string;
    let pem: Uint8Array;
    try {
      sealed = readFileSync(join(dir, 'ca.key'), 'utf8').trim();
      pem = new Uint8Array(readFileSync(join(dir, 'ca.pem')));
    } catch {
      throw new UsageError(`${dir} is not a CA directory (make one with \`iotsafe ca init ${dir}\`)`);
    }
    let pkcs8: Uint8Array;
    try {
      pkcs8 = unseal(storageKey, sealed, KEY_CONTEXT);
    } catch {
      throw new UsageError(`the CA key in ${dir} was sealed with another storage key`);
    }
    const key = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
    const ca = new CertificateAuthority(key, derFromPem(pem, 'CERTIFICATE'));
    const issuedFile = join(dir, 'issued.json');
    if (existsSync(issuedFile))
      ca.issued.push(...(JSON.parse(readFileSync(issuedFile, 'utf8')) as IssuedRecord[]));
    return ca;
  }

  saveIssued(dir: string): void {
    writeFileSync(join(dir, 'issued.json'), `${JSON.stringify(this.issued, null, 2)}\n`);
  }

  private build(subject: Uint8Array, subjectKey: Uint8Array, days: number, role: Role): Uint8Array {
    const tbs = certificateBody(this.name, subject, subjectKey, days, role, this.keyId);
    const der = encodeCertificate(tbs, new Uint8Array(sign('sha256', tbs, this.privateKey)));
    const x509 = new X509Certificate(Buffer.from(der));
    if (!x509.verify(createPublicKey(this.privateKey))) throw new Error('issued certificate does not verify');
    this.issued.push({
      serial: x509.serialNumber,
      subject: x509.subject.replace(/\n/g, ', '),
      notAfter: new Date(x509.validTo).toISOString(),
      role: role === 'client' ? 'client' : 'server',
    });
    return der;
  }

  /** A client certificate (clientAuth) for the key and subject of a verified CSR. */
  issue(csr: Uint8Array, days = 365): Uint8Array {
    const { subject, publicKeyInfo } = readCsr(csr);
    return this.build(subject, publicKeyInfo, days, 'client');
  }

  /** A server certificate and its software key for `hostname` (and 127.0.0.1): local TLS peers. */
  issueServer(hostname: string, days = 30): { certificate: Uint8Array; keyPem: string } {
    const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const spki = new Uint8Array(pair.publicKey.export({ format: 'der', type: 'spki' }));
    const certificate = this.build(encodeName({ commonName: hostname }), spki, days, { server: hostname });
    return { certificate, keyPem: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
  }
}

function certificateBody(
  issuer: Uint8Array,
  subject: Uint8Array,
  subjectKey: Uint8Array,
  days: number,
  role: Role,
  caKeyId: Uint8Array,
): Uint8Array {
  const now = Date.now();
  const extensions =
    role === 'ca'
      ? [...basicExtensions('ca'), x509Extension(OID.subjectKeyIdentifier, false, derOctetString(caKeyId))]
      : [
          ...basicExtensions('endEntity'),
          x509Extension(
            OID.extKeyUsage,
            false,
            derSequence(derOid(role === 'client' ? OID.clientAuth : OID.serverAuth)),
          ),
          x509Extension(OID.authorityKeyIdentifier, false, derSequence(derContext(0, caKeyId, true))),
          ...(role === 'client' ? [] : [subjectAltNameExtension([role.server], ['127.0.0.1'])]),
        ];
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  return encodeTbsCertificate({
    serial,
    issuer,
    subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + days * 86_400_000),
    publicKeyInfo: subjectKey,
    extensions,
  });
}
