// Applies an IoT SAFE personalisation script (docs/perso-format.md) to a copy of the containers. Any
// refusal throws CardError before the store is touched; the caller swaps the result in at once.
import {
  type CurveName,
  concatBytes,
  decodeBerTlvs,
  digest,
  ecdsaRawToDer,
  encodePersoAnswer,
  equalBytes,
  FormatError,
  FUNCTION,
  generateEcKeyPair,
  isValidPrivateKey,
  isValidPublicKey,
  KEY_TYPE,
  type ObjectClass,
  type ObjectRef,
  PERSO_ANSWER_TAG,
  type PersoOperation,
  publicKeyFromPrivate,
  SIGNATURE_ALGORITHM,
  SW,
  signDigest,
  wrapDescriptor,
} from '@iotsafe/protocol';
import { fail } from '../card/card-error.js';
import {
  type Container,
  type ContainerOf,
  checkContainers,
  curveOfKeyType,
  describe,
  hasFunction,
  matchesRef,
} from './containers.js';
import type { PersoLock } from './store.js';

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

/**
 * The uncompressed point of a CertificationRequestInfo's subjectPublicKeyInfo (RFC 2986 §4.1:
 * SEQUENCE { version, subject, SEQUENCE { algorithm, BIT STRING }, [0] attributes }).
 */
function requestedPublicKey(requestInfo: Uint8Array): Uint8Array {
  try {
    const [info] = decodeBerTlvs(requestInfo);
    const [version, , spki] = info?.tag === 0x30 ? decodeBerTlvs(info.value) : [];
    const bits = spki?.tag === 0x30 ? decodeBerTlvs(spki.value)[1] : undefined;
    if (version?.tag !== 0x02 || bits?.tag !== 0x03 || bits.value[0] !== 0) throw new FormatError('not one');
    return bits.value.subarray(1);
  } catch {
    return fail(SW.INCORRECT_DATA, 'not a CertificationRequestInfo');
  }
}

/** An A006 request: signed with SHA-256 only when it certifies the container's own public key. */
function signRequest(
  containers: Container[],
  op: Extract<PersoOperation, { op: 'signRequest' }>,
): Uint8Array {
  const key = find(containers, 'privateKey', op.ref);
  if (!key.privateKey || !key.publicKey) fail(SW.CONDITIONS_NOT_SATISFIED, 'the key container is empty');
  if (!hasFunction(key, FUNCTION.SIGNATURE)) fail(SW.CONDITIONS_NOT_SATISFIED, 'the key may not sign');
  if (!equalBytes(requestedPublicKey(op.requestInfo), key.publicKey!))
    fail(SW.INCORRECT_DATA, "the request is not for this container's public key");
  const raw = signDigest(curveOf(key.keyType), key.privateKey!, digest('sha256', op.requestInfo));
  return encodePersoAnswer('privateKey', op.ref, PERSO_ANSWER_TAG.SIGNATURE, ecdsaRawToDer(raw));
}

/**
 * The containers after the script, whether it locked personalisation, and its answer: what its
 * generate, list and signing-request operations give, in order (docs/perso-format.md).
 */
export function applyPersonalization(
  current: readonly Container[],
  ops: readonly PersoOperation[],
): { containers: Container[]; locked: PersoLock; answer: Uint8Array } {
  const containers: Container[] = structuredClone([...current]);
  const answers: Uint8Array[] = [];
  let locked: PersoLock = false;
  for (const op of ops) {
    if (locked) fail(SW.CONDITIONS_NOT_SATISFIED, 'A0FF (lock) ends the script: nothing may follow it');
    switch (op.op) {
      case 'lock':
        locked = op.scope ?? 'issuer';
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
        answers.push(encodePersoAnswer('privateKey', op.ref, PERSO_ANSWER_TAG.EC_POINT, pair.publicKey));
        break;
      }
      case 'list':
        answers.push(...containers.map((c) => wrapDescriptor(describe(c))));
        break;
      case 'signRequest':
        answers.push(signRequest(containers, op));
        break;
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
  return { containers, locked, answer: concatBytes(...answers) };
}
