// The operator's certificate authority: a P-256 key sealed at rest with the storage key (AES-256-GCM,
// protocol's seal) in an owner-only file, certificates issued from verified PKCS#10 requests under a
// profile, revocation, and CRLs (RFC 5280 §5) that OpenSSL and Node's tls check. X.509 by @peculiar/x509.
import { createHash, createPublicKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesToHex, derUnsignedInteger, seal, unseal } from '@iotsafe/protocol';
import { sameKey, type VerifiedCsr, verifyCsr } from './csr.js';
import { CaStoreError, CsrError, RevocationError } from './errors.js';
import {
  type CertificateProfile,
  DEVICE_PROFILE,
  endEntityExtensions,
  keyIdentifier,
  MAX_DAYS,
  SERVER_PROFILE,
  subjectFromIccid,
} from './profiles.js';
import {
  type CaRecords,
  type CaStore,
  DirectoryStore,
  type IssuedRecord,
  memoryStore,
  prepareDirectory,
  type RevocationReason,
  writeAtomic,
} from './store.js';
import { CA_ALGORITHM, derFromPem, pem, toDer, x509 } from './x509.js';

/** The context the CA key is sealed under (the CLI's CA directories use the same one). */
const KEY_CONTEXT = 'iotsafe ca key';
const DAY = 86_400_000;

export interface CreateCaOptions {
  commonName: string;
  organization?: string;
  /** Validity of the CA certificate (default ten years). */
  days?: number;
}

export interface IssueOptions {
  /** The profile (default DEVICE_PROFILE: clientAuth, 365 days). */
  profile?: CertificateProfile;
  /** Overrides the profile's validity. */
  days?: number;
  /** Subject CN = this ICCID (and O = the profile's organisation) instead of the CSR's subject. */
  iccid?: string;
  /**
   * The key the certificate must be for — the public key generated in the SIM for this rotation, as an
   * uncompressed point or a SubjectPublicKeyInfo: a CSR for any other key is refused.
   */
  expectedPublicKey?: Uint8Array;
  /** The subject the CSR must carry (DER Name), as EST re-enrolment requires (RFC 7030 §4.2.2). */
  expectedSubject?: Uint8Array;
}

export interface CrlOptions {
  /** nextUpdate after thisUpdate, in days (default 7). */
  days?: number;
}

export type CertificateStatus = 'valid' | 'revoked' | 'expired' | 'unknown';

const CRL_REASON: Record<RevocationReason, x509.X509CrlReason> = {
  unspecified: x509.X509CrlReason.unspecified,
  keyCompromise: x509.X509CrlReason.keyCompromise,
  affiliationChanged: x509.X509CrlReason.affiliationChanged,
  superseded: x509.X509CrlReason.superseded,
  cessationOfOperation: x509.X509CrlReason.cessationOfOperation,
};
export const REVOCATION_REASONS = Object.keys(CRL_REASON) as RevocationReason[];

function checkDays(days: number, what: string): number {
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS)
    throw new RangeError(`${what} takes 1 to ${MAX_DAYS} days`);
  return days;
}

/** A positive 16-byte serial (RFC 5280 §4.1.2.2: at most 20 octets, unpredictable), hex upper case. */
function randomSerial(): string {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40; // positive, and always 16 octets
  return serial.toString('hex').toUpperCase();
}

export class CertificateAuthority {
  private constructor(
    private readonly signingKey: webcrypto.CryptoKey,
    /** The CA certificate, DER. */
    readonly certificate: Uint8Array,
    private readonly store: CaStore,
  ) {}

  /** The CA certificate as PEM (the trust anchor devices and the cloud load). */
  get certificatePem(): string {
    return pem(this.certificate, 'CERTIFICATE');
  }

  private get parsed(): x509.X509Certificate {
    return new x509.X509Certificate(this.certificate);
  }

  /** The CA's key identifier: its certificate's (CAs made elsewhere may use another method), else ours. */
  private get keyId(): string {
    const own = this.parsed.getExtension(x509.SubjectKeyIdentifierExtension);
    return own?.keyId ?? keyIdentifier(new Uint8Array(this.parsed.publicKey.rawData));
  }

  /** The number of the last CRL made (RFC 5280 §5.2.3), 0 before the first. */
  get crlNumber(): number {
    return this.store.read().crlNumber;
  }

  /** Every certificate issued, with its revocation. */
  get issued(): IssuedRecord[] {
    return this.store.read().issued;
  }

