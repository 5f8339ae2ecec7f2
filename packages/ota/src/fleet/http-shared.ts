// What the fleet routes share: ISO times, the patterns of names in paths and queries, the limits
// of list queries, the id parameter, and refusals in the API's JSON shape.
import type { FastifyReply } from 'fastify';
import { errorBody, requestFailure } from '../http-api.js';
import { CampaignStateError } from './campaigns.js';
import { CsvImportError } from './vendor-csv.js';

export const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
export const SIM = '^\\+?[0-9]{1,20}$';
export const NAME = '^[\\w.:-]{1,64}$';
export const UUID = '^[0-9a-f-]{36}$';
// query strings are not coerced (the API validates what arrives): numbers and flags as text
export const LIMIT = { type: 'string', pattern: '^[0-9]{1,5}$' } as const;
export const FLAG = { type: 'string', enum: ['true', 'false'] } as const;
export const limitOf = (text: string | undefined, fallback: number, max: number) =>
  Math.min(text === undefined ? fallback : Number(text), max);

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: UUID } },
} as const;

/** A refusal in the API's shape: campaign state 409, a file that is not CSV 400, the rest as requestFailure. */
export function failure(reply: FastifyReply, error: unknown) {
  if (error instanceof CampaignStateError)
    return reply.code(409).send(errorBody('campaign_state', error.message));
  if (error instanceof CsvImportError) return reply.code(400).send(errorBody('invalid_file', error.message));
  const { status, body } = requestFailure(error);
  return reply.code(status).send(body);
}
