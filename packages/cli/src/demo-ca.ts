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
import { encodeName } from '@iotsafe/device';
import {
  decodeBerTlvs,
  derBitString,
  derBoolean,
  derContext,
  derOctetString,
  derOid,
  derSequence,
  derSmallInteger,
  derTime,
  derUnsignedInteger,
  digest,
  encodeBerTlv,
  OID,
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

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return derSequence(derOid(oid), ...(critical ? [derBoolean(true)] : []), derOctetString(value));
}

export function createDemoCa(commonName = 'iotsafe-stack demo CA (test key)'): DemoCa {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const name = encodeName({ commonName, organization: 'iotsafe-stack demo' });
  const keyId = digest('sha256', spki).subarray(0, 20);
  const algorithm = derSequence(derOid(OID.ecdsaWithSha256));

  type Role = 'ca' | 'client' | { server: string };
  const build = (subject: Uint8Array, subjectKey: Uint8Array, days: number, role: Role): Uint8Array => {
    const now = Date.now();
    const leafExtensions = (usage: string, extra: Uint8Array[]) => [
      extension(OID.basicConstraints, true, derSequence()),
      extension(OID.keyUsage, true, Uint8Array.of(0x03, 0x02, 0x07, 0x80)), // digitalSignature
      extension(OID.extKeyUsage, false, derSequence(derOid(usage))),
      extension(OID.authorityKeyIdentifier, false, derSequence(derContext(0, keyId, true))),
      ...extra,
    ];
    const extensions =
      role === 'ca'
        ? [
            extension(OID.basicConstraints, true, derSequence(derBoolean(true))),
            extension(OID.keyUsage, true, Uint8Array.of(0x03, 0x02, 0x01, 0x06)), // keyCertSign, cRLSign
            extension(OID.subjectKeyIdentifier, false, derOctetString(keyId)),
          ]
        : role === 'client'
          ? leafExtensions(OID.clientAuth, [])
          : leafExtensions(OID.serverAuth, [
              // subjectAltName: dNSName, and iPAddress 127.0.0.1
              extension(
                '2.5.29.17',
                false,
                derSequence(
                  derContext(2, new TextEncoder().encode(role.server), true),
                  derContext(7, Uint8Array.of(127, 0, 0, 1), true),
                ),
              ),
            ]);
    const serial = randomBytes(16);
    serial[0]! &= 0x7f;
    const tbs = derSequence(
      derContext(0, derSmallInteger(2)),
      derUnsignedInteger(serial),
      algorithm,
      name,
      derSequence(derTime(new Date(now - 60_000)), derTime(new Date(now + days * 86_400_000))),
      subject,
      subjectKey,
      derContext(3, derSequence(...extensions)),
    );
    const signature = sign('sha256', tbs, privateKey);
    return derSequence(tbs, algorithm, derBitString(new Uint8Array(signature)));
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
      const pem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
      return {
        certificatePem: pem,
        keyPem: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      };
    },
  };
}
