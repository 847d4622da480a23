/**
 * The pre-open check of the LMDB data file: a file that ends before the meta page's last page is
 * valid when the missing pages are free (LMDB never writes pages a commit allocated and freed
 * again), and truncated otherwise. Found by the broker crash test: a store killed after such a
 * commit was refused on restart.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreCorruptError, StoreEngine } from '../../../lib/store/index.js';
import { checkLmdbFile } from '../../../lib/store/lmdb-file.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Pages the current meta page says the file holds, and the page size. */
function metaPages(file: string): { needed: number; pageSize: number } {
  const buf = readFileSync(file);
  const pageSize = buf.readUInt32LE(0x30);
  const metas = [buf.subarray(0, 0xa0), buf.subarray(pageSize, pageSize + 0xa0)];
  const current = metas[0].readBigUInt64LE(0x98) > metas[1].readBigUInt64LE(0x98) ? metas[0] : metas[1];
  return { needed: Number(current.readBigUInt64LE(0x90)) + 1, pageSize };
}

/**
 * Commits batches that add big records and delete them again in the same commit (the loose pages
 * of the crash), until the data file ends before its last page. Seeded, bounded.
 */
async function shortFile(seed: number): Promise<{ dir: string; file: string; kept: Map<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), 'nest-mqtt5-lmdbfile-'));
  dirs.push(dir);
  const e = StoreEngine.open({ dir, kind: 'test', version: 1, tables: ['t'] });
  const t = e.table('t');
  const kept = new Map<string, number>();
  let s = seed;
  const rnd = (): number => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  let temp = 0;
  try {
    for (let round = 0; round < 300; round++) {
      const transient: string[] = [];
      for (let i = 0; i < 100; i++) {
        if (rnd() < 0.4) {
          const k = `tmp${temp++}`;
          transient.push(k);
          e.put(t, k, Buffer.alloc(rnd() < 0.2 ? 9000 : 200, 1));
        } else {
          const k = `k${Math.floor(rnd() * 2000)}`;
          if (rnd() < 0.3) {
            e.remove(t, k);
            kept.delete(k);
          } else {
            const v = Math.floor(rnd() * 1e6);
            e.put(t, k, v);
            kept.set(k, v);
          }
        }
      }
      for (const k of transient) e.remove(t, k);
      await e.commit();
      const { needed, pageSize } = metaPages(e.file);
      if (statSync(e.file).size < needed * pageSize) return { dir, file: e.file, kept };
    }
    throw new Error(`seed ${seed}: no short data file in 300 commits`);
  } finally {
    // Close without a further commit: the file stays as the last commit left it, as after kill -9.
    await e.close();
  }
}

describe('LMDB data file check', () => {
  it('opens a file that ends before its last page when the missing pages are free, with all data', async () => {
    const seed = 1;
    const { dir, file, kept } = await shortFile(seed);
    const { needed, pageSize } = metaPages(file);
    expect(statSync(file).size).toBeLessThan(needed * pageSize);
    expect(() => checkLmdbFile(file, statSync(file).size)).not.toThrow();
    const e = StoreEngine.open({ dir, kind: 'test', version: 1, tables: ['t'] });
    try {
      const t = e.table('t');
      for (const [k, v] of kept) expect(t.get(k)).toBe(v);
      expect(t.getKeysCount({ start: 'tmp', end: 'tmq' })).toBe(0);
    } finally {
      await e.close();
    }
  });

  it('refuses the same file cut short by pages that are in use (STORE_CORRUPT)', async () => {
    const { file } = await shortFile(7);
    const { pageSize } = metaPages(file);
    truncateSync(file, Math.floor(statSync(file).size / pageSize / 2) * pageSize);
    expect(() => checkLmdbFile(file, statSync(file).size)).toThrow(StoreCorruptError);
    expect(() => checkLmdbFile(file, statSync(file).size)).toThrow(/data file is truncated/);
  });
});
