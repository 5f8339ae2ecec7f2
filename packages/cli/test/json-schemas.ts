// The JSON Schemas of docs/json.md (one per command, `$id` = the command), compiled with ajv for the
// tests that check `--json` output against them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';

// docs/pki.md documents its commands' schemas beside the PKI
const DOC = ['json.md', 'pki.md']
  .map((f) => readFileSync(fileURLToPath(new URL(`../../../docs/${f}`, import.meta.url)), 'utf8'))
  .join('\n');
export const schemas = [...DOC.matchAll(/^```json\n([\s\S]*?)^```$/gm)].map(
  (m) => JSON.parse(m[1]!) as { $id: string },
);
export const ajv = new Ajv({ allErrors: true, strict: true, validateFormats: false });
for (const schema of schemas) ajv.addSchema(schema);

/** Parses `stdout` and asserts it matches the schema `id`; returns the value. */
export function checkJson(id: string, stdout: string): unknown {
  const validate = ajv.getSchema(id);
  assert.ok(validate, `docs/json.md has no schema "${id}"`);
  const value = JSON.parse(stdout);
  assert.ok(validate(value), `${id}: ${ajv.errorsText(validate.errors)}\n${stdout}`);
  return value;
}
