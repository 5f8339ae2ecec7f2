// The EST server (RFC 7030) with curl as the client, as the RFC's interop is done, and OpenSSL checking
// what it issues: the four operations and their media types, client-certificate and HTTP Basic
// authentication, the re-enrolment subject rule, revoked and foreign certificates (refused with the
// reason, in the answer and in the server's log), and bad requests.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeBerTlvs } from '@iotsafe/protocol';
import { peerAvailable } from '../../../test/helpers/peers.js';
import { CertificateAuthority, certificatesOf, pem } from '../src/index.js';
import { opensslVerify, softwareCsr } from './csr-helpers.js';
import { BASIC, estFixture } from './est-fixture.js';

const peers =
  peerAvailable('curl', ['--version']) === true
    ? peerAvailable('openssl')
    : peerAvailable('curl', ['--version']);
const skip = peers === true ? false : peers;

let requests = 0;

/** Runs a peer without blocking the event loop (the server under test runs in this process). */
function run(
  command: string,
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

interface CurlAnswer {
  status: number;
  type: string;
  headers: string;
  body: string;
}

describe('EST server, curl as the client', { skip }, () => {
  let fixture: Awaited<ReturnType<typeof estFixture>>;
  let device: Awaited<ReturnType<typeof fixture.client>>;
  const logged: string[] = [];
  before(async () => {
    fixture = await estFixture({ log: (line) => logged.push(line) });
    device = await fixture.client('8944000000000000033');
  });
  after(() => fixture.server.close());

  async function curl(operation: string, args: string[] = []): Promise<CurlAnswer> {
    const headersFile = join(fixture.dir, `headers-${++requests}.txt`);
    const out = await run('curl', [
      '-sS',
      '--max-time',
      '20',
      '--cacert',
      fixture.caFile,
      '-D',
      headersFile,
      '-o',
      '-',
      '-w',
      '\n%{http_code} %{content_type}',
      ...args,
      `${fixture.server.url}.well-known/est/${operation}`,
    ]);
    assert.equal(out.status, 0, out.stderr);
    const lines = out.stdout.split('\n');
    const [status, ...type] = lines.pop()!.split(' ');
    return {
      status: Number(status),
      type: type.join(' '),
      headers: readFileSync(headersFile, 'utf8'),
      body: lines.join('\n'),
    };
  }
  const withCert = (who: { key: string; cert: string }) => ['--cert', who.cert, '--key', who.key];
  function csrFile(name: string, subject: string): string {
    const key = join(fixture.dir, `${name}-new.key`);
    const der = execFileSync(
      'openssl',
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-subj',
        subject,
        '-outform',
        'DER',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const file = join(fixture.dir, `${name}.b64`);
    writeFileSync(file, der.toString('base64'));
    return file;
  }
  const post = (file: string) => ['--data-binary', `@${file}`, '-H', 'Content-Type: application/pkcs10'];
  const issuedBy = (answer: CurlAnswer) => certificatesOf(new Uint8Array(Buffer.from(answer.body, 'base64')));

  test('cacerts: the CA certificate as base64 PKCS#7 certs-only, no client certificate needed', async () => {
    const answer = await curl('cacerts');
    assert.equal(answer.status, 200);
    assert.equal(answer.type, 'application/pkcs7-mime');
    assert.match(answer.headers, /content-transfer-encoding: base64/i);
    const printed = execFileSync('openssl', ['pkcs7', '-inform', 'DER', '-print_certs', '-noout'], {
      input: Buffer.from(answer.body, 'base64'),
      encoding: 'utf8',
    });
    assert.match(printed, /subject=CN ?= ?Operator Test CA/);
    assert.deepEqual(issuedBy(answer), [fixture.ca.certificate]);
  });

  test('csrattrs: application/csrattrs, base64 DER: ecdsa-with-SHA256 and a P-256 key', async () => {
    const answer = await curl('csrattrs');
    assert.equal(answer.status, 200);
    assert.equal(answer.type, 'application/csrattrs');
    const der = new Uint8Array(Buffer.from(answer.body, 'base64'));
    const [sequence] = decodeBerTlvs(der);
    assert.equal(sequence?.tag, 0x30);
    assert.equal(Buffer.from(der).toString('hex').includes('06082a8648ce3d040302'), true);
  });

  test('simpleenroll with a client certificate: a certificate for the CSR that OpenSSL verifies', async () => {
    const answer = await curl('simpleenroll', [
      ...withCert(device),
      ...post(csrFile('enroll', '/CN=8944000000000000041')),
    ]);
    assert.equal(answer.status, 200, answer.body);
    assert.equal(answer.type, 'application/pkcs7-mime; smime-type=certs-only');
    assert.match(answer.headers, /content-transfer-encoding: base64/i);
    const [certificate] = issuedBy(answer);
    assert.equal(new X509Certificate(Buffer.from(certificate!)).subject, 'CN=8944000000000000041');
    assert.match(opensslVerify(fixture.ca.certificatePem, certificate!), /: OK/);
  });

  test('simpleenroll: HTTP Basic with the configured credential; nothing or a wrong password is a 401', async () => {
    const file = csrFile('basic', '/CN=8944000000000000058');
    const none = await curl('simpleenroll', post(file));
    assert.equal(none.status, 401);
    assert.match(none.headers, /www-authenticate: Basic realm="est"/i);
    assert.equal((await curl('simpleenroll', [...post(file), '-u', `${BASIC.username}:wrong`])).status, 401);
    const good = await curl('simpleenroll', [...post(file), '-u', `${BASIC.username}:${BASIC.password}`]);
    assert.equal(good.status, 200, good.body);
    assert.equal(issuedBy(good).length, 1);
  });

  test("simplereenroll: the certificate's own subject renews; another subject, or Basic alone, is refused", async () => {
    const renewed = await curl('simplereenroll', [
      ...withCert(device),
      ...post(csrFile('renew', '/CN=8944000000000000033')),
    ]);
    assert.equal(renewed.status, 200, renewed.body);
    const other = await curl('simplereenroll', [
      ...withCert(device),
      ...post(csrFile('other', '/CN=8944000000000000066')),
    ]);
    assert.equal(other.status, 400);
    assert.match(other.body, /subject is not the current certificate's/);
    const basic = await curl('simplereenroll', [
      ...post(csrFile('b', '/CN=8944000000000000033')),
      '-u',
      `${BASIC.username}:${BASIC.password}`,
    ]);
    assert.equal(basic.status, 401);
  });

  test('a revoked client certificate, or one from another CA, is refused on every operation', async () => {
    const revoked = await fixture.client('revoked-device');
    const file = csrFile('revoked', '/CN=revoked-device');
    assert.equal(
      (await curl('simplereenroll', [...withCert(revoked), ...post(file)])).status,
      200,
      'valid before',
    );
    fixture.ca.revoke(new X509Certificate(Buffer.from(revoked.certificate)).serialNumber, 'keyCompromise');
    for (const operation of ['simplereenroll', 'simpleenroll']) {
      const answer = await curl(operation, [...withCert(revoked), ...post(file)]);
      assert.equal(answer.status, 403);
      assert.match(answer.body, /revoked/);
    }
    assert.equal((await curl('cacerts', withCert(revoked))).status, 403);
    // the server's log names the certificate refused and why (its serial, never a key)
    const serial = new X509Certificate(Buffer.from(revoked.certificate)).serialNumber;
    assert.ok(
      logged.includes(
        `POST /.well-known/est/simplereenroll 403 CN=revoked-device (serial ${serial}): the client certificate is revoked`,
      ),
      logged.join('\n'),
    );
    // a certificate from another CA
    const stranger = await CertificateAuthority.create({ commonName: 'Another CA' });
    const { csr, keyPem } = await softwareCsr('CN=stranger');
    writeFileSync(join(fixture.dir, 'stranger.key'), keyPem);
    writeFileSync(join(fixture.dir, 'stranger.pem'), pem(await stranger.issue(csr), 'CERTIFICATE'));
    const foreign = await curl('simpleenroll', [
      ...withCert({ key: join(fixture.dir, 'stranger.key'), cert: join(fixture.dir, 'stranger.pem') }),
      ...post(file),
    ]);
    assert.equal(foreign.status, 403);
    assert.match(foreign.body, /not from this CA/);
  });

  test('bad requests get a 4xx with a reason: media type, base64, the CSR itself, size, method, path', async () => {
    const auth = withCert(device);
    const file = csrFile('bad', '/CN=8944000000000000033');
    assert.equal(
      (await curl('simpleenroll', [...auth, '--data-binary', `@${file}`, '-H', 'Content-Type: text/plain']))
        .status,
      415,
    );
    writeFileSync(join(fixture.dir, 'junk.b64'), 'not base64 at all!');
    assert.equal((await curl('simpleenroll', [...auth, ...post(join(fixture.dir, 'junk.b64'))])).status, 400);
    writeFileSync(join(fixture.dir, 'notcsr.b64'), Buffer.from('hello world, no CSR').toString('base64'));
    const notCsr = await curl('simpleenroll', [...auth, ...post(join(fixture.dir, 'notcsr.b64'))]);
    assert.equal(notCsr.status, 400);
    assert.match(notCsr.body, /PKCS#10/);
    writeFileSync(join(fixture.dir, 'big.b64'), 'A'.repeat(20_000));
    assert.equal((await curl('simpleenroll', [...auth, ...post(join(fixture.dir, 'big.b64'))])).status, 413);
    assert.equal((await curl('simpleenroll', auth)).status, 405);
    assert.equal((await curl('serverkeygen', [...auth, ...post(file)])).status, 404);
    assert.equal((await curl('cacerts', ['-X', 'POST'])).status, 405);
  });
});
