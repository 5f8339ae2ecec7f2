// The on-disk form of a SIM (`sim.json` in its directory). Attributes are plain JSON so `cat` shows
// what the SIM holds; private keys and secrets are sealed with the storage key, bound to the SIM and
// the container they belong to. Volatile containers never reach the disk.
import { bytesToHex, concatBytes, hexToBytes } from '@iotsafe/protocol';
import { z } from 'zod';
import type { CardKey, IsdState } from '../gp/isd-state.js';
import { type Container, checkContainers, isVolatile } from '../iotsafe/containers.js';
import type { PersoLock } from '../iotsafe/store.js';
import type { PorBySmsPolicy } from '../ota/receiver.js';
import {
  adminParametersFromJson,
  adminParametersSchema,
  adminParametersToJson,
} from '../scp81/parameters-json.js';
import type { ElementaryFile } from '../uicc/file-system.js';
import { seal, unseal } from './storage-key.js';

export const STATE_FORMAT = 'iotsafe-sim/1';
const KEY_CHECK_TEXT = 'iotsafe-sim storage key check';

export interface SimState {
  simId: string;
  personality: string;
  containers: Container[];
  /** false while open; what the lock admits once locked (docs/perso-format.md). */
  personalizationLocked: PersoLock;
  isd: IsdState;
  /** UICC files for RFM; created with defaults on first use. */
  files?: ElementaryFile[];
  /** Which PoRs may go by SMS-SUBMIT; the receiver's default when absent. */
  porBySms?: PorBySmsPolicy;
}

const hex = z.string().regex(/^([0-9A-Fa-f]{2})*$/);
const common = { id: hex, label: z.string().optional(), access: z.number().int().min(0).max(3) };
const keyAttributes = {
  keyType: z.number().int().min(0).max(255),
  keyUsage: z.number().int().min(0).max(255),
  cryptoFunctions: z.number().int().min(0).max(255),
  signatureAlgorithms: z.number().int().min(0).max(255),
  hashAlgorithms: z.number().int().min(0).max(0xffff),
  keyAgreementAlgorithms: z.number().int().min(0).max(255),
};
const isdSchema = z.object({
  lifeCycle: z.number().int().min(0).max(255),
  keyDiversificationData: hex,
  cplc: hex,
  keySets: z
    .array(
      z.object({
        keyVersion: z.number().int().min(0).max(255),
        i: z.number().int().min(0).max(255),
        sequenceCounter: z.number().int().min(0).max(0xffffff),
        otaCounter: z
          .string()
          .regex(/^[0-9a-f]{10}$/)
          .optional(),
        keys: z.string(),
      }),
    )
    .min(1),
  application: z
    .object({ aid: hex, lifeCycle: z.number().int().min(0).max(255), privileges: hex })
    .nullable(),
  scp81: adminParametersSchema.optional(),
});

const stateSchema = z.object({
  format: z.literal(STATE_FORMAT),
  simId: z.string().min(8),
  personality: z.string(),
  keyCheck: z.string(),
  // `true`: a state written before lock scopes, a lock admitting the issuer's channel
  personalizationLocked: z
    .union([z.boolean(), z.enum(['issuer', 'ota'])])
    .transform((lock): PersoLock => (lock === true ? 'issuer' : lock)),
  isd: isdSchema,
  ota: z
    .object({
      porBySms: z.enum(['authenticated', 'ota-addresses', 'never']),
      otaAddresses: z.array(z.string()).optional(),
    })
    .optional(),
  files: z
    .array(
      z.object({
        path: z.string().regex(/^3F00(\/[0-9A-F]{4})+$/),
        structure: z.enum(['transparent', 'linearFixed']),
        data: hex.optional(),
        records: z.array(hex).optional(),
      }),
    )
    .optional(),
  containers: z.array(
    z.discriminatedUnion('objectClass', [
      z.object({
        objectClass: z.literal('privateKey'),
        ...common,
        ...keyAttributes,
        publicKeyId: hex.optional(),
        privateKey: z.string().optional(),
        publicKey: hex.optional(),
      }),
      z.object({
        objectClass: z.literal('publicKey'),
        ...common,
        ...keyAttributes,
        publicKey: hex.optional(),
      }),
      z.object({
        objectClass: z.literal('file'),
        ...common,
        fileUsage: z.number().int(),
        content: hex.optional(),
      }),
      z.object({
        objectClass: z.literal('secret'),
        ...common,
        keyType: z.number().int(),
        cryptoFunctions: z.number().int(),
        kdfAlgorithms: z.number().int(),
        value: z.string().optional(),
      }),
    ]),
  ),
});

/** The SIM directory holds something that is not a valid SIM state. */
export class SimStateError extends Error {
  override name = 'SimStateError';
}

