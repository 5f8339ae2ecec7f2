// Human names for IoT SAFE attribute values (spec/iotsafe.md §4.2), for `info` and `objects`.
import {
  type ApplicationInfo,
  bytesToHex,
  FUNCTION,
  KEY_TYPE,
  type ObjectDescriptor,
  proprietaryIdText,
} from '@iotsafe/protocol';

const KEY_TYPES: Record<number, string> = {
  [KEY_TYPE.RSA_2048]: 'RSA-2048',
  [KEY_TYPE.P256_PERSISTENT]: 'P-256',
  [KEY_TYPE.P256_VOLATILE]: 'P-256 volatile',
  [KEY_TYPE.BRAINPOOL_PERSISTENT]: 'brainpoolP256r1',
  [KEY_TYPE.BRAINPOOL_VOLATILE]: 'brainpoolP256r1 volatile',
  [KEY_TYPE.HMAC]: 'HMAC secret',
};

export function functionNames(bits: number | undefined): string {
  if (bits === undefined) return '';
  const names: string[] = [];
  if (bits & FUNCTION.SIGNATURE) names.push('sign');
  if (bits & FUNCTION.KEY_GENERATION) names.push('keygen');
  if (bits & FUNCTION.KEY_AGREEMENT) names.push('ecdh');
  if (bits & FUNCTION.KEY_DERIVATION) names.push('kdf');
  return names.join(',');
}

const USAGE: Record<number, string> = { 1: 'general', 2: 'TLS1.2-CV', 3: 'TLS1.3-CV' };

export function objectRow(d: ObjectDescriptor): string[] {
  const kind = { privateKey: 'private key', publicKey: 'public key', file: 'file', secret: 'secret' }[
    d.objectClass
  ];
  const type =
    d.objectClass === 'file'
      ? d.fileUsage === 2
        ? 'certificate'
        : 'general'
      : (KEY_TYPES[d.keyType ?? -1] ?? `type ${d.keyType}`);
  const detail =
    d.objectClass === 'file'
      ? `${d.fileSize ?? 0} bytes`
      : [functionNames(d.cryptoFunctions), d.keyUsage !== undefined ? USAGE[d.keyUsage] : '']
          .filter(Boolean)
          .join(' ');
  return [
    kind,
    d.id ? bytesToHex(d.id) : '',
    d.label ?? '',
    d.state === 1 ? 'filled' : 'empty',
    type,
    detail,
  ];
}

export function describeApplication(info: ApplicationInfo): [string, string][] {
  return [
    ['applet', proprietaryIdText(info.proprietaryId)],
    [
      'capacity',
      `${info.maxPrivateKeys} private keys, ${info.maxPublicKeys} public keys, ${info.maxFiles} files, ${info.maxSecrets} secrets`,
    ],
    ['functions', functionNames(info.cryptoFunctions)],
    ['sessions', String(info.maxSessions)],
  ];
}
