/**
 * Storage engine benchmark for issue 14: which embedded store backs `BrokerStore` and the client's
 * `DurableSessionStore`. Per engine: a durable group commit (fsync) of N small records (N = 1, 20,
 * 200; 64-byte payload + ~16-byte key), commits/s, records/s, latency per commit, bytes written to
 * disk per record (/proc/self/io write_bytes, whole process so engine threads count), and the time to
 * reopen and scan 100,000 records. Prints one table; the ratios are against lmdb.
 *
 *   npm run build && node dist/bench/store/engines.js [--seconds 2] [--scan 100000] [--dir /tmp]
 *
 * better-sqlite3 is measured for the note only: it ships no binary in its package (its install
 * script builds or downloads one), so it cannot be a dependency of ours.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { ClassicLevel } from 'classic-level';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1]!;
}

const seconds = Number(arg('seconds', '2'));
const scanCount = Number(arg('scan', '100000'));
const baseDir = arg('dir', tmpdir());
const groups = [1, 20, 200];
const payload = Buffer.alloc(64, 0x61);

/** One engine under test: open a fresh store in `dir`, commit a group durably, bulk load, scan. */
interface Engine {
  readonly name: string;
  open(dir: string): Promise<void>;
  /** Writes `keys` with `payload` as one durable transaction; resolves once synced. */
  commit(keys: string[]): Promise<void>;
  /** Writes `keys` as fast as possible (not synced per group), for the scan figure. */
  load(keys: string[]): Promise<void>;
  close(): Promise<void>;
  /** Reopens and visits every record; returns how many. */
  scan(): Promise<number>;
}

function writeBytes(): number {
  const io = readFileSync('/proc/self/io', 'utf8');
  const m = /write_bytes:\s*(\d+)/.exec(io);
  return m === null ? 0 : Number(m[1]);
}

/**
 * lmdb as lib/store uses it: one synchronous transaction per group, no overlapping sync (see
 * lib/store/engine.ts for why); `periodic` = noSync, the OS buffers flushed by a timer.
 */
function lmdbEngine(periodic = false): Engine {
  let db: ReturnType<typeof openLmdb<Buffer, string>> | undefined;
  let path = '';
  return {
    name: periodic ? 'lmdb 3.5 periodic (noSync)' : 'lmdb 3.5',
    async open(dir) {
      path = join(dir, 'store.mdb');
      db = openLmdb<Buffer, string>({ path, encoding: 'binary', overlappingSync: false, noSync: periodic });
    },
    async commit(keys) {
      const d = db!;
      d.transactionSync(() => {
        for (const k of keys) d.putSync(k, payload);
      });
    },
    async load(keys) {
      const d = db!;
      d.transactionSync(() => {
        for (const k of keys) d.putSync(k, payload);
      });
    },
    async close() {
      await db!.close();
    },
    async scan() {
      const d = openLmdb<Buffer, string>({ path, encoding: 'binary' });
      let n = 0;
      for (const { value } of d.getRange()) n += value.length > 0 ? 1 : 0;
      await d.close();
      return n;
    },
  };
}

function levelEngine(periodic = false): Engine {
  let db: ClassicLevel<string, Buffer> | undefined;
  let path = '';
  return {
    name: periodic ? 'classic-level 3 periodic (sync: false)' : 'classic-level 3',
    async open(dir) {
      path = dir;
      db = new ClassicLevel<string, Buffer>(dir, { valueEncoding: 'buffer' });
      await db.open();
    },
    async commit(keys) {
      await db!.batch(
        keys.map((key) => ({ type: 'put' as const, key, value: payload })),
        { sync: !periodic },
      );
    },
    async load(keys) {
      await db!.batch(keys.map((key) => ({ type: 'put' as const, key, value: payload })));
    },
    async close() {
      await db!.close();
    },
    async scan() {
      const d = new ClassicLevel<string, Buffer>(path, { valueEncoding: 'buffer' });
      await d.open();
      let n = 0;
      for await (const [, value] of d.iterator()) n += value.length > 0 ? 1 : 0;
      await d.close();
      return n;
    },
  };
}

