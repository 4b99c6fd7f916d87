/** The policy's JSON Schema (draft 2020-12), for editors: `realip schema > policy.schema.json`. */
import * as z from 'zod/mini';
import { policySchema } from './schema.js';

/** Returns the JSON Schema of a policy file (what may be written, defaults as `default`). */
export function policyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(policySchema, {
    io: 'input',
    target: 'draft-2020-12',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
}
