// Applies an IoT SAFE personalisation script (docs/perso-format.md) to a copy of the containers. Any
// refusal throws CardError before the store is touched; the caller swaps the result in at once.
import {
  type CurveName,
  FUNCTION,
  generateEcKeyPair,
  isValidPrivateKey,
  isValidPublicKey,
  KEY_TYPE,
  type ObjectClass,
  type ObjectRef,
  type PersoOperation,
  publicKeyFromPrivate,
  SIGNATURE_ALGORITHM,
  SW,
} from '@iotsafe/protocol';
import { CardError } from '../card/card-error.js';
import {
  type Container,
  type ContainerOf,
  checkContainers,
  curveOfKeyType,
  matchesRef,
} from './containers.js';

const fail = (sw: number, reason: string): never => {
  throw new CardError(sw, reason);
};

function find<C extends ObjectClass>(
  containers: Container[],
  objectClass: C,
  ref: ObjectRef,
): ContainerOf<C> {
  const found = containers.find((c) => c.objectClass === objectClass && matchesRef(c, ref));
  return (
    (found as ContainerOf<C> | undefined) ?? fail(SW.NOT_FOUND, `no ${objectClass} container to personalise`)
  );
}

function curveOf(keyType: number): CurveName {
  return curveOfKeyType(keyType) ?? fail(SW.INCORRECT_DATA, `unsupported key type ${keyType.toString(16)}`);
}

function partnerOf(containers: Container[], key: ContainerOf<'privateKey'>) {
  const partner = containers.find(
    (c) => c.objectClass === 'publicKey' && Buffer.from(c.id).equals(Buffer.from(key.publicKeyId ?? key.id)),
  );
  return partner?.objectClass === 'publicKey' &&
    curveOfKeyType(partner.keyType) === curveOfKeyType(key.keyType)
    ? partner
    : undefined;
}

function create(op: Extract<PersoOperation, { op: 'create' }>): Container {
  const d = op.descriptor;
  const base = { id: d.id!.slice(), access: d.access, ...(d.label !== undefined ? { label: d.label } : {}) };
  switch (d.objectClass) {
    case 'privateKey':
    case 'publicKey': {
      curveOf(d.keyType ?? -1);
      const attributes = {
        keyType: d.keyType!,
        keyUsage: d.keyUsage ?? 0x01,
        cryptoFunctions: d.cryptoFunctions ?? 0,
        signatureAlgorithms: d.signatureAlgorithms ?? SIGNATURE_ALGORITHM.ECDSA,
        hashAlgorithms: d.hashAlgorithms ?? 0x0001,
        keyAgreementAlgorithms: d.keyAgreementAlgorithms ?? 0,
      };
      if (d.objectClass === 'publicKey') return { objectClass: 'publicKey', ...base, ...attributes };
      return {
        objectClass: 'privateKey',
        ...base,
        ...attributes,
        ...(op.publicKeyId ? { publicKeyId: op.publicKeyId.slice() } : {}),
      };
    }
    case 'file':
      return { objectClass: 'file', ...base, fileUsage: d.fileUsage ?? 0x01 };
    case 'secret':
      return {
        objectClass: 'secret',
        ...base,
        keyType: d.keyType ?? KEY_TYPE.HMAC,
        cryptoFunctions: d.cryptoFunctions ?? FUNCTION.KEY_DERIVATION,
        kdfAlgorithms: d.kdfAlgorithms ?? 0x03,
      };
  }
}

/** The containers after the script, and whether it locked personalisation. */
export function applyPersonalization(
  current: readonly Container[],
  ops: readonly PersoOperation[],
): { containers: Container[]; locked: boolean } {
  const containers: Container[] = structuredClone([...current]);
  let locked = false;
  for (const op of ops) {
    if (locked) fail(SW.CONDITIONS_NOT_SATISFIED, 'personalisation is locked');
    switch (op.op) {
      case 'lock':
        locked = true;
        break;
      case 'create': {
        const next = create(op);
        const index = containers.findIndex(
          (c) => c.objectClass === next.objectClass && Buffer.from(c.id).equals(Buffer.from(next.id)),
        );
        if (index >= 0) containers[index] = next;
        else containers.push(next);
        break;
      }
      case 'delete': {
        const target = find(containers, op.objectClass, op.ref);
        containers.splice(containers.indexOf(target), 1);
        break;
      }
      case 'generate': {
        const key = find(containers, 'privateKey', op.ref);
        const pair = generateEcKeyPair(curveOf(key.keyType));
        key.privateKey = pair.privateKey;
        key.publicKey = pair.publicKey;
        const partner = partnerOf(containers, key);
        if (partner) partner.publicKey = pair.publicKey;
        break;
      }
      case 'content': {
        const { content } = op;
        if (content.kind === 'privateKey') {
          const key = find(containers, 'privateKey', op.ref);
          const curve = curveOf(key.keyType);
          if (!isValidPrivateKey(curve, content.privateKey))
            fail(SW.INCORRECT_DATA, `not a ${curve} private key`);
          key.privateKey = content.privateKey.slice();
          key.publicKey = publicKeyFromPrivate(curve, content.privateKey);
          const partner = partnerOf(containers, key);
          if (partner) partner.publicKey = key.publicKey;
        } else if (content.kind === 'publicKey') {
          const key = find(containers, 'publicKey', op.ref);
          if (!isValidPublicKey(curveOf(key.keyType), content.point))
            fail(SW.INCORRECT_DATA, 'not a point on the curve');
          key.publicKey = content.point.slice();
        } else if (content.kind === 'file') {
          find(containers, 'file', op.ref).content = content.content.slice();
        } else {
          if (content.value.length === 0) fail(SW.INCORRECT_DATA, 'a secret cannot be empty');
          find(containers, 'secret', op.ref).value = content.value.slice();
        }
        break;
      }
    }
  }
  const problems = checkContainers(containers);
  if (problems.length > 0) fail(SW.INCORRECT_DATA, problems.join('; '));
  return { containers, locked };
}