function sqliteEngine(): Engine | undefined {
  let Database: any;
  try {
    Database = createRequire(import.meta.url)('better-sqlite3');
  } catch {
    return undefined;
  }
  let db: any;
  let path = '';
  let insert: any;
  let group: any;
  const openDb = (file: string): any => {
    const d = new Database(file);
    d.pragma('journal_mode = WAL');
    d.pragma('synchronous = FULL');
    d.exec('CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID');
    return d;
  };
  return {
    name: 'better-sqlite3 12 (WAL, FULL)',
    async open(dir) {
      path = join(dir, 'db.sqlite');
      db = openDb(path);
      insert = db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)');
      group = db.transaction((keys: string[]) => {
        for (const k of keys) insert.run(k, payload);
      });
    },
    async commit(keys) {
      group(keys);
    },
    async load(keys) {
      db.pragma('synchronous = OFF');
      group(keys);
      db.pragma('synchronous = FULL');
    },
    async close() {
      db.close();
    },
    async scan() {
      const d = openDb(path);
      let n = 0;
      for (const row of d.prepare('SELECT k, v FROM kv').iterate()) n += (row as { v: Buffer }).v.length > 0 ? 1 : 0;
      d.close();
      return n;
    },
  };
}

interface Row {
  engine: string;
  n: number;
  commitsPerSec: number;
  recordsPerSec: number;
  p50us: number;
  p99us: number;
  bytesPerRecord: number;
}

async function measureCommits(engine: Engine, n: number): Promise<Row> {
  const dir = mkdtempSync(join(baseDir, 'nest-mqtt5-engines-'));
  try {
    await engine.open(dir);
    let seq = 0;
    const nextKeys = (): string[] => {
      const keys = new Array<string>(n);
      for (let i = 0; i < n; i++) keys[i] = `m/${(seq++).toString(16).padStart(12, '0')}`;
      return keys;
    };
    for (let i = 0; i < 20; i++) await engine.commit(nextKeys()); // warm up
    const lat: number[] = [];
    const bytes0 = writeBytes();
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    let commits = 0;
    while (performance.now() < end) {
      const keys = nextKeys();
      const s = performance.now();
      await engine.commit(keys);
      lat.push(performance.now() - s);
      commits++;
    }
    const elapsed = (performance.now() - t0) / 1000;
    const bytes = writeBytes() - bytes0;
    await engine.close();
    lat.sort((a, b) => a - b);
    return {
      engine: engine.name,
      n,
      commitsPerSec: commits / elapsed,
      recordsPerSec: (commits * n) / elapsed,
      p50us: lat[Math.floor(lat.length * 0.5)]! * 1000,
      p99us: lat[Math.floor(lat.length * 0.99)]! * 1000,
      bytesPerRecord: bytes / (commits * n),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureScan(engine: Engine): Promise<{ openScanMs: number; count: number }> {
  const dir = mkdtempSync(join(baseDir, 'nest-mqtt5-engines-'));
  try {
    await engine.open(dir);
    const batch = 10_000;
    for (let i = 0; i < scanCount; i += batch) {
      const keys: string[] = [];
      for (let j = i; j < Math.min(scanCount, i + batch); j++) keys.push(`m/${j.toString(16).padStart(12, '0')}`);
      await engine.load(keys);
    }
    await engine.close();
    const t0 = performance.now();
    const count = await engine.scan();
    return { openScanMs: performance.now() - t0, count };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main(): Promise<void> {
  const engines = [lmdbEngine(), levelEngine(), sqliteEngine(), lmdbEngine(true), levelEngine(true)].filter((e): e is Engine => e !== undefined);
  console.log(`store engines: durable group commits for ${seconds}s per cell, 64-byte values, dir ${baseDir}`);
  const rows: Row[] = [];
  for (const n of groups) for (const e of engines) rows.push(await measureCommits(e, n));
  const head = ['engine', 'N/commit', 'commits/s', 'records/s', 'p50 µs', 'p99 µs', 'disk B/record', 'records/s vs lmdb'];
  const table: string[][] = [head];
  for (const r of rows) {
    const ref = rows.find((x) => x.n === r.n && x.engine === engines[0]!.name)!;
    table.push([
      r.engine,
      String(r.n),
      fmt(r.commitsPerSec),
      fmt(r.recordsPerSec),
      fmt(r.p50us),
      fmt(r.p99us),
      fmt(r.bytesPerRecord),
      `${fmt(r.recordsPerSec / ref.recordsPerSec, 2)}×`,
    ]);
  }
  const scan: string[][] = [['engine', `reopen + scan ${fmt(scanCount)} records (ms)`, 'records seen', 'vs lmdb']];
  let refScan = 0;
  for (const e of engines.slice(0, 3)) {
    const s = await measureScan(e);
    if (refScan === 0) refScan = s.openScanMs;
    scan.push([e.name, fmt(s.openScanMs, 1), fmt(s.count), `${fmt(s.openScanMs / refScan, 2)}×`]);
  }
  for (const t of [table, scan]) {
    const widths = t[0]!.map((_, c) => Math.max(...t.map((row) => row[c]!.length)));
    console.log('');
    for (const row of t) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