/** A key set's keys as one sealed blob: (KID, type, length, value) per key. */
function encodeCardKeys(keys: readonly CardKey[]): Uint8Array {
  return concatBytes(...keys.map((k) => concatBytes(Uint8Array.of(k.id, k.type, k.value.length), k.value)));
}

function decodeCardKeys(bytes: Uint8Array): CardKey[] {
  const keys: CardKey[] = [];
  for (let i = 0; i < bytes.length; ) {
    const length = bytes[i + 2];
    if (length === undefined || i + 3 + length > bytes.length)
      throw new SimStateError('an ISD key set is malformed');
    keys.push({ id: bytes[i]!, type: bytes[i + 1]!, value: bytes.slice(i + 3, i + 3 + length) });
    i += 3 + length;
  }
  if (keys.length === 0) throw new SimStateError('an ISD key set is empty');
  return keys;
}

const context = (simId: string, c: Container, field: string) =>
  `${simId}/${c.objectClass}/${bytesToHex(c.id)}/${field}`;

function serializeContainer(c: Container, simId: string, storageKey: Uint8Array): Record<string, unknown> {
  const persisted = !isVolatile(c);
  const base = {
    objectClass: c.objectClass,
    id: bytesToHex(c.id),
    ...(c.label !== undefined ? { label: c.label } : {}),
    access: c.access,
  };
  switch (c.objectClass) {
    case 'privateKey': {
      const {
        privateKey,
        publicKey,
        publicKeyId,
        objectClass: _o,
        id: _i,
        label: _l,
        access: _a,
        ...attributes
      } = c;
      return {
        ...base,
        ...attributes,
        ...(publicKeyId ? { publicKeyId: bytesToHex(publicKeyId) } : {}),
        ...(persisted && privateKey
          ? { privateKey: seal(storageKey, privateKey, context(simId, c, 'privateKey')) }
          : {}),
        ...(persisted && publicKey ? { publicKey: bytesToHex(publicKey) } : {}),
      };
    }
    case 'publicKey': {
      const { publicKey, objectClass: _o, id: _i, label: _l, access: _a, ...attributes } = c;
      return {
        ...base,
        ...attributes,
        ...(persisted && publicKey ? { publicKey: bytesToHex(publicKey) } : {}),
      };
    }
    case 'file':
      return { ...base, fileUsage: c.fileUsage, ...(c.content ? { content: bytesToHex(c.content) } : {}) };
    case 'secret':
      return {
        ...base,
        keyType: c.keyType,
        cryptoFunctions: c.cryptoFunctions,
        kdfAlgorithms: c.kdfAlgorithms,
        ...(c.value ? { value: seal(storageKey, c.value, context(simId, c, 'value')) } : {}),
      };
  }
}

export function serializeState(state: SimState, storageKey: Uint8Array): string {
  const containers = state.containers.map((c) => serializeContainer(c, state.simId, storageKey));
  const keyCheck = seal(storageKey, new TextEncoder().encode(KEY_CHECK_TEXT), `${state.simId}/key-check`);
  const { isd } = state;
  const isdJson = {
    lifeCycle: isd.lifeCycle,
    keyDiversificationData: bytesToHex(isd.keyDiversificationData),
    cplc: bytesToHex(isd.cplc),
    keySets: isd.keySets.map((k, index) => ({
      keyVersion: k.keyVersion,
      i: k.i,
      sequenceCounter: k.sequenceCounter,
      ...(k.otaCounter === undefined ? {} : { otaCounter: k.otaCounter.toString(16).padStart(10, '0') }),
      keys: seal(storageKey, encodeCardKeys(k.keys), `${state.simId}/isd/key-set/${index}/${k.keyVersion}`),
    })),
    application: isd.application
      ? {
          aid: bytesToHex(isd.application.aid),
          lifeCycle: isd.application.lifeCycle,
          privileges: bytesToHex(isd.application.privileges),
        }
      : null,
    ...(isd.adminParameters ? { scp81: adminParametersToJson(isd.adminParameters) } : {}),
  };
  const document = {
    format: STATE_FORMAT,
    simId: state.simId,
    personality: state.personality,
    keyCheck,
    personalizationLocked: state.personalizationLocked,
    isd: isdJson,
    ...(state.porBySms
      ? {
          ota: {
            porBySms: state.porBySms.policy,
            ...(state.porBySms.otaAddresses ? { otaAddresses: [...state.porBySms.otaAddresses] } : {}),
          },
        }
      : {}),
    ...(state.files
      ? {
          files: state.files.map((f) => ({
            path: f.path,
            structure: f.structure,
            ...(f.data ? { data: bytesToHex(f.data) } : {}),
            ...(f.records ? { records: f.records.map((r) => bytesToHex(r)) } : {}),
          })),
        }
      : {}),
    containers,
  };
  return `${JSON.stringify(document, null, 1)}\n`;
}

