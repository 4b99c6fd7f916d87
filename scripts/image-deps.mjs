#!/usr/bin/env node
// Used by the Dockerfile's `deps` stage: turns package.json into the sidecar image's runtime
// manifest. The integrations a policy can enable (GeoIP with its bundled country database, metrics,
// access logs, the Redis store) are optional peer dependencies of the library and dev dependencies
// of this repository, so `npm ci --omit=dev` leaves them out, and `npm install --omit=dev <name>`
// does too (npm still counts them as dev). Here they become plain dependencies at the exact versions
// package-lock.json pins, and the dev dependencies go; `npm install --omit=dev` then installs the
// runtime from the same lockfile.
import { readFileSync, writeFileSync } from 'node:fs';

const IMAGE_OPTIONAL = [
  'maxmind',
  'prom-client',
  'pino',
  'ioredis',
  '@ip-location-db/geo-whois-asn-country-mmdb',
];

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const dependencies = { ...pkg.dependencies };
for (const name of IMAGE_OPTIONAL) {
  const version = lock.packages?.[`node_modules/${name}`]?.version;
  if (typeof version !== 'string') {
    console.error(`image-deps: ${name} is not in package-lock.json (npm install it as a dev dependency)`);
    process.exit(1);
  }
  dependencies[name] = version;
}
const runtime = { name: pkg.name, version: pkg.version, type: pkg.type, private: true, dependencies };
writeFileSync('package.json', `${JSON.stringify(runtime, null, 2)}\n`);
console.log(`image-deps: ${IMAGE_OPTIONAL.map((n) => `${n}@${dependencies[n]}`).join(' ')}`);
