// Names for IoT SAFE attribute values (GSMA IoT.05 §4.2: tags 4B, 4E, 21, 60, 61, 91, 92, 6F, 94),
// the same names profile files use (docs/profile.md), for `info` and `objects` in text and JSON.
import {
  ACCESS,
  type ApplicationInfo,
  bytesToHex,
  FUNCTION,
  HASH,
  KDF,
  KEY_AGREEMENT,
  KEY_TYPE,
  type ObjectDescriptor,
  proprietaryIdText,
  SIGNATURE_ALGORITHM,
} from '@iotsafe/protocol';

const KEY_TYPES: Record<number, string> = {
  [KEY_TYPE.RSA_2048]: 'RSA-2048',
  [KEY_TYPE.P256_PERSISTENT]: 'P-256',
  [KEY_TYPE.P256_VOLATILE]: 'P-256 volatile',
  [KEY_TYPE.BRAINPOOL_PERSISTENT]: 'brainpoolP256r1',
  [KEY_TYPE.BRAINPOOL_VOLATILE]: 'brainpoolP256r1 volatile',
  [KEY_TYPE.HMAC]: 'HMAC secret',
};
const KEY_USAGES: Record<number, string> = {
  1: 'general',
  2: 'tls12CertificateVerify',
  3: 'tls13CertificateVerify',
};
const FILE_USAGES: Record<number, string> = { 1: 'general', 2: 'certificate' };

/** The names of the bits set in `bits`, in the table's order; unknown bits as hex. */
function bitNames(bits: number | undefined, names: Record<string, number>): string[] {
  if (bits === undefined) return [];
  const out = Object.entries(names)
    .filter(([, bit]) => bits & bit)
    .map(([name]) => name);
  const known = Object.values(names).reduce((a, b) => a | b, 0);
  if (bits & ~known) out.push(`0x${(bits & ~known).toString(16)}`);
  return out;
}

const FUNCTIONS = {
  sign: FUNCTION.SIGNATURE,
  keyGeneration: FUNCTION.KEY_GENERATION,
  keyAgreement: FUNCTION.KEY_AGREEMENT,
  keyDerivation: FUNCTION.KEY_DERIVATION,
};
const HASHES = { sha256: HASH.SHA256, sha384: HASH.SHA384, sha512: HASH.SHA512 };
const SIGNATURES = {
  rsaPkcs1: SIGNATURE_ALGORITHM.RSA_PKCS1,
  rsaPss: SIGNATURE_ALGORITHM.RSA_PSS,
  ecdsa: SIGNATURE_ALGORITHM.ECDSA,
  aesCmac: SIGNATURE_ALGORITHM.AES_CMAC,
};
const KDFS = { prfSha256: KDF.PRF_SHA256, hkdf: KDF.HKDF };

/** Function bits by name; a public key's signature function is `verify` (docs/profile.md). */
const functionNames = (bits: number | undefined, objectClass?: string) =>
  bitNames(
    bits,
    objectClass === 'publicKey'
      ? { verify: FUNCTION.SIGNATURE, keyAgreement: FUNCTION.KEY_AGREEMENT }
      : FUNCTIONS,
  );

/** One object as JSON (docs/json.md, `objects`). */
export function objectJson(d: ObjectDescriptor) {
  const name = (table: Record<number, string>, v: number | undefined) =>
    v === undefined ? undefined : (table[v] ?? `0x${v.toString(16).padStart(2, '0')}`);
  return {
    class: d.objectClass,
    ...(d.id ? { id: bytesToHex(d.id) } : {}),
    ...(d.label !== undefined ? { label: d.label } : {}),
    state: d.state === 1 ? 'filled' : 'empty',
    access: bitNames(d.access, { read: ACCESS.READ, update: ACCESS.UPDATE }),
    ...(d.keyType !== undefined ? { keyType: name(KEY_TYPES, d.keyType) } : {}),
    ...(d.keyUsage !== undefined ? { keyUsage: name(KEY_USAGES, d.keyUsage) } : {}),
    ...(d.fileUsage !== undefined ? { fileUsage: name(FILE_USAGES, d.fileUsage) } : {}),
    ...(d.fileSize !== undefined ? { fileSize: d.fileSize } : {}),
    ...(d.cryptoFunctions !== undefined
      ? { functions: functionNames(d.cryptoFunctions, d.objectClass) }
      : {}),
    ...(d.signatureAlgorithms !== undefined
      ? { signatureAlgorithms: bitNames(d.signatureAlgorithms, SIGNATURES) }
      : {}),
    ...(d.hashAlgorithms !== undefined ? { hashes: bitNames(d.hashAlgorithms, HASHES) } : {}),
    ...(d.keyAgreementAlgorithms !== undefined
      ? { keyAgreement: bitNames(d.keyAgreementAlgorithms, { ecka: KEY_AGREEMENT.ECKA }) }
      : {}),
    ...(d.kdfAlgorithms !== undefined ? { derivations: bitNames(d.kdfAlgorithms, KDFS) } : {}),
  };
}

export function objectRow(d: ObjectDescriptor): string[] {
  const o = objectJson(d);
  const kind = { privateKey: 'private key', publicKey: 'public key', file: 'file', secret: 'secret' }[
    d.objectClass
  ];
  const type = d.objectClass === 'file' ? (o.fileUsage ?? 'general') : (o.keyType ?? '');
  const detail =
    d.objectClass === 'file'
      ? `${d.fileSize ?? 0} bytes`
      : [...(o.functions ?? []), ...(o.derivations ?? []), o.keyUsage === 'general' ? '' : (o.keyUsage ?? '')]
          .filter(Boolean)
          .join(',');
  return [kind, o.id ?? '', o.label ?? '', o.state, type, detail];
}

/** The applet as JSON (docs/json.md, `info`). */
export function applicationJson(info: ApplicationInfo) {
  return {
    applet: proprietaryIdText(info.proprietaryId),
    proprietaryId: bytesToHex(info.proprietaryId),
    simAllianceVersion: info.simAllianceVersion.toString(16).padStart(2, '0').toUpperCase(),
    maxPrivateKeys: info.maxPrivateKeys,
    maxPublicKeys: info.maxPublicKeys,
    maxFiles: info.maxFiles,
    maxSecrets: info.maxSecrets,
    maxSessions: info.maxSessions,
    functions: functionNames(info.cryptoFunctions),
    hashes: bitNames(info.hashAlgorithms, HASHES),
    signatureAlgorithms: bitNames(info.signatureAlgorithms, SIGNATURES),
    keyAgreement: bitNames(info.keyAgreementAlgorithms, { ecka: KEY_AGREEMENT.ECKA }),
    derivations: bitNames(info.kdfAlgorithms, KDFS),
  };
}

export function describeApplication(info: ApplicationInfo): [string, string][] {
  const a = applicationJson(info);
  return [
    ['applet', a.applet],
    [
      'capacity',
      `${a.maxPrivateKeys} private keys, ${a.maxPublicKeys} public keys, ${a.maxFiles} files, ${a.maxSecrets} secrets`,
    ],
    ['functions', a.functions.join(',')],
    ['hashes', a.hashes.join(',')],
    ['derivations', a.derivations.join(',')],
    ['sessions', String(a.maxSessions)],
  ];
}
