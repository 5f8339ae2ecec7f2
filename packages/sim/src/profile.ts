// The profile file that declares a SIM's containers and their contents (docs/profile.md). Names are
// spelled out in the file; the applet's byte values (GSMA IoT.05 object attributes) are derived here.
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import {
  ACCESS,
  type CurveName,
  FILE_USAGE,
  FUNCTION,
  generateEcKeyPair,
  HASH,
  hexToBytes,
  isValidPrivateKey,
  isValidPublicKey,
  KDF,
  KEY_AGREEMENT,
  KEY_TYPE,
  KEY_USAGE,
  type PersoLockScope,
  type PersoOperation,
  publicKeyFromPrivate,
  SIGNATURE_ALGORITHM,
  utf8,
} from '@iotsafe/protocol';
import { z } from 'zod';
import { type Container, describe } from './iotsafe/containers.js';
import { PERSONALITIES } from './iotsafe/personality.js';
import type { PorBySmsPolicy } from './ota/receiver.js';
import type { AdminParameters } from './scp81/parameters.js';
import { adminParametersFromJson, adminParametersSchema } from './scp81/parameters-json.js';

const hexId = z
  .string()
  .regex(/^([0-9a-fA-F]{2}){1,20}$/, 'an ID is 1 to 20 bytes of hex')
  .describe('object ID, hex');
const label = z
  .string()
  .min(1)
  .refine((s) => utf8(s).length <= 60, 'a label is at most 60 bytes');
const access = z.array(z.enum(['read', 'update']));
const curve = z.enum(['p256', 'brainpoolP256r1']);
const hashes = z.array(z.enum(['sha256', 'sha384', 'sha512'])).min(1);

const privateKeySource = z.union([
  z.literal('generate'),
  z.literal('empty'),
  z.object({ privateKeyHex: z.string() }).strict(),
  z.object({ pkcs8Pem: z.string() }).strict(),
]);

const privateKeySchema = z
  .object({
    class: z.literal('privateKey'),
    id: hexId,
    label: label.optional(),
    curve: curve.default('p256'),
    volatile: z.boolean().default(false),
    usage: z.enum(['general', 'tls12CertificateVerify', 'tls13CertificateVerify']).default('general'),
    functions: z.array(z.enum(['sign', 'keyGeneration', 'keyAgreement'])).default(['sign', 'keyGeneration']),
    hashes: hashes.default(['sha256', 'sha384', 'sha512']),
    access: access.default(['update']),
    publicKeyId: hexId.optional(),
    key: privateKeySource.default('empty'),
  })
  .strict();

const publicKeySchema = z
  .object({
    class: z.literal('publicKey'),
    id: hexId,
    label: label.optional(),
    curve: curve.default('p256'),
    volatile: z.boolean().default(false),
    functions: z.array(z.enum(['verify', 'keyAgreement'])).default(['verify', 'keyAgreement']),
    hashes: hashes.default(['sha256', 'sha384', 'sha512']),
    access: access.default(['read', 'update']),
    key: z
      .union([
        z.literal('empty'),
        z.object({ pointHex: z.string() }).strict(),
        z.object({ spkiPem: z.string() }).strict(),
      ])
      .default('empty'),
  })
  .strict();

const fileSchema = z
  .object({
    class: z.literal('file'),
    id: hexId,
    label: label.optional(),
    usage: z.enum(['general', 'certificate']).default('general'),
    access: access.default(['read']),
    content: z
      .union([
        z.literal('empty'),
        z.object({ hex: z.string() }).strict(),
        z.object({ text: z.string() }).strict(),
        z.object({ pem: z.string() }).strict(),
      ])
      .default('empty'),
  })
  .strict();

const secretSchema = z
  .object({
    class: z.literal('secret'),
    id: hexId,
    label: label.optional(),
    derivations: z
      .array(z.enum(['prfSha256', 'hkdf']))
      .min(1)
      .default(['prfSha256', 'hkdf']),
    access: access.default([]),
    value: z
      .union([
        z.literal('empty'),
        z.object({ generate: z.number().int().min(1).max(64) }).strict(),
        z.object({ hex: z.string() }).strict(),
      ])
      .default('empty'),
  })
  .strict();

