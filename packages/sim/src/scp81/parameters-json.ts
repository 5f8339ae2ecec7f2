// The JSON form of the stored HTTP administration parameters, shared by the SIM profile (`scp81`) and
// sim.json (none of it is secret: the PSK itself is a key of the ISD, sealed with the others).
import { bytesToHex, FormatError, hexToBytes, utf8 } from '@iotsafe/protocol';
import { z } from 'zod';
import { type AdminParameters, checkAdminParameters, DEFAULT_ADMIN_PARAMETERS } from './parameters.js';

export const adminParametersSchema = z
  .object({
    address: z.string().optional(),
    port: z.number().int().min(1).max(65535).default(DEFAULT_ADMIN_PARAMETERS.port),
    host: z.string().optional(),
    agentId: z.string().optional(),
    uri: z.string().default(DEFAULT_ADMIN_PARAMETERS.uri),
    /** Text (an ICCID-like string, as real cards use) or hex bytes. */
    pskIdentity: z.union([z.string(), z.object({ hex: z.string().regex(/^([0-9A-Fa-f]{2})+$/) }).strict()]),
    keyVersion: z.number().int().min(0x40).max(0x4f).default(DEFAULT_ADMIN_PARAMETERS.keyVersion),
    keyId: z.number().int().min(1).max(0x7f).default(DEFAULT_ADMIN_PARAMETERS.keyId),
    bufferSize: z.number().int().min(1).max(0xffff).default(DEFAULT_ADMIN_PARAMETERS.bufferSize),
    apn: z.string().optional(),
    background: z.boolean().default(false),
    retry: z
      .object({
        counter: z.number().int().min(0).max(0xffff),
        delaySeconds: z.number().int().min(0).max(359_999),
      })
      .strict()
      .default({ ...DEFAULT_ADMIN_PARAMETERS.retry }),
  })
  .strict();

export type AdminParametersJson = z.input<typeof adminParametersSchema>;

/** Parsed JSON to parameters; FormatError when they could not work (a bad address, URI…). */
export function adminParametersFromJson(json: z.output<typeof adminParametersSchema>): AdminParameters {
  const { pskIdentity, ...rest } = json;
  const parameters: AdminParameters = {
    ...rest,
    pskIdentity: typeof pskIdentity === 'string' ? utf8(pskIdentity) : hexToBytes(pskIdentity.hex),
  } as AdminParameters;
  checkAdminParameters(parameters);
  return parameters;
}

export function adminParametersToJson(p: AdminParameters): z.output<typeof adminParametersSchema> {
  return {
    ...p,
    pskIdentity: { hex: bytesToHex(p.pskIdentity) },
    retry: { ...p.retry },
  };
}

/** Parses unknown input (a host's or a test's) into parameters; FormatError listing the first problem. */
export function parseAdminParameters(input: unknown): AdminParameters {
  const parsed = adminParametersSchema.safeParse(input);
  if (!parsed.success)
    throw new FormatError(
      `bad SCP81 parameters: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`,
    );
  return adminParametersFromJson(parsed.data);
}
