/** `realip schema`: prints the policy file's JSON Schema (for editors and CI checks). */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { policyJsonSchema } from '../policy/json-schema.js';

const HELP = `Usage: realip schema [--out policy.schema.json]

Prints the JSON Schema (draft 2020-12) of realip policy files. Point your editor at it, e.g. with
a first line "# yaml-language-server: $schema=./policy.schema.json" in the policy file.

Options:
  -o, --out <file>  write to a file instead of stdout
  -h, --help`;

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { out: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    process.stderr.write(`realip schema: ${(error as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const text = JSON.stringify(policyJsonSchema(), null, 2) + '\n';
  if (parsed.values.out) await writeFile(parsed.values.out, text);
  else process.stdout.write(text);
  return 0;
}