  /** A new CA with a fresh P-256 key, in memory until save(). */
  static async create(options: CreateCaOptions): Promise<CertificateAuthority> {
    const keys = (await webcrypto.subtle.generateKey(CA_ALGORITHM, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const spki = new Uint8Array(await webcrypto.subtle.exportKey('spki', keys.publicKey));
    const name: x509.JsonName = [{ CN: [options.commonName] }];
    if (options.organization) name.push({ O: [options.organization] });
    const now = Date.now();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      name: new x509.Name(name),
      keys,
      serialNumber: randomSerial(),
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + checkDays(options.days ?? 3650, 'a CA') * DAY),
      signingAlgorithm: CA_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        new x509.SubjectKeyIdentifierExtension(keyIdentifier(spki)),
      ],
    });
    return new CertificateAuthority(keys.privateKey, toDer(certificate.rawData), memoryStore());
  }

  /** Writes a new CA directory (which must not exist or be empty): ca.pem, ca.key (sealed, 0600). */
  async save(dir: string, storageKey: Uint8Array): Promise<CertificateAuthority> {
    prepareDirectory(dir);
    const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', this.signingKey));
    const sealed = seal(storageKey, pkcs8, KEY_CONTEXT);
    pkcs8.fill(0);
    writeAtomic(join(dir, 'ca.key'), `${sealed}\n`, 0o600);
    chmodSync(join(dir, 'ca.key'), 0o600);
    writeFileSync(join(dir, 'ca.pem'), this.certificatePem);
    const store = new DirectoryStore(dir);
    const records = this.store.read();
    store.update((r) => {
      r.issued = records.issued;
      r.crlNumber = records.crlNumber;
    });
    return new CertificateAuthority(this.signingKey, this.certificate, store);
  }

  /** Opens a CA directory (this package's or the CLI's `iotsafe ca init`). */
  static async open(dir: string, storageKey: Uint8Array): Promise<CertificateAuthority> {
    let sealed: string;
    let certificatePem: Uint8Array;
    try {
      sealed = readFileSync(join(dir, 'ca.key'), 'utf8').trim();
      certificatePem = new Uint8Array(readFileSync(join(dir, 'ca.pem')));
    } catch {
      throw new CaStoreError(`${dir} is not a CA directory (no ca.key and ca.pem)`);
    }
    const key = await importSigningKey(sealed, storageKey, dir);
    return new CertificateAuthority(key, derFromPem(certificatePem, 'CERTIFICATE'), new DirectoryStore(dir));
  }

  /**
   * A certificate for the key of a CSR whose signature verifies, under `options.profile`. Refused with
   * a CsrError: a request that does not parse or verify, one for another key than the expected one, or
   * with another subject than the expected one.
   */
  async issue(csr: Uint8Array, options: IssueOptions = {}): Promise<Uint8Array> {
    const request = verifyCsr(csr);
    if (options.expectedPublicKey && !sameKey(request, options.expectedPublicKey))
      throw new CsrError('key-mismatch', 'the request is for another key than the one generated for it');
    if (options.expectedSubject && !sameName(request.subject, options.expectedSubject))
      throw new CsrError('subject', "the request's subject is not the current certificate's");
    const profile = options.profile ?? DEVICE_PROFILE;
    const subject = options.iccid
      ? subjectFromIccid(options.iccid, profile.organization)
      : new x509.Name(request.subject.slice().buffer);
    if (!options.iccid && request.subjectText === '')
      throw new CsrError('subject', 'the request has an empty subject');
    return this.sign(request, subject, profile, options.days ?? profile.days);
  }

  /** A server certificate and its software key for `hostname` and 127.0.0.1 (local TLS peers). */
  async issueServer(
    hostname: string,
    days = SERVER_PROFILE.days,
  ): Promise<{ certificate: Uint8Array; keyPem: string }> {
    const keys = (await webcrypto.subtle.generateKey(CA_ALGORITHM, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const spki = new Uint8Array(await webcrypto.subtle.exportKey('spki', keys.publicKey));
    const request: VerifiedCsr = {
      subject: new Uint8Array(new x509.Name([{ CN: [hostname] }]).toArrayBuffer()),
      subjectText: `CN=${hostname}`,
      publicKeyInfo: spki,
      publicKey: createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }),
    };
    const certificate = await this.sign(
      request,
      new x509.Name(request.subject.slice().buffer),
      SERVER_PROFILE,
      days,
      hostname,
    );
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
    pkcs8.fill(0);
    return { certificate, keyPem };
  }

  private async sign(
    request: VerifiedCsr,
    subject: x509.Name,
    profile: CertificateProfile,
    days: number,
    hostname?: string,
  ): Promise<Uint8Array> {
    checkDays(days, 'a certificate');
    const now = Date.now();
    const notBefore = new Date(Math.floor(now / 1000) * 1000 - 60_000);
    const notAfter = new Date(Math.floor(now / 1000) * 1000 + days * DAY);
    const issued = this.issued;
    let serial = randomSerial();
    while (issued.some((r) => r.serial === serial)) serial = randomSerial();
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject,
      issuer: this.parsed.subjectName,
      notBefore,
      notAfter,
      publicKey: new x509.PublicKey(request.publicKeyInfo),
      signingKey: this.signingKey,
      signingAlgorithm: CA_ALGORITHM,
      extensions: endEntityExtensions(
        profile.role,
        keyIdentifier(request.publicKeyInfo),
        this.keyId,
        hostname,
      ),
    });
    const der = toDer(certificate.rawData);
    const check = new X509Certificate(Buffer.from(der));
    if (!check.verify(new X509Certificate(Buffer.from(this.certificate)).publicKey))
      throw new Error('the issued certificate does not verify');
    const record: IssuedRecord = {
      serial: check.serialNumber.toUpperCase(),
      subject: check.subject.replace(/\n/g, ', '),
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
      role: profile.role,
      keySha256: createHash('sha256').update(request.publicKeyInfo).digest('hex'),
    };
    this.store.update((records) => {
      records.issued.push(record);
    });
    return der;
  }

  /** The record of `serial` (hex, any case, leading zeros ignored). */
  find(serial: string): IssuedRecord | undefined {
    return findIn(this.store.read(), serial);
  }

  /** valid, revoked, expired, or unknown (never issued here). */
  status(serial: string, at = new Date()): CertificateStatus {
    const record = this.find(serial);
    if (!record) return 'unknown';
    if (record.revokedAt) return 'revoked';
    return new Date(record.notAfter) < at ? 'expired' : 'valid';
  }

  /** Revokes `serial`; revoking it again keeps the first revocation and says so. */
  revoke(
    serial: string,
    reason: RevocationReason = 'unspecified',
  ): { record: IssuedRecord; already: boolean } {
    if (!REVOCATION_REASONS.includes(reason))
      throw new RevocationError(`unknown revocation reason ${reason}`);
    return this.store.update((records) => {
      const record = findIn(records, serial);
      if (!record) throw new RevocationError(`this CA issued no certificate with serial ${serial}`);
      if (record.revokedAt) return { record: { ...record }, already: true };
      record.revokedAt = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
      record.reason = reason;
      return { record: { ...record }, already: false };
    });
  }

  /** A new CRL (RFC 5280 §5) listing every revoked certificate, with the next CRL number; DER. */
  async crl(options: CrlOptions = {}): Promise<Uint8Array> {
    const days = checkDays(options.days ?? 7, 'a CRL');
    const number = this.store.update((records) => ++records.crlNumber);
    const revoked = this.issued.filter((r) => r.revokedAt);
    const now = Date.now();
    const crl = await x509.X509CrlGenerator.create({
      issuer: this.parsed.subjectName,
      thisUpdate: new Date(now),
      nextUpdate: new Date(now + days * DAY),
      signingAlgorithm: CA_ALGORITHM,
      signingKey: this.signingKey,
      entries: revoked.map((r) => ({
        serialNumber: r.serial,
        revocationDate: new Date(r.revokedAt!),
        reason: CRL_REASON[r.reason ?? 'unspecified'],
      })),
      extensions: [
        // RFC 5280 §5.2.3 cRLNumber and §5.2.1 authorityKeyIdentifier: both required of a conforming CA
        new x509.Extension('2.5.29.20', false, derUnsignedInteger(integerBytes(number))),
        new x509.AuthorityKeyIdentifierExtension(this.keyId),
      ],
    });
    return toDer(crl.rawData);
  }
}

