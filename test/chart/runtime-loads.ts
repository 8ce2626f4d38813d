// test/chart/runtime-loads.mjs (run against a trimmed production install, in a temporary
// directory or in the image) and what it prints when everything loads.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const RUNTIME_LOADS = fileURLToPath(new URL('./runtime-loads.mjs', import.meta.url));

export function expectedLoads(): Record<string, unknown> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const srcModules = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  return {
    dependencies: Object.keys(pkg.dependencies).length,
    modules: srcModules.length - 3, // all of dist/ but cli.js, demo.js, workers/worker-main.js
    oidcBearer: true,
    socksDispatcher: true,
  };
}
