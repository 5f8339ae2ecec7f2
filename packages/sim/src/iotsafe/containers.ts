// The applet's object store: four container classes with their attributes (GSMA IoT.05).
import {
  ACCESS,
  type CurveName,
  equalBytes,
  FUNCTION,
  KEY_TYPE,
  type ObjectClass,
  type ObjectDescriptor,
  type ObjectRef,
  STATE,
  utf8,
} from '@iotsafe/protocol';

interface ContainerBase {
  id: Uint8Array;
  label?: string;
  /** Tag 60 bitmask. */
  access: number;
}

export interface KeyAttributes {
  /** Tag 4B. */
  keyType: number;
  /** Tag 4E. */
  keyUsage: number;
  /** Tag 61. */
  cryptoFunctions: number;
  /** Tag 92. */
  signatureAlgorithms: number;
  /** Tag 91. */
  hashAlgorithms: number;
  /** Tag 6F. */
  keyAgreementAlgorithms: number;
}

export interface PrivateKeyContainer extends ContainerBase, KeyAttributes {
  objectClass: 'privateKey';
  privateKey?: Uint8Array;
  publicKey?: Uint8Array;
  /** The public key container that receives the public half on GENERATE KEY PAIR. */
  publicKeyId?: Uint8Array;
}

export interface PublicKeyContainer extends ContainerBase, KeyAttributes {
  objectClass: 'publicKey';
  publicKey?: Uint8Array;
}

export interface FileContainer extends ContainerBase {
  objectClass: 'file';
  /** Tag 21. */
  fileUsage: number;
  content?: Uint8Array;
}

export interface SecretContainer extends ContainerBase {
  objectClass: 'secret';
  keyType: number;
  cryptoFunctions: number;
  /** Tag 94. */
  kdfAlgorithms: number;
  value?: Uint8Array;
}

export type Container = PrivateKeyContainer | PublicKeyContainer | FileContainer | SecretContainer;
export type ContainerOf<C extends ObjectClass> = Extract<Container, { objectClass: C }>;

export function curveOfKeyType(keyType: number): CurveName | undefined {
  if (keyType === KEY_TYPE.P256_PERSISTENT || keyType === KEY_TYPE.P256_VOLATILE) return 'p256';
  if (keyType === KEY_TYPE.BRAINPOOL_PERSISTENT || keyType === KEY_TYPE.BRAINPOOL_VOLATILE)
    return 'brainpoolP256r1';
  return undefined;
}

export function isVolatile(c: Container): boolean {
  return (
    (c.objectClass === 'privateKey' || c.objectClass === 'publicKey') &&
    (c.keyType === KEY_TYPE.P256_VOLATILE || c.keyType === KEY_TYPE.BRAINPOOL_VOLATILE)
  );
}

export function isActivated(c: Container): boolean {
  switch (c.objectClass) {
    case 'privateKey':
      return c.privateKey !== undefined;
    case 'publicKey':
      return c.publicKey !== undefined;
    case 'file':
      return c.content !== undefined;
    case 'secret':
      return c.value !== undefined;
  }
}

export function hasFunction(c: { cryptoFunctions: number }, fn: number): boolean {
  return (c.cryptoFunctions & fn) === fn;
}

export function matchesRef(c: Container, ref: ObjectRef): boolean {
  return 'id' in ref ? equalBytes(c.id, ref.id) : c.label !== undefined && c.label === ref.label;
}

export function describe(c: Container): ObjectDescriptor {
  const base = {
    objectClass: c.objectClass,
    id: c.id,
    access: c.access,
    state: isActivated(c) ? STATE.ACTIVATED : STATE.DEACTIVATED,
    ...(c.label !== undefined ? { label: c.label } : {}),
  };
  switch (c.objectClass) {
    case 'file':
      return { ...base, fileUsage: c.fileUsage, fileSize: c.content?.length ?? 0 };
    case 'secret':
      return {
        ...base,
        keyType: c.keyType,
        cryptoFunctions: c.cryptoFunctions,
        kdfAlgorithms: c.kdfAlgorithms,
      };
    default:
      return {
        ...base,
        keyType: c.keyType,
        keyUsage: c.keyUsage,
        cryptoFunctions: c.cryptoFunctions,
        signatureAlgorithms: c.signatureAlgorithms,
        hashAlgorithms: c.hashAlgorithms,
        keyAgreementAlgorithms: c.keyAgreementAlgorithms,
      };
  }
}

/** Problems that make a store unusable; empty when it is consistent. Run on load and by the fuzzer. */
export function checkContainers(containers: readonly Container[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const c of containers) {
    const key = `${c.objectClass}:${Buffer.from(c.id).toString('hex')}`;
    if (seen.has(key)) problems.push(`duplicate ${key}`);
    seen.add(key);
    if (c.id.length < 1 || c.id.length > 20) problems.push(`${key}: ID length ${c.id.length}`);
    if (c.label !== undefined && (utf8(c.label).length < 1 || utf8(c.label).length > 60)) {
      problems.push(`${key}: label length`);
    }
    if ((c.access & ~(ACCESS.READ | ACCESS.UPDATE)) !== 0) problems.push(`${key}: access ${c.access}`);
    if (c.objectClass === 'privateKey' || c.objectClass === 'publicKey') {
      if (!curveOfKeyType(c.keyType)) problems.push(`${key}: unsupported key type ${c.keyType}`);
      if (c.objectClass === 'privateKey' && (c.privateKey === undefined) !== (c.publicKey === undefined)) {
        problems.push(`${key}: private key without its public half`);
      }
    }
    if (c.objectClass === 'secret' && c.value !== undefined && c.value.length === 0)
      problems.push(`${key}: empty secret`);
    if (c.objectClass === 'file' && c.content !== undefined && c.content.length > 0xffff)
      problems.push(`${key}: size`);
  }
  return problems;
}

export const DEFAULT_KEY_FUNCTIONS = FUNCTION.SIGNATURE | FUNCTION.KEY_GENERATION | FUNCTION.KEY_AGREEMENT;
