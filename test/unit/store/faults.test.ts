/**
 * Bad and failing storage (issue 14 item 5): every case gives a typed error with a stable code that
 * names the path, and after a write failure no commit is ever reported durable.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, truncateSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  StoreCorruptError,
  StoreEngine,
  StoreFullError,
  StoreOpenError,
  StoreVersionError,
  StoreWriteError,
  type StoreEngineOptions,
} from '../../../lib/store/index.js';

const isRoot = process.getuid?.() === 0;
const dirs: string[] = [];
const engines: StoreEngine[] = [];
const mounts: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'nest-mqtt5-faults-'));
  dirs.push(d);
  return d;
}
function open(dir: string, extra: Partial<StoreEngineOptions> = {}): StoreEngine {
  const e = StoreEngine.open({ dir, kind: 'test', version: 2, tables: ['t'], ...extra });
  engines.push(e);
  return e;
}
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close().catch(() => undefined);
  for (const m of mounts.splice(0)) execFileSync('umount', [m]);
  for (const d of dirs.splice(0)) {
    chmodSync(d, 0o700);
    rmSync(d, { recursive: true, force: true });
  }
});

/** A store with some data, closed; returns its data file. */
async function filled(dir: string): Promise<string> {
  const e = open(dir);
  const t = e.table('t');
  for (let i = 0; i < 3000; i++) e.put(t, `k${i}`, { i, v: Buffer.alloc(64, i) });
  await e.commit();
  await e.close();
  return e.file;
}

describe('store faults', () => {
  it('refuses a path that is not a directory (STORE_OPEN_FAILED, names the path)', () => {
    const d = tempDir();
    const file = join(d, 'plain-file');
    writeFileSync(file, 'x');
    const err = (() => {
      try {
        open(join(file, 'data'));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(StoreOpenError);
    expect(err).toMatchObject({ code: 'STORE_OPEN_FAILED', path: join(file, 'data') });
    expect((err as Error).message).toContain(join(file, 'data'));
  });

  (isRoot ? it.skip : it)('refuses a directory without write permission (non-root)', () => {
    const d = tempDir();
    chmodSync(d, 0o500);
    expect(() => open(join(d))).toThrow(expect.objectContaining({ code: 'STORE_OPEN_FAILED', path: d }));
  });

  (isRoot ? it : it.skip)('refuses a read-only file system (root: read-only tmpfs)', () => {
    const d = tempDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', d]);
    mounts.push(d);
    expect(() => open(d)).toThrow(expect.objectContaining({ code: 'STORE_OPEN_FAILED', path: d }));
  });

  it('detects a truncated data file instead of crashing (STORE_CORRUPT)', async () => {
    const d = tempDir();
    const file = await filled(d);
    truncateSync(file, Math.floor(statSync(file).size / 2));
    expect(() => open(d)).toThrow(StoreCorruptError);
    expect(() => open(d)).toThrow(expect.objectContaining({ code: 'STORE_CORRUPT', path: file }));
  });

  it('detects an empty data file (truncated to 0) rather than starting empty', async () => {
    const d = tempDir();
    const file = await filled(d);
    truncateSync(file, 0);
    expect(() => open(d)).toThrow(expect.objectContaining({ code: 'STORE_CORRUPT', path: file }));
  });

  it('detects overwritten meta pages (STORE_CORRUPT)', async () => {
    const d = tempDir();
    const file = await filled(d);
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(8192, 0x5a), 0, 8192, 0);
    closeSync(fd);
    expect(() => open(d)).toThrow(expect.objectContaining({ code: 'STORE_CORRUPT', path: file }));
  });

  it('detects a foreign file in place of the data file', () => {
    const d = tempDir();
    writeFileSync(join(d, 'store.mdb'), Buffer.alloc(20000, 0x41));
    expect(() => open(d)).toThrow(expect.objectContaining({ code: 'STORE_CORRUPT' }));
  });

  it('refuses a newer format version (STORE_VERSION) and a store of another kind', async () => {
    const d = tempDir();
    await filled(d);
    const err = (() => {
      try {
        open(d, { version: 1 });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(StoreVersionError);
    expect(err).toMatchObject({ code: 'STORE_VERSION', found: 2, supported: 1 });
    expect(() => open(d, { kind: 'other' })).toThrow(expect.objectContaining({ code: 'STORE_OPEN_FAILED' }));
  });

  it('runs migrations from an older format, and refuses one without a migration', async () => {
    const d = tempDir();
    await filled(d);
    expect(() => open(d, { version: 3 })).toThrow(expect.objectContaining({ code: 'STORE_VERSION', found: 2, supported: 3 }));
    const e = open(d, {
      version: 3,
      migrations: {
        2: (engine) => {
          const t = engine.table('t');
          t.putSync('migrated', true);
        },
      },
    });
    expect(e.table('t').get('migrated')).toBe(true);
    await e.close();
    expect(open(d, { version: 3 }).table('t').get('k1')).toMatchObject({ i: 1 });
  });

  it('refuses data without a format record', async () => {
    const d = tempDir();
    const e = open(d);
    e.writeSync(() => {
      e.table('t').putSync('x', 1);
      e.table('meta').removeSync('format');
    });
    await e.close();
    expect(() => open(d)).toThrow(expect.objectContaining({ code: 'STORE_CORRUPT' }));
  });

  (isRoot ? it : it.skip)('a full disk fails the commit with STORE_FULL, then every pending and later commit fails too', async () => {
    const d = tempDir();
    mkdirSync(join(d, 'mnt'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', join(d, 'mnt')]);
    mounts.push(join(d, 'mnt'));
    const e = open(join(d, 'mnt'));
    const t = e.table('t');
    let failed: unknown;
    let durable = 0;
    for (let i = 0; i < 200 && failed === undefined; i++) {
      for (let j = 0; j < 50; j++) e.put(t, `k${i}/${j}`, Buffer.alloc(512, j));
      const first = e.commit();
      const firstSettled = Promise.allSettled([first]);
      // A second group issued while the first is in flight: it must not come back durable after a failure.
      await new Promise((r) => setImmediate(r));
      e.put(t, `small${i}`, 1);
      const second = e.commit();
      const results = [...(await firstSettled), ...(await Promise.allSettled([second]))];
      if (results[0].status === 'rejected') {
        failed = results[0].reason;
        expect(results[1].status).toBe('rejected');
      } else if (results[1].status === 'rejected') failed = results[1].reason;
      else durable++;
    }
    expect(durable).toBeGreaterThan(0);
    expect(failed).toBeInstanceOf(StoreFullError);
    expect(failed).toBeInstanceOf(StoreWriteError);
    expect(failed).toMatchObject({ code: 'STORE_FULL', path: e.file });
    e.put(t, 'tiny', 1);
    await expect(e.commit()).rejects.toBe(failed);
    expect(() => e.writeSync(() => t.putSync('x', 1))).toThrow(StoreFullError);
  });
});
