// Certification requests for the PKI tests: made in a virtual SIM (the key generated and the request
// signed inside it, as a device does) or in software (@peculiar/x509 over WebCrypto); test keys only.
import { execFileSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { byId, createCsr, IoTSafe, MemoryTransport } from '@iotsafe/device';
import { TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { pem } from '../src/index.js';
import { x509 } from '../src/x509.js';

export const STORAGE_KEY = new Uint8Array(32).fill(0x5a); // TEST key

/** A request signed in a fresh virtual SIM by the key it generated in container 01. */
export async function simCsr(commonName = '8944000000000000017') {
  const sim = VirtualSim.inMemory(TYPE1_PROFILE);
  const client = await IoTSafe.connect(new MemoryTransport(sim.card));
  const { point } = await client.generateKeyPair(byId('01'));
  const csr = await createCsr(client, { key: byId('01'), publicKey: point, subject: { commonName } });
  await client.close();
  return { csr, point, sim };
}

const P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A request made in software, with its key (PKCS#8 PEM) for a TLS client. */
export async function softwareCsr(name = 'CN=8944000000000000025') {
  const keys = (await webcrypto.subtle.generateKey(P256, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    name,
    keys,
    signingAlgorithm: P256,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64')}\n-----END PRIVATE KEY-----\n`;
  const spki = new Uint8Array(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  return { csr: new Uint8Array(request.rawData), keyPem, spki };
}

export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `${prefix}-`));

/** `openssl verify` of `certificate` under `caPem`, with a CRL when given: its output, or the error's. */
export function opensslVerify(caPem: string, certificate: Uint8Array, crl?: Uint8Array): string {
  const dir = tempDir('verify');
  writeFileSync(join(dir, 'ca.pem'), caPem);
  writeFileSync(join(dir, 'leaf.pem'), pem(certificate, 'CERTIFICATE'));
  const args = ['verify', '-CAfile', join(dir, 'ca.pem'), '-purpose', 'sslclient'];
  if (crl) {
    writeFileSync(join(dir, 'crl.pem'), pem(crl, 'X509 CRL'));
    args.push('-crl_check', '-CRLfile', join(dir, 'crl.pem'));
  }
  try {
    return execFileSync('openssl', [...args, join(dir, 'leaf.pem')], { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return `FAILED ${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}