/** The card's OTA behaviour: which PoRs may go by SMS-SUBMIT (see PorBySmsPolicy). */
const otaSchema = z
  .object({
    porBySms: z.enum(['authenticated', 'ota-addresses', 'never']).default('authenticated'),
    otaAddresses: z
      .array(z.string().regex(/^\+?\d{1,20}$/, 'an address is 1 to 20 digits, + allowed first'))
      .optional(),
  })
  .strict()
  .refine((o) => o.porBySms !== 'ota-addresses' || (o.otaAddresses?.length ?? 0) > 0, {
    message: "porBySms 'ota-addresses' needs otaAddresses",
    path: ['otaAddresses'],
  });

export const profileSchema = z
  .object({
    $schema: z.string().optional(),
    description: z.string().optional(),
    personality: z
      .string()
      .refine((n) => n in PERSONALITIES, 'unknown personality')
      .default('reference'),
    ota: otaSchema.optional(),
    /** The ISD's HTTP administration parameters for SCP81 sessions (docs/scp81.md). */
    scp81: adminParametersSchema.optional(),
    containers: z.array(
      z.discriminatedUnion('class', [privateKeySchema, publicKeySchema, fileSchema, secretSchema]),
    ),
  })
  .strict();

export type Profile = z.input<typeof profileSchema>;
type ParsedProfile = z.output<typeof profileSchema>;

/** A profile file that does not match the schema; the message lists every problem with its path. */
export class ProfileError extends Error {
  override name = 'ProfileError';
}

export function parseProfile(input: unknown): ParsedProfile {
  const result = profileSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ProfileError(`invalid profile:\n${lines.join('\n')}`);
  }
  return result.data;
}

const accessBits = (a: readonly string[]) =>
  (a.includes('read') ? ACCESS.READ : 0) | (a.includes('update') ? ACCESS.UPDATE : 0);
const hashBits = (h: readonly string[]) =>
  (h.includes('sha256') ? HASH.SHA256 : 0) |
  (h.includes('sha384') ? HASH.SHA384 : 0) |
  (h.includes('sha512') ? HASH.SHA512 : 0);
function keyType(c: CurveName, isVolatile: boolean): number {
  if (c === 'p256') return isVolatile ? KEY_TYPE.P256_VOLATILE : KEY_TYPE.P256_PERSISTENT;
  return isVolatile ? KEY_TYPE.BRAINPOOL_VOLATILE : KEY_TYPE.BRAINPOOL_PERSISTENT;
}
const OPENSSL_CURVE: Record<CurveName, string> = { p256: 'prime256v1', brainpoolP256r1: 'brainpoolP256r1' };

function pemToDer(pem: string): Uint8Array {
  const body = pem.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/=]+$/.test(body)) throw new ProfileError('a PEM block is not valid base64');
  return new Uint8Array(Buffer.from(body, 'base64'));
}

function importPrivateKey(
  source: { privateKeyHex: string } | { pkcs8Pem: string },
  c: CurveName,
  where: string,
): Uint8Array {
  let d: Uint8Array;
  if ('privateKeyHex' in source) d = hexToBytes(source.privateKeyHex);
  else {
    const key = createPrivateKey(source.pkcs8Pem);
    if (key.asymmetricKeyDetails?.namedCurve !== OPENSSL_CURVE[c])
      throw new ProfileError(`${where}: the key is not on ${c}`);
    d = new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url'));
  }
  if (!isValidPrivateKey(c, d)) throw new ProfileError(`${where}: not a valid ${c} private key`);
  return d;
}

function importPublicKey(
  source: { pointHex: string } | { spkiPem: string },
  c: CurveName,
  where: string,
): Uint8Array {
  const point =
    'pointHex' in source
      ? hexToBytes(source.pointHex)
      : new Uint8Array(createPublicKey(source.spkiPem).export({ format: 'der', type: 'spki' }).subarray(-65));
  if (!isValidPublicKey(c, point)) throw new ProfileError(`${where}: not a point on ${c}`);
  return point;
}

type ContainerSpec = ParsedProfile['containers'][number];