type StoredContainer = z.output<typeof stateSchema>['containers'][number];

function deserializeContainer(r: StoredContainer, simId: string, storageKey: Uint8Array): Container {
  const base = {
    id: hexToBytes(r.id),
    access: r.access,
    ...(r.label !== undefined ? { label: r.label } : {}),
  };
  switch (r.objectClass) {
    case 'privateKey': {
      const c: Container = {
        ...base,
        objectClass: 'privateKey',
        keyType: r.keyType,
        keyUsage: r.keyUsage,
        cryptoFunctions: r.cryptoFunctions,
        signatureAlgorithms: r.signatureAlgorithms,
        hashAlgorithms: r.hashAlgorithms,
        keyAgreementAlgorithms: r.keyAgreementAlgorithms,
        ...(r.publicKeyId ? { publicKeyId: hexToBytes(r.publicKeyId) } : {}),
        ...(r.publicKey ? { publicKey: hexToBytes(r.publicKey) } : {}),
      };
      if (r.privateKey) c.privateKey = unseal(storageKey, r.privateKey, context(simId, c, 'privateKey'));
      return c;
    }
    case 'publicKey':
      return {
        ...base,
        ...r,
        objectClass: 'publicKey',
        id: base.id,
        ...(r.publicKey ? { publicKey: hexToBytes(r.publicKey) } : {}),
      } as Container;
    case 'file':
      return {
        ...base,
        objectClass: 'file',
        fileUsage: r.fileUsage,
        ...(r.content !== undefined ? { content: hexToBytes(r.content) } : {}),
      };
    case 'secret': {
      const c: Container = {
        ...base,
        objectClass: 'secret',
        keyType: r.keyType,
        cryptoFunctions: r.cryptoFunctions,
        kdfAlgorithms: r.kdfAlgorithms,
      };
      if (r.value) c.value = unseal(storageKey, r.value, context(simId, c, 'value'));
      return c;
    }
  }
}

export function deserializeState(text: string, storageKey: Uint8Array): SimState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SimStateError('sim.json is not JSON');
  }
  const parsed = stateSchema.safeParse(json);
  if (!parsed.success)
    throw new SimStateError(`sim.json does not match ${STATE_FORMAT}: ${parsed.error.issues[0]?.message}`);
  const raw = parsed.data;
  unseal(storageKey, raw.keyCheck, `${raw.simId}/key-check`); // a wrong key fails here, clearly
  const containers = raw.containers.map((r) => deserializeContainer(r, raw.simId, storageKey));
  const problems = checkContainers(containers);
  if (problems.length > 0) throw new SimStateError(`sim.json is inconsistent: ${problems.join('; ')}`);
  const isd: IsdState = {
    lifeCycle: raw.isd.lifeCycle,
    keyDiversificationData: hexToBytes(raw.isd.keyDiversificationData),
    cplc: hexToBytes(raw.isd.cplc),
    keySets: raw.isd.keySets.map((k, index) => {
      const keys = decodeCardKeys(
        unseal(storageKey, k.keys, `${raw.simId}/isd/key-set/${index}/${k.keyVersion}`),
      );
      return {
        keyVersion: k.keyVersion,
        i: k.i,
        sequenceCounter: k.sequenceCounter,
        ...(k.otaCounter === undefined ? {} : { otaCounter: BigInt(`0x${k.otaCounter}`) }),
        keys,
      };
    }),
    ...(raw.isd.application
      ? {
          application: {
            aid: hexToBytes(raw.isd.application.aid),
            lifeCycle: raw.isd.application.lifeCycle,
            privileges: hexToBytes(raw.isd.application.privileges),
          },
        }
      : {}),
    ...(raw.isd.scp81 ? { adminParameters: adminParametersFromJson(raw.isd.scp81) } : {}),
  };
  return {
    simId: raw.simId,
    personality: raw.personality,
    containers,
    personalizationLocked: raw.personalizationLocked,
    isd,
    ...(raw.ota
      ? {
          porBySms: {
            policy: raw.ota.porBySms,
            ...(raw.ota.otaAddresses ? { otaAddresses: raw.ota.otaAddresses } : {}),
          },
        }
      : {}),
    ...(raw.files
      ? {
          files: raw.files.map((f) => ({
            path: f.path,
            structure: f.structure,
            ...(f.data !== undefined ? { data: hexToBytes(f.data) } : {}),
            ...(f.records ? { records: f.records.map((r: string) => hexToBytes(r)) } : {}),
          })),
        }
      : {}),
  };
}
