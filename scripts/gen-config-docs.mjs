// Generates the policy reference from the schema: docs/policy.schema.json and the part of
// docs/configuration.md between the GENERATED markers; and the sidecar's options table in
// docs/sidecar.md (between its own markers) from the sidecar spec (src/sidecar/spec.ts). `--check`
// fails (exit 1) when any is out of date instead of writing (test/policy/docs.test.ts runs the
// same comparison).
//
//   node --import tsx scripts/gen-config-docs.mjs [--check]
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = new URL('..', import.meta.url);
const BEGIN = '<!-- BEGIN GENERATED: policy reference (scripts/gen-config-docs.mjs) -->';
const END = '<!-- END GENERATED -->';

const SECTIONS = ['version', 'lists', 'resolve', 'geo', 'access', 'rateLimit', 'log', 'metrics'];

function typeOf(node, defs) {
  if (!node || typeof node !== 'object') return '';
  if (node.$ref) return node.$ref.replace('#/$defs/', '');
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (node.enum) return node.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (node.anyOf) return node.anyOf.map((n) => typeOf(n, defs)).join(' | ');
  if (node.type === 'array') {
    const inner = typeOf(node.items, defs);
    return inner.includes(' | ') ? `(${inner})[]` : `${inner}[]`;
  }
  if (node.type === 'object' && node.properties) return 'object';
  if (node.type === 'object') return `map of ${typeOf(node.additionalProperties, defs)}`;
  return node.type ?? '';
}

function cell(text) {
  return String(text ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');
}

function rows(node, path, required, out, defs) {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const p = path ? `${path}.${key}` : key;
    const def =
      child.default === undefined
        ? required.includes(key)
          ? '(required)'
          : ''
        : `\`${JSON.stringify(child.default)}\``;
    out.push(`| \`${p}\` | ${cell(typeOf(child, defs))} | ${cell(def)} | ${cell(child.description)} |`);
    const objects = [
      child,
      child.items,
      ...(child.anyOf ?? []),
      ...(child.items?.anyOf ?? []),
      child.additionalProperties,
      ...(child.additionalProperties?.anyOf ?? []),
    ].filter((n) => n && typeof n === 'object' && n.properties);
    const suffix = (n) =>
      n === child.items || child.items?.anyOf?.includes(n)
        ? '[]'
        : n === child.additionalProperties || child.additionalProperties?.anyOf?.includes(n)
          ? '.<name>'
          : '';
    for (const o of objects) rows(o, `${p}${suffix(o)}`, o.required ?? [], out, defs);
  }
}

/** Renders the reference (markdown) from the JSON Schema. */
export function renderReference(schema) {
  const out = [];
  const defs = schema.$defs ?? {};
  for (const name of SECTIONS) {
    const node = schema.properties[name];
    out.push(`### \`${name}\``, '', node.description ?? '', '');
    if (node.properties || node.additionalProperties?.anyOf) {
      out.push('| Key | Type | Default | Description |', '| --- | --- | --- | --- |');
      if (node.properties) rows(node, name, node.required ?? [], out, defs);
      else rows({ properties: { '<name>': node.additionalProperties } }, name, [], out, defs);
      out.push('');
    } else {
      out.push(`Type: ${cell(typeOf(node, defs))}. Default: \`${JSON.stringify(node.default)}\`.`, '');
    }
    for (const ex of node.examples ?? [])
      out.push('Example:', '', '```json', JSON.stringify({ [name]: ex }, null, 2), '```', '');
  }
  out.push('### Shared types', '');
  for (const [id, node] of Object.entries(defs)) {
    out.push(
      `- \`${id}\`: ${cell(node.description ?? typeOf(node, defs))} ${node.anyOf ? `One of: ${node.anyOf.map((n) => cell(n.description ?? typeOf(n, defs))).join('; ')}` : ''}`.trimEnd(),
    );
  }
  out.push('');
  return out.join('\n');
}

const SIDECAR_BEGIN = '<!-- BEGIN GENERATED: sidecar options (scripts/gen-config-docs.mjs) -->';

