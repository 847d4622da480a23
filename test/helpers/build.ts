/**
 * Builds dist/ (`tsc -p tsconfig.build.json`, what `npm run build` runs) once for all the test
 * files that run built code as a process (the CLI, the sample), even when jest runs them in
 * parallel workers:
 * - a fingerprint of the sources (path, size, mtime of every input file) is stored next to the
 *   output; a build whose fingerprint matches is reused, so one jest run builds at most once;
 * - a lock directory (mkdir is atomic) lets one process build while the others wait for the lock
 *   to disappear (fs.watch, no polling); a lock whose owner died is taken over.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, watch } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTimeout } from './wait.js';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The build output directory. */
export const DIST = path.join(ROOT, 'dist');

const LOCK = path.join(DIST, '.build-lock');
const STAMP = path.join(DIST, '.build-fingerprint');
/** What tsconfig.build.json compiles, plus the configuration that shapes the output. */
const INPUT_DIRS = ['lib', 'sample', 'bench', 'test/fuzz', 'test/helpers'];
const INPUT_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package.json'];
/** A lock older than this is considered abandoned even if its owner's pid is reused. */
const STALE_LOCK_MS = 5 * 60_000;

async function listSources(dir: string, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return; // an optional input directory that does not exist (yet)
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) await listSources(full, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(full);
  }
}

/** Hash of the path, size and mtime of every build input. */
async function fingerprint(): Promise<string> {
  const files: string[] = INPUT_FILES.map((f) => path.join(ROOT, f));
  for (const dir of INPUT_DIRS) await listSources(path.join(ROOT, dir), files);
  files.sort();
  const hash = createHash('sha256');
  for (const f of files) {
    const s = await stat(f);
    hash.update(`${path.relative(ROOT, f)}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return hash.digest('hex');
}

async function upToDate(print: string, marker: string): Promise<boolean> {
  try {
    return (await readFile(STAMP, 'utf8')) === print && existsSync(marker);
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the lock when its owner is gone or it is too old; returns whether it did. */
async function breakStaleLock(): Promise<boolean> {
  try {
    const info = await stat(LOCK);
    const owner = Number(await readFile(path.join(LOCK, 'owner'), 'utf8').catch(() => 'NaN'));
    const dead = Number.isInteger(owner) && !isAlive(owner);
    if (dead || Date.now() - info.mtimeMs > STALE_LOCK_MS) {
      await rm(LOCK, { recursive: true, force: true });
      return true;
    }
  } catch {
    return true; // the lock vanished meanwhile
  }
  return false;
}

/** Resolves when the lock directory disappears (or is already gone). */
function lockReleased(): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const watcher = watch(DIST, () => {
      if (!existsSync(LOCK)) {
        watcher.close();
        resolve();
      }
    });
    watcher.once('error', (err) => {
      watcher.close();
      reject(err);
    });
    // It may have gone between our failed mkdir and the watch starting.
    if (!existsSync(LOCK)) {
      watcher.close();
      resolve();
    }
  });
}

/**
 * Runs what `npm run build` runs. tsc exits with 2 when it found type errors but wrote the output
 * anyway: that is accepted here — `npm test` type-checks first and reports those errors itself,
 * while these tests are about the behaviour of the emitted JavaScript.
 */
function runTsc(): Promise<void> {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  return new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && err.code !== 2) reject(new Error(`npm run build (tsc -p tsconfig.build.json) failed:\n${stdout}${stderr}`.slice(0, 8000)));
      else resolve();
    });
  });
}

/**
 * Makes sure dist/ holds a build of the current sources; `marker` is a file the caller needs
 * (default: the CLI entry point). Waits at most `timeoutMs` for another process's build.
 */
export async function ensureBuilt(marker = path.join(DIST, 'lib', 'cli', 'main.js'), timeoutMs = 180_000): Promise<void> {
  const print = await fingerprint();
  await mkdir(DIST, { recursive: true });
  // Bounded: each round either builds, finds a fresh build, or waits for another builder.
  for (let round = 0; round < 5; round++) {
    if (await upToDate(print, marker)) return;
    try {
      await mkdir(LOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!(await breakStaleLock())) await withTimeout(lockReleased(), timeoutMs, 'another process to finish building dist/');
      continue;
    }
    try {
      await writeFile(path.join(LOCK, 'owner'), String(process.pid));
      if (await upToDate(print, marker)) return;
      await rm(STAMP, { force: true });
      await runTsc();
      await writeFile(STAMP, print);
      return;
    } finally {
      await rm(LOCK, { recursive: true, force: true });
    }
  }
  throw new Error('Could not build dist/: the build lock kept changing hands');
}
