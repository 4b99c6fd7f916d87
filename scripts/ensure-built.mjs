// Builds dist/ once when it is missing, so `npm start` works right after `npm install`.
import { existsSync } from 'node:fs';
import { execSync } from 'node:child_process';

if (!existsSync(new URL('../dist/cli/main.js', import.meta.url))) {
  console.log('realip: building dist/ (first run)...');
  execSync('npm run build', { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
}
