// The API reports: one etc/<entry>.api.md per package entry (package.json "exports": "." ->
// etc/realip.api.md, "./express" -> etc/realip-express.api.md, ...), written by api-extractor from the
// built declarations (dist/*.d.ts; run `npm run build` first). Every change to the public surface
// shows up as a diff of these files in review.
//
//   node scripts/api-report.mjs           write the reports (npm run api)
//   node scripts/api-report.mjs --check   fail (exit 1) when a report differs or is missing (npm run api:check, CI)
//
// One api-extractor configuration per entry, built here rather than in eight JSON files, so a new
// entry in package.json gets its report without a new file to copy. The entries share one compiler
// state (one TypeScript program), which keeps the whole run at a few seconds.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompilerState, Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHECK = process.argv.includes('--check');
const REPORT_FOLDER = join(ROOT, 'etc');
const TEMP_FOLDER = join(ROOT, '.tmp', 'api');

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const entries = Object.entries(pkg.exports)
  .filter(([key, target]) => key !== './package.json' && typeof target === 'object')
  .map(([key, target]) => ({
    key,
    report: key === '.' ? 'realip' : `realip-${key.slice(2).replace(/\//g, '-')}`,
    types: join(ROOT, target.import.types),
  }));

const missing = entries.filter((e) => !existsSync(e.types));
if (missing.length > 0) {
  console.error(`api-report: ${missing.map((e) => e.types).join(', ')} missing; run npm run build first`);
  process.exit(1);
}
mkdirSync(TEMP_FOLDER, { recursive: true });
mkdirSync(REPORT_FOLDER, { recursive: true });

/** Messages that are about TSDoc style or release tags, not about the API's shape. */
const OFF = { logLevel: 'none' };
function configFor(entry) {
  return ExtractorConfig.prepare({
    configObjectFullPath: join(ROOT, 'scripts', `api-extractor.${entry.report}.json`), // virtual
    packageJsonFullPath: join(ROOT, 'package.json'),
    configObject: {
      projectFolder: ROOT,
      mainEntryPointFilePath: entry.types,
      bundledPackages: [],
      compiler: {
        overrideTsconfig: {
          compilerOptions: {
            target: 'ES2022',
            lib: ['ES2023'],
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            types: ['node'],
            strict: true,
            skipLibCheck: true,
          },
          files: entries.map((e) => e.types),
        },
      },
      apiReport: {
        enabled: true,
        reportFileName: `${entry.report}.api.md`,
        reportFolder: REPORT_FOLDER,
        reportTempFolder: TEMP_FOLDER,
      },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      newlineKind: 'lf',
      messages: {
        compilerMessageReporting: { default: { logLevel: 'warning' } },
        extractorMessageReporting: {
          default: { logLevel: 'warning' },
          // Nothing is tagged @public/@beta: an entry's exports are its public API.
          'ae-missing-release-tag': OFF,
          // Member-level TSDoc is not required (the docs/ pages document the options).
          'ae-undocumented': OFF,
          // Types reachable from an entry but exported by another entry (the core's, mostly) or
          // not at all: their shape is in the report where used. Not listed as warnings: those
          // carry dist/ chunk names and line numbers, which would change with unrelated edits.
          'ae-forgotten-export': OFF,
        },
        tsdocMessageReporting: { default: OFF },
      },
    },
  });
}

const configs = entries.map(configFor);
const compilerState = CompilerState.create(configs[0], {
  additionalEntryPoints: entries.map((e) => e.types),
});

let failed = 0;
for (const [i, config] of configs.entries()) {
  let problems = 0;
  const result = Extractor.invoke(config, {
    localBuild: !CHECK,
    compilerState,
    showVerboseMessages: false,
    messageCallback: (m) => {
      // Report changes ("You have changed the API signature...", "...was missing, so a new file
      // was created") are reported below, once per entry.
      if (m.messageId.startsWith('console-api-report-')) m.handled = true;
      else if (m.logLevel === 'error' || m.logLevel === 'warning') problems++;
    },
  });
  const file = `etc/${entries[i].report}.api.md`;
  if (result.apiReportChanged) {
    if (CHECK) {
      failed++;
      console.error(
        `api-report: ${file} differs from the API of realip${entries[i].key.slice(1)}; ` +
          'run `npm run build && npm run api` and commit the report with the change',
      );
    } else {
      console.log(`api-report: ${file} updated`);
    }
  }
  if (problems > 0) {
    failed++;
    console.error(`api-report: ${file}: ${problems} errors or warnings (above)`);
  }
}
if (failed > 0) process.exit(1);
console.log(`api-report: ${entries.length} reports ${CHECK ? 'match' : 'written'} (etc/)`);
