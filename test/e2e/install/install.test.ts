/**
 * Installs the package the way a user does, and runs what the user writes:
 *
 * 1. builds dist/ (what `npm run build` does) and `npm pack`s this repository;
 * 2. creates a throwaway Nest 12 ESM app in a temp dir, with Nest at older minors than ours
 *    (app-sources.ts) and the tarball as a dependency, and `npm install`s it from the registry;
 * 3. checks the install: one copy of @nestjs/common and @nestjs/core (`npm ls --all`), nothing
 *    nested under node_modules/nest-mqtt5, every source map's sources shipped, the `bin` runs;
 * 4. compiles the app with its own `tsc` and the tsconfig `nest new` generates, runs it, and
 *    asserts a `send()` answer, an RpcException, and an `emit()` delivery (yielding `undefined`).
 *
 * Needs the npm registry (as `.ci/run`'s `npm ci` does); `--prefer-offline` uses the npm cache when
 * it can. Bounded by its own timeout; the temp dir is removed afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureBuilt, ROOT } from '../../helpers/build.js';
import { APP_CONTROLLER, APP_MAIN, APP_NEST_VERSIONS, APP_TSCONFIG, appPackageJson } from './app-sources.js';

/** The whole scenario: build, pack, install (registry), compile, run. Typically 20–60 s. */
const TIMEOUT = 180_000;

let dir: string;
const started = Date.now();

function step(text: string): void {
  process.stderr.write(`[install test +${((Date.now() - started) / 1000).toFixed(1)} s] ${text}\n`);
}

/** The environment of child npm/node processes: none of the outer `npm test`'s package variables. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('npm_package_') && !key.startsWith('npm_lifecycle_') && key !== 'INIT_CWD') env[key] = value;
  }
  return { ...env, NO_UPDATE_NOTIFIER: '1', npm_config_update_notifier: 'false', NODE_OPTIONS: '' };
}

/** Runs a command to completion; rejects with its output when it fails or outlives `ms`. */
function run(command: string, args: string[], cwd: string, ms = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env: childEnv(), timeout: ms, killSignal: 'SIGKILL', maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed in ${cwd}: ${err.message}\n${stdout}\n${stderr}`.slice(0, 12_000)));
      else resolve(stdout);
    });
  });
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Every version of `name` anywhere in an `npm ls --all --json` tree. */
function versionsIn(tree: unknown, name: string, out = new Set<string>()): Set<string> {
  const deps = (tree as { dependencies?: Record<string, { version?: string }> }).dependencies ?? {};
  for (const [dep, node] of Object.entries(deps)) {
    if (dep === name && node.version !== undefined) out.add(node.version);
    versionsIn(node, name, out);
  }
  return out;
}

async function filesUnder(root: string, suffix: string, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(root, { withFileTypes: true })) {
    const full = path.join(root, e.name);
    if (e.isDirectory()) await filesUnder(full, suffix, out);
    else if (e.name.endsWith(suffix)) out.push(full);
  }
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nest-mqtt5-install-'));
  step(`temp dir ${dir}`);
}, TIMEOUT);

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  step('temp dir removed');
});

describe('installing the packed package into a fresh Nest 12 ESM app', () => {
  it('installs with one copy of Nest, compiles with tsc, and send()/emit() work', async () => {
    step('building dist/ (npm run build)');
    await ensureBuilt(path.join(ROOT, 'dist', 'lib', 'index.js'));

    step('npm pack');
    const packed = JSON.parse(await run(npm, ['pack', '--json', '--pack-destination', dir], ROOT)) as { filename: string; files: { path: string }[] }[];
    const tarball = path.basename(packed[0]!.filename);
    const shipped = packed[0]!.files.map((f) => f.path);
    expect(shipped).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'lib/index.ts']));
    expect(shipped.filter((f) => !/^(LICENSE|README\.md|package\.json|dist\/lib\/.+|lib\/.+\.ts)$/.test(f))).toEqual([]);

    step(`writing the app (Nest ${Object.values(APP_NEST_VERSIONS).join(' / ')}, TypeScript ~6.0.3) and npm install`);
    await writeFile(path.join(dir, 'package.json'), appPackageJson(tarball));
    await writeFile(path.join(dir, 'tsconfig.json'), APP_TSCONFIG);
    await mkdir(path.join(dir, 'src'));
    await writeFile(path.join(dir, 'src', 'math.controller.ts'), APP_CONTROLLER);
    await writeFile(path.join(dir, 'src', 'main.ts'), APP_MAIN);
    await run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], dir, 150_000);

    step('npm ls @nestjs/common @nestjs/core --all');
    const tree = JSON.parse(await run(npm, ['ls', '@nestjs/common', '@nestjs/core', '--all', '--json'], dir)) as unknown;
    expect([...versionsIn(tree, '@nestjs/common')]).toEqual([APP_NEST_VERSIONS['@nestjs/common']]);
    expect([...versionsIn(tree, '@nestjs/core')]).toEqual([APP_NEST_VERSIONS['@nestjs/core']]);
    const installed = path.join(dir, 'node_modules', 'nest-mqtt5');
    expect(existsSync(path.join(installed, 'node_modules', '@nestjs'))).toBe(false);
    expect(existsSync(path.join(installed, 'node_modules', 'rxjs'))).toBe(false);

    step('checking that every source map points at shipped sources');
    const maps = await filesUnder(path.join(installed, 'dist'), '.js.map');
    expect(maps.length).toBeGreaterThan(50);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources } = JSON.parse(await readFile(map, 'utf8')) as { sources: string[] };
      for (const source of sources) if (!existsSync(path.resolve(path.dirname(map), source))) missing.push(`${path.relative(installed, map)} → ${source}`);
    }
    expect(missing).toEqual([]);

    step('npx nest-mqtt5 --version (the bin)');
    const version = (JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect((await run(path.join(dir, 'node_modules', '.bin', 'nest-mqtt5'), ['--version'], dir)).trim()).toBe(version);

    step('tsc -p tsconfig.json (the app)');
    await run(process.execPath, [path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], dir);

    step('node dist/main.js (broker + microservice + caller)');
    const out = await run(process.execPath, ['dist/main.js'], dir, 90_000);
    const line = out.split('\n').find((l) => l.startsWith('RESULT '));
    expect(line).toBeDefined();
    const result = JSON.parse(line!.slice('RESULT '.length)) as Record<string, unknown>;
    expect(result).toEqual({
      url: expect.stringMatching(/^mqtt:\/\/127\.0\.0\.1:\d+$/),
      sum: 6,
      // RpcException is recognised across the package boundary: one @nestjs/microservices.
      error: { status: 'error', message: 'expected an array' },
      emitted: ['undefined'],
      event: { data: { celsius: 21.5 }, topic: 'devices/d7/telemetry' },
    });
    step('done');
  }, TIMEOUT);
});
