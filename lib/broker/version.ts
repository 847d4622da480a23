/** The package version, for `$SYS/broker/version` and the CLI's `--version` (one lookup, cached). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The version in the package.json above this file (lib/broker in sources, dist/lib/broker when built); '0.0.0' if none. */
export function packageVersion(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'nest-mqtt5' && pkg.version !== undefined) return (cached = pkg.version);
    } catch {
      // No package.json at this level: look one level up.
    }
    dir = dirname(dir);
  }
  return (cached = '0.0.0');
}
