import { defineConfig } from 'tsup';

// Declarations are bundled by tsup's rollup-based dts step, which needs the TypeScript 5 compiler
// API; the TypeScript 7 native compiler does not expose it yet, so package.json pins typescript@5.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    express: 'src/express/index.ts',
    fastify: 'src/fastify/index.ts',
    geo: 'src/geo/index.ts',
    metrics: 'src/metrics/index.ts',
    redis: 'src/redis/index.ts',
    policy: 'src/policy/index.ts',
    sidecar: 'src/sidecar/index.ts',
    'cli/main': 'src/cli/main.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  splitting: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  treeshake: true,
  shims: true,
  // Never bundle packages: optional integrations (pino, prom-client, maxmind, ioredis, ...) are
  // devDependencies/peers that must be imported from the user's node_modules, and their CJS
  // internals (`require('util')`) cannot run inside an ESM bundle.
  skipNodeModulesBundle: true,
  // zod/mini is bundled (tree-shaken, a few KB) so the core entry's option validation costs a few
  // ms of import time instead of loading zod from node_modules (src/spec/spec.ts says more).
  noExternal: [/^zod/],
});