/** A sidecar option's type: zod's JSON Schema, with the code-only values named by their title. */
function sidecarType(node) {
  if (node.anyOf) return node.anyOf.map(sidecarType).join(' | ');
  if (node.type === 'object' && node.properties) return `{ ${Object.keys(node.properties).join(', ')} }`;
  if (node.type === 'array') return `${sidecarType(node.items)}[]`;
  if (node.type === undefined && node.const === undefined && !node.enum && !node.$ref)
    return node.title ?? '';
  if (node.type === 'integer' && node.minimum !== undefined) {
    const max =
      node.maximum !== undefined && node.maximum < Number.MAX_SAFE_INTEGER ? node.maximum : undefined;
    return max === undefined ? `integer >= ${node.minimum}` : `integer ${node.minimum}-${max}`;
  }
  return typeOf(node, {});
}

function sidecarRows(node, path, flags, flagDefault, out) {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const p = path ? `${path}.${key}` : key;
    const f = flags[p];
    const flag = f ? `\`--${f.flag}${f.arg ? ` ${f.arg}` : ''}\`` : '(code only)';
    let def = '';
    if (child.default !== undefined) {
      const json = JSON.stringify(child.default);
      const asFlag = flagDefault(p);
      def = `\`${json}\``;
      if (asFlag !== undefined && asFlag !== json && asFlag !== child.default) def += ` (\`${asFlag}\`)`;
    } else if ((node.required ?? []).includes(key)) def = '(required)';
    out.push(
      `| \`${p}\` | ${cell(flag)} | ${cell(sidecarType(child))} | ${cell(def)} | ${cell(child.description)} |`,
    );
    // Nested options get rows of their own where they have flags of their own (proxyProtocol.*).
    if (child.properties && Object.keys(child.properties).some((k) => flags[`${p}.${k}`]))
      sidecarRows(child, p, flags, flagDefault, out);
  }
}

/** Renders the sidecar's options table (markdown) from its spec. */
export async function renderSidecarOptions() {
  const { sidecarSpec, SIDECAR_FLAGS, flagDefault } = await import('../src/sidecar/spec.ts');
  const z = await import('zod/mini');
  const schema = z.toJSONSchema(sidecarSpec, { unrepresentable: 'any', io: 'input' });
  const out = ['| Option | Flag | Type | Default | Description |', '| --- | --- | --- | --- | --- |'];
  sidecarRows(schema, '', SIDECAR_FLAGS, flagDefault, out);
  out.push('');
  return out.join('\n');
}

/** The generated files' expected contents: { [path]: text }. */
export async function generated() {
  const { policyJsonSchema } = await import('../src/policy/json-schema.ts');
  const schema = policyJsonSchema();
  const docPath = fileURLToPath(new URL('docs/configuration.md', root));
  const doc = await readFile(docPath, 'utf8');
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`docs/configuration.md: markers ${BEGIN} ... ${END} not found`);
  const newDoc = `${doc.slice(0, a + BEGIN.length)}\n\n${renderReference(schema)}\n${doc.slice(b)}`;
  const sidecarPath = fileURLToPath(new URL('docs/sidecar.md', root));
  const sidecar = await readFile(sidecarPath, 'utf8');
  const c = sidecar.indexOf(SIDECAR_BEGIN);
  const d = sidecar.indexOf(END, c);
  if (c < 0 || d < c) throw new Error(`docs/sidecar.md: markers ${SIDECAR_BEGIN} ... ${END} not found`);
  const newSidecar = `${sidecar.slice(0, c + SIDECAR_BEGIN.length)}\n\n${await renderSidecarOptions()}\n${sidecar.slice(d)}`;
  return {
    [fileURLToPath(new URL('docs/policy.schema.json', root))]: JSON.stringify(schema, null, 2) + '\n',
    [docPath]: newDoc,
    [sidecarPath]: newSidecar,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [path, text] of Object.entries(await generated())) {
    const current = await readFile(path, 'utf8').catch(() => '');
    if (current === text) continue;
    stale++;
    if (check) console.error(`${path} is out of date; run: node --import tsx scripts/gen-config-docs.mjs`);
    else await writeFile(path, text);
  }
  if (check && stale) process.exitCode = 1;
}
