/**
 * Runs the benchmarks, each in its own process so that one cannot warm or pollute another:
 *   npm run bench                 # all of them
 *   npm run bench -- codec broker # a selection
 * Each prints ratios against a peer measured in the same run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const all = ['codec', 'client', 'broker', 'transport'];
const here = dirname(fileURLToPath(import.meta.url));
const chosen = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const extra = process.argv.slice(2).filter((a) => a.startsWith('-'));
let failed = 0;
for (const name of chosen.length > 0 ? chosen : all) {
  const main = join(here, name, 'main.js');
  if (!existsSync(main)) {
    console.error(`unknown benchmark "${name}" (have: ${all.join(', ')})`);
    failed++;
    continue;
  }
  console.log(`\n=== bench/${name} ===`);
  const r = spawnSync(process.execPath, [main, ...extra], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exitCode = failed === 0 ? 0 : 1;