function containerFromSpec(c: ContainerSpec, where: string): Container {
  const base = {
    id: hexToBytes(c.id),
    access: accessBits(c.access),
    ...(c.label ? { label: c.label } : {}),
  };
  switch (c.class) {
    case 'privateKey': {
      const fns =
        (c.functions.includes('sign') ? FUNCTION.SIGNATURE : 0) |
        (c.functions.includes('keyGeneration') ? FUNCTION.KEY_GENERATION : 0) |
        (c.functions.includes('keyAgreement') ? FUNCTION.KEY_AGREEMENT : 0);
      const usage = {
        general: KEY_USAGE.GENERAL,
        tls12CertificateVerify: KEY_USAGE.TLS12_CERTIFICATE_VERIFY,
        tls13CertificateVerify: KEY_USAGE.TLS13_CERTIFICATE_VERIFY,
      }[c.usage];
      let pair: { privateKey: Uint8Array; publicKey: Uint8Array } | undefined;
      if (c.key === 'generate') pair = generateEcKeyPair(c.curve);
      else if (c.key !== 'empty') {
        const privateKey = importPrivateKey(c.key, c.curve, where);
        pair = { privateKey, publicKey: publicKeyFromPrivate(c.curve, privateKey) };
      }
      if (pair && c.volatile) throw new ProfileError(`${where}: a volatile key cannot be provisioned`);
      return {
        objectClass: 'privateKey',
        ...base,
        keyType: keyType(c.curve, c.volatile),
        keyUsage: usage,
        cryptoFunctions: fns,
        signatureAlgorithms: SIGNATURE_ALGORITHM.ECDSA,
        hashAlgorithms: hashBits(c.hashes),
        keyAgreementAlgorithms: c.functions.includes('keyAgreement') ? KEY_AGREEMENT.ECKA : 0,
        ...(c.publicKeyId ? { publicKeyId: hexToBytes(c.publicKeyId) } : {}),
        ...(pair ?? {}),
      };
    }
    case 'publicKey': {
      const fns =
        (c.functions.includes('verify') ? FUNCTION.SIGNATURE : 0) |
        (c.functions.includes('keyAgreement') ? FUNCTION.KEY_AGREEMENT : 0);
      const publicKey = c.key === 'empty' ? undefined : importPublicKey(c.key, c.curve, where);
      return {
        objectClass: 'publicKey',
        ...base,
        keyType: keyType(c.curve, c.volatile),
        keyUsage: KEY_USAGE.GENERAL,
        cryptoFunctions: fns,
        signatureAlgorithms: SIGNATURE_ALGORITHM.ECDSA,
        hashAlgorithms: hashBits(c.hashes),
        keyAgreementAlgorithms: c.functions.includes('keyAgreement') ? KEY_AGREEMENT.ECKA : 0,
        ...(publicKey ? { publicKey } : {}),
      };
    }
    case 'file': {
      let content: Uint8Array | undefined;
      if (c.content !== 'empty') {
        content =
          'hex' in c.content
            ? hexToBytes(c.content.hex)
            : 'text' in c.content
              ? utf8(c.content.text)
              : pemToDer(c.content.pem);
      }
      if (content && content.length > 0xffff)
        throw new ProfileError(`${where}: a file holds at most 65535 bytes`);
      return {
        objectClass: 'file',
        ...base,
        fileUsage: c.usage === 'certificate' ? FILE_USAGE.CERTIFICATE : FILE_USAGE.GENERAL,
        ...(content ? { content } : {}),
      };
    }
    case 'secret': {
      const value =
        c.value === 'empty'
          ? undefined
          : 'generate' in c.value
            ? new Uint8Array(randomBytes(c.value.generate))
            : hexToBytes(c.value.hex);
      if (value && value.length === 0) throw new ProfileError(`${where}: a secret cannot be empty`);
      return {
        objectClass: 'secret',
        ...base,
        keyType: KEY_TYPE.HMAC,
        cryptoFunctions: FUNCTION.KEY_DERIVATION,
        kdfAlgorithms:
          (c.derivations.includes('prfSha256') ? KDF.PRF_SHA256 : 0) |
          (c.derivations.includes('hkdf') ? KDF.HKDF : 0),
        ...(value ? { value } : {}),
      };
    }
  }
}