async function importSigningKey(
  sealed: string,
  storageKey: Uint8Array,
  dir: string,
): Promise<webcrypto.CryptoKey> {
  let pkcs8: Uint8Array;
  try {
    pkcs8 = unseal(storageKey, sealed, KEY_CONTEXT);
  } catch {
    throw new CaStoreError(
      `the CA key in ${dir} does not open with this storage key (another key, or damaged)`,
    );
  }
  try {
    return await webcrypto.subtle.importKey('pkcs8', pkcs8, CA_ALGORITHM, false, ['sign']);
  } catch {
    throw new CaStoreError(`the CA key in ${dir} is not a P-256 key`);
  } finally {
    pkcs8.fill(0);
  }
}

const normalSerial = (serial: string) =>
  serial
    .replace(/[:\s]/g, '')
    .replace(/^0+(?=.)/, '')
    .toUpperCase();

function findIn(records: CaRecords, serial: string): IssuedRecord | undefined {
  const wanted = normalSerial(serial);
  return records.issued.find((r) => normalSerial(r.serial) === wanted);
}

function sameName(a: Uint8Array, b: Uint8Array): boolean {
  return (
    bytesToHex(a) === bytesToHex(b) ||
    new x509.Name(a.slice().buffer).toString() === new x509.Name(b.slice().buffer).toString()
  );
}

const integerBytes = (n: number) => Uint8Array.from(Buffer.from(n.toString(16).padStart(12, '0'), 'hex'));
