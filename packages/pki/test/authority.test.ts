// The operator's CA: certificates from CSRs signed in the SIM (checked by OpenSSL), profiles, refusals
// (a request signed by another key, for another key than the rotation's, or damaged), the key sealed at
// rest in an owner-only file, revocation and a CRL that OpenSSL and Node's tls enforce.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { connect } from 'node:tls';
import { decodeBerTlvs, encodeBerTlv } from '@iotsafe/protocol';
import { peerAvailable, startNodeTlsServer } from '../../../test/helpers/peers.js';
import { CaStoreError, CertificateAuthority, CsrError, pem, RevocationError } from '../src/index.js';
import { opensslVerify, STORAGE_KEY, simCsr, softwareCsr, tempDir } from './csr-helpers.js';

const openssl = peerAvailable('openssl');
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

describe('certificate authority', () => {
  test('a CSR signed in the SIM: a clientAuth certificate for its key, with a random 16-byte serial, that OpenSSL verifies', {
    skip: openssl === true ? false : openssl,
  }, async () => {
    const ca = await CertificateAuthority.create({ commonName: 'Operator Test CA', organization: 'iotsafe' });
    const { csr, point } = await simCsr();
    const der = await ca.issue(csr, { expectedPublicKey: point, days: 90 });
    const certificate = new X509Certificate(Buffer.from(der));
    assert.equal(certificate.subject, 'CN=8944000000000000017');
    assert.equal(certificate.issuer, 'CN=Operator Test CA\nO=iotsafe');
    assert.deepEqual(certificate.keyUsage, [CLIENT_AUTH]);
    assert.equal(certificate.serialNumber.length, 32);
    assert.ok(
      certificate.publicKey.export({ format: 'der', type: 'spki' }).subarray(-65).equals(Buffer.from(point)),
    );
    const days = (Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)) / 86_400_000;
    assert.ok(days > 90 && days < 90.01, `validity ${days} days`);
    assert.match(opensslVerify(ca.certificatePem, der), /: OK/);
    assert.equal(ca.issued.length, 1);
    assert.equal(ca.status(certificate.serialNumber), 'valid');
  });

  test('subject from the ICCID under the profile: CN = ICCID, O = the organisation', async () => {
    const ca = await CertificateAuthority.create({ commonName: 'Operator Test CA' });
    const { csr } = await simCsr('anything');
    const der = await ca.issue(csr, {
      iccid: '89440000000000000017',
      profile: { role: 'client', days: 30, organization: 'Operator' },
    });
    assert.equal(new X509Certificate(Buffer.from(der)).subject, 'CN=89440000000000000017\nO=Operator');
    await assert.rejects(
      ca.issue(csr, { iccid: '8944-bad' }),
      (e: unknown) => e instanceof CsrError && e.problem === 'subject',
    );
  });

  test('refused with a typed error: a CSR signed by another key, one for another key than the rotation generated, damaged bytes', async () => {
    const ca = await CertificateAuthority.create({ commonName: 'Operator Test CA' });
    const a = await simCsr();
    const b = await softwareCsr();
    // A's request info with B's signature: the signature does not verify with A's key
    const [outerA] = decodeBerTlvs(a.csr);
    const [outerB] = decodeBerTlvs(b.csr);
    const [infoA, algA] = decodeBerTlvs(outerA!.value);
    const [, , sigB] = decodeBerTlvs(outerB!.value);
    const forged = encodeBerTlv(
      0x30,
      Buffer.concat([
        encodeBerTlv(infoA!.tag, infoA!.value),
        encodeBerTlv(algA!.tag, algA!.value),
        encodeBerTlv(sigB!.tag, sigB!.value),
      ]),
    );
    const problem = (p: string) => (e: unknown) => e instanceof CsrError && e.problem === p;
    await assert.rejects(ca.issue(forged), problem('signature'));
    await assert.rejects(ca.issue(b.csr, { expectedPublicKey: a.point }), problem('key-mismatch'));
    await assert.rejects(
      ca.issue(b.csr, { expectedPublicKey: a.csr.subarray(0, 91) }),
      problem('key-mismatch'),
    );
    await assert.rejects(ca.issue(a.csr.subarray(0, 40)), problem('malformed'));
    await assert.rejects(ca.issue(new Uint8Array([...a.csr, 0])), problem('malformed'));
    assert.equal(ca.issued.length, 0, 'nothing issued, nothing recorded');
    // the right key passes, as an SPKI too
    await ca.issue(b.csr, { expectedPublicKey: b.spki });
  });

  test('a CA directory: the key sealed in an owner-only file, reopened with the storage key only', async () => {
    const dir = join(tempDir('ca'), 'ca');
    const created = await CertificateAuthority.create({ commonName: 'Operator Test CA' });
    const ca = await created.save(dir, STORAGE_KEY);
    assert.equal(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600);
    const sealed = readFileSync(join(dir, 'ca.key'), 'utf8');
    assert.doesNotMatch(sealed, /PRIVATE KEY|^MIG/);
    await ca.issue((await softwareCsr()).csr);
    const reopened = await CertificateAuthority.open(dir, STORAGE_KEY);
    assert.equal(reopened.issued.length, 1);
    await assert.rejects(CertificateAuthority.open(dir, new Uint8Array(32).fill(1)), CaStoreError);
    await assert.rejects(CertificateAuthority.open(join(dir, 'nothing'), STORAGE_KEY), CaStoreError);
    await assert.rejects(created.save(dir, STORAGE_KEY), CaStoreError, 'a CA directory is never overwritten');
    // a revocation by another instance (another process: `iotsafe ca revoke`) is seen at once
    reopened.revoke(reopened.issued[0]!.serial, 'keyCompromise');
    assert.equal(ca.status(ca.issued[0]!.serial), 'revoked');
  });

  test('revocation and the CRL: OpenSSL parses it and refuses the revoked certificate, accepts the other', {
    skip: openssl === true ? false : openssl,
  }, async () => {
    const ca = await CertificateAuthority.create({ commonName: 'Operator Test CA' });
    const revoked = await ca.issue((await softwareCsr()).csr);
    const kept = await ca.issue((await softwareCsr()).csr);
    const serial = new X509Certificate(Buffer.from(revoked)).serialNumber;
    assert.equal(ca.revoke(serial.toLowerCase(), 'superseded').already, false);
    assert.equal(ca.revoke(serial).already, true, 'a second revocation keeps the first');
    assert.throws(() => ca.revoke('01'), RevocationError);
    const crl = await ca.crl();
    const second = await ca.crl();
    const dir = tempDir('crl');
    writeFileSync(join(dir, 'crl.pem'), pem(second, 'X509 CRL'));
    writeFileSync(join(dir, 'ca.pem'), ca.certificatePem);
    const text = execFileSync(
      'openssl',
      ['crl', '-in', join(dir, 'crl.pem'), '-noout', '-text', '-CAfile', join(dir, 'ca.pem')],
      { encoding: 'utf8', stdio: 'pipe' },
    );
    assert.match(text, new RegExp(`Serial Number: ${serial}`));
    assert.match(text, /Superseded/);
    assert.match(text, /X509v3 CRL Number: \s*2/);
    assert.match(text, /Authority Key Identifier/);
    assert.match(opensslVerify(ca.certificatePem, revoked, crl), /certificate revoked/);
    assert.match(opensslVerify(ca.certificatePem, kept, crl), /: OK/);
  });

  test("Node's tls with the CRL refuses the revoked client certificate and accepts the other", async () => {
    const ca = await CertificateAuthority.create({ commonName: 'Operator Test CA' });
    const server = await ca.issueServer('cloud.test');
    const good = await softwareCsr('CN=good');
    const bad = await softwareCsr('CN=bad');
    const goodCert = await ca.issue(good.csr);
    const badCert = await ca.issue(bad.csr);
    ca.revoke(new X509Certificate(Buffer.from(badCert)).serialNumber, 'keyCompromise');
    const crl = pem(await ca.crl(), 'X509 CRL');
    const cloud = (withCrl: boolean) =>
      startNodeTlsServer(
        {
          key: server.keyPem,
          cert: pem(server.certificate, 'CERTIFICATE'),
          ca: ca.certificatePem,
          ...(withCrl ? { crl } : {}),
          requestCert: true,
          rejectUnauthorized: true,
        },
        (socket) => socket.end('hello'),
      );
    const attempt = (port: number, key: string, cert: Uint8Array) =>
      new Promise<string>((resolve) => {
        const socket = connect({
          host: '127.0.0.1',
          port,
          ca: ca.certificatePem,
          servername: 'cloud.test',
          key,
          cert: pem(cert, 'CERTIFICATE'),
        });
        let data = '';
        let failure = '';
        socket.on('data', (d) => {
          data += d;
        });
        socket.on('error', (e) => {
          failure = `error: ${e.message}`;
        });
        socket.on('close', () => resolve(data || failure));
      });
    const checking = await cloud(true);
    const notChecking = await cloud(false);
    try {
      assert.equal(await attempt(checking.port, good.keyPem, goodCert), 'hello');
      assert.notEqual(await attempt(checking.port, bad.keyPem, badCert), 'hello');
      assert.equal(
        await attempt(notChecking.port, bad.keyPem, badCert),
        'hello',
        'refused for its revocation only',
      );
    } finally {
      await checking.close();
      await notChecking.close();
    }
  });
});