/**
 * The personalisation script that builds a profile's containers on a card (docs/perso-format.md):
 * each container created with its attributes, given content sent (keys and secrets need a channel
 * with C-DECRYPTION), and `"generate"` keys generated on the card, so their private half never exists
 * outside it. `lock` appends the personalisation lock (`true`: admitting the issuer's channel; or its
 * scope).
 */
export function personalizationFromProfile(
  input: unknown,
  lock: boolean | PersoLockScope = false,
): PersoOperation[] {
  const profile = parseProfile(input);
  const ops: PersoOperation[] = [];
  const later: PersoOperation[] = [];
  profile.containers.forEach((spec, index) => {
    const generate = spec.class === 'privateKey' && spec.key === 'generate';
    const container = containerFromSpec(
      generate ? { ...spec, key: 'empty' } : spec,
      `containers.${index} (${spec.class} ${spec.id})`,
    );
    const descriptor = describe(container);
    ops.push(
      container.objectClass === 'privateKey' && container.publicKeyId
        ? { op: 'create', descriptor, publicKeyId: container.publicKeyId }
        : { op: 'create', descriptor },
    );
    const ref = { id: container.id };
    if (generate) later.push({ op: 'generate', ref });
    else if (container.objectClass === 'privateKey' && container.privateKey) {
      later.push({
        op: 'content',
        objectClass: 'privateKey',
        ref,
        content: { kind: 'privateKey', privateKey: container.privateKey },
      });
    } else if (container.objectClass === 'publicKey' && container.publicKey) {
      ops.push({
        op: 'content',
        objectClass: 'publicKey',
        ref,
        content: { kind: 'publicKey', point: container.publicKey },
      });
    } else if (container.objectClass === 'file' && container.content) {
      ops.push({
        op: 'content',
        objectClass: 'file',
        ref,
        content: { kind: 'file', content: container.content },
      });
    } else if (container.objectClass === 'secret' && container.value) {
      ops.push({
        op: 'content',
        objectClass: 'secret',
        ref,
        content: { kind: 'secret', value: container.value },
      });
    }
  });
  // Keys after every container exists, so a generated or imported pair also fills its public container.
  const lockOp: PersoOperation = lock === 'ota' ? { op: 'lock', scope: 'ota' } : { op: 'lock' };
  return [...ops, ...later, ...(lock ? [lockOp] : [])];
}

/** Turns a profile into containers, generating the keys and secrets it asks for; its OTA policy. */
export function containersFromProfile(input: unknown): {
  personality: string;
  containers: Container[];
  porBySms?: PorBySmsPolicy;
  adminParameters?: AdminParameters;
} {
  const profile = parseProfile(input);
  const containers = profile.containers.map((c, index) =>
    containerFromSpec(c, `containers.${index} (${c.class} ${c.id})`),
  );
  // A provisioned key pair's public half also fills the public key container it names.
  for (const c of containers) {
    if (c.objectClass !== 'privateKey' || !c.publicKey || !c.publicKeyId) continue;
    const partnerId = c.publicKeyId;
    const partner = containers.find(
      (p) => p.objectClass === 'publicKey' && Buffer.from(p.id).equals(partnerId),
    );
    if (partner?.objectClass === 'publicKey' && !partner.publicKey) partner.publicKey = c.publicKey;
  }
  const seen = new Set<string>();
  for (const c of containers) {
    const key = `${c.objectClass}:${Buffer.from(c.id).toString('hex')}`;
    if (seen.has(key)) throw new ProfileError(`two ${c.objectClass} containers have ID ${key.split(':')[1]}`);
    seen.add(key);
  }
  const ota = profile.ota;
  const porBySms: PorBySmsPolicy | undefined = ota && {
    policy: ota.porBySms,
    ...(ota.otaAddresses ? { otaAddresses: ota.otaAddresses } : {}),
  };
  let adminParameters: AdminParameters | undefined;
  try {
    adminParameters = profile.scp81 && adminParametersFromJson(profile.scp81);
  } catch (error) {
    throw new ProfileError(`scp81: ${(error as Error).message}`);
  }
  return {
    personality: profile.personality,
    containers,
    ...(porBySms ? { porBySms } : {}),
    ...(adminParameters ? { adminParameters } : {}),
  };
}
