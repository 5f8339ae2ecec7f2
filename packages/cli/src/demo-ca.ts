// A throwaway certificate authority for the demo and the tests: it issues an X.509 certificate
// (RFC 5280) from a PKCS#10 request. Its key is generated in memory each run — a test key, never a default.
import {
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
  X509Certificate,
} from 'node:crypto';
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
  subjectAltNameExtension,
  x509Extension,
} from '@iotsafe/protocol';

export interface DemoCa {
  certificate: Uint8Array;
  issue(csr: Uint8Array, days?: number): Uint8Array;
  /** A server certificate and key for `hostname` (and 127.0.0.1), for the demo's local TLS server. */
  issueServer(hostname: string): { certificatePem: string; keyPem: string };
}

/** The parts of a CSR a CA needs, each as its full DER encoding; throws when the signature is wrong. */
export function readCsr(csr: Uint8Array): { subject: Uint8Array; publicKeyInfo: Uint8Array } {
  const [outer] = decodeBerTlvs(csr);
  if (outer?.tag !== 0x30) throw new Error('not a PKCS#10 request');
  const [info, , signature] = decodeBerTlvs(outer.value);
  if (!info || !signature) throw new Error('not a PKCS#10 request');
  const [, subject, publicKeyInfo] = decodeBerTlvs(info.value);
  if (!subject || !publicKeyInfo) throw new Error('not a PKCS#10 request');
  const spki = encodeBerTlv(publicKeyInfo.tag, publicKeyInfo.value);
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  if (!verify('sha256', encodeBerTlv(info.tag, info.value), key, signature.value.subarray(1))) {
    throw new Error('the request signature does not verify');
  }
  return { subject: encodeBerTlv(subject.tag, subject.value), publicKeyInfo: spki };
}

export function createDemoCa(commonName = 'iotsafe-stack demo CA (test key)'): DemoCa {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const name = encodeName({ commonName, organization: 'iotsafe-stack demo' });
  const keyId = digest('sha256', spki).subarray(0, 20);

  type Role = 'ca' | 'client' | { server: string };
  const build = (subject: Uint8Array, subjectKey: Uint8Array, days: number, role: Role): Uint8Array => {
    const now = Date.now();
    const extensions =
      role === 'ca'
        ? [...basicExtensions('ca'), x509Extension(OID.subjectKeyIdentifier, false, derOctetString(keyId))]
        : [
            ...basicExtensions('endEntity'),
            x509Extension(
              OID.extKeyUsage,
              false,
              derSequence(derOid(role === 'client' ? OID.clientAuth : OID.serverAuth)),
            ),
            x509Extension(OID.authorityKeyIdentifier, false, derSequence(derContext(0, keyId, true))),
            ...(role === 'client' ? [] : [subjectAltNameExtension([role.server], ['127.0.0.1'])]),
          ];
    const serial = randomBytes(16);
    serial[0]! &= 0x7f;
    const tbs = encodeTbsCertificate({
      serial,
      issuer: name,
      subject,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + days * 86_400_000),
      publicKeyInfo: subjectKey,
      extensions,
    });
    return encodeCertificate(tbs, new Uint8Array(sign('sha256', tbs, privateKey)));
  };

  const certificate = build(name, spki, 30, 'ca');
  return {
    certificate,
    issue(csr: Uint8Array, days = 30): Uint8Array {
      const { subject, publicKeyInfo } = readCsr(csr);
      const issued = build(subject, publicKeyInfo, days, 'client');
      if (!new X509Certificate(Buffer.from(issued)).verify(publicKey))
        throw new Error('issued certificate does not verify');
      return issued;
    },
    issueServer(hostname: string) {
      const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const serverSpki = new Uint8Array(pair.publicKey.export({ format: 'der', type: 'spki' }));
      const der = build(encodeName({ commonName: hostname }), serverSpki, 1, { server: hostname });
      return {
        certificatePem: toPem(der, 'CERTIFICATE'),
        keyPem: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      };
    },
  };
}
