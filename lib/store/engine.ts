/**
 * The storage engine shared by the broker's `BrokerStore` and the client's `DurableSessionStore`: an
 * LMDB environment (the `lmdb` package, chosen by bench/store/engines.ts) in one directory, with named
 * tables of msgpack records, a format record, group commit and a failure latch.
 *
 * Writes are staged with {@link StoreEngine.put}/{@link StoreEngine.remove} and made durable together
 * by {@link StoreEngine.commit}: every commit() of one event-loop turn shares one transaction (one
 * fsync with `sync: 'always'`). Once a commit fails, every pending and later commit fails with the
 * same {@link StoreWriteError}: a caller is never told "durable" for data that was not written.
 *
 * A group is committed with a synchronous LMDB transaction at the end of the turn (setImmediate), so
 * with `sync: 'always'` the event loop waits for the fsync (what arrives meanwhile joins the next,
 * larger group). lmdb's asynchronous write thread would not block, but on a failed commit it leaves an
 * internal promise rejected without a handler, which crashes a Node process (measured on lmdb 3.5.6
 * with a full tmpfs); revisit when that is fixed upstream.
 */
import { accessSync, constants, mkdirSync, statfsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Database, Key, RootDatabase } from 'lmdb';
import {
  StoreClosedError,
  StoreCorruptError,
  StoreError,
  StoreFullError,
  StoreOpenError,
  StoreVersionError,
  StoreWriteError,
} from './errors.js';
import { checkLmdbFile } from './lmdb-file.js';

/**
 * lmdb's `open`, loaded on first use: the native addon is loaded only by a process that opens a
 * store, never by importing the package (most users never persist anything).
 */
let lmdbOpen: typeof import('lmdb').open | undefined;
function loadLmdb(): typeof import('lmdb').open {
  lmdbOpen ??= (createRequire(import.meta.url)('lmdb') as typeof import('lmdb')).open;
  return lmdbOpen;
}

/**
 * When a commit counts as durable:
 * - `always`: after the transaction is fsynced (survives a power loss);
 * - `periodic`: once the transaction is written to the OS (survives a crash of the process, not of the
 *   machine); the OS buffers are fsynced every `flushIntervalMs` (default 1 s).
 */
export type SyncMode = 'always' | 'periodic';

/** Options of {@link StoreEngine.open}. */
export interface StoreEngineOptions {
  /** Directory of the store; created when missing. */
  readonly dir: string;
  /** What the store holds (e.g. `broker`); a directory holding another kind is refused. */
  readonly kind: string;
  /** Format version the caller reads and writes. */
  readonly version: number;
  /** Named tables to open. */
  readonly tables: readonly string[];
  /** Default `always`. */
  readonly sync?: SyncMode;
  /** With `sync: 'periodic'`: how often the OS buffers are flushed. Default 1000 ms. */
  readonly flushIntervalMs?: number;
  /**
   * Migrations by the version they upgrade from (`migrations[3]` turns format 3 into 4); each runs
   * inside a synchronous write transaction.
   */
  readonly migrations?: Readonly<Record<number, (engine: StoreEngine) => void>>;
}

/** The record of the store's identity and layout, under {@link FORMAT_KEY} in the `meta` table. */
interface FormatRecord {
  kind: string;
  version: number;
}

const FORMAT_KEY = 'format';
/** The key under which each table keeps its shared msgpack structures (counted by the table's statistics, skipped by ranges). */
export const STRUCTURES_KEY = Symbol.for('structures');
const DATA_FILE = 'store.mdb';
const ENOSPC = 28;
const EDQUOT = 122;
/** MDB_MAP_FULL. */
const MAP_FULL = -30792;

/** Marks a staged {@link StoreEngine.removePrefix}. */
const REMOVE_PREFIX: unknown = Symbol('removePrefix');
/** Marks a staged put taken back with {@link StoreEngine.cancel}. */
const CANCELLED: unknown = Symbol('cancelled');

/** Removes the `[head, …]` keys of `table`; runs inside a write transaction, which its reads see. */
function removeByHead(table: Database, head: string): void {
  const keys: Key[] = [];
  for (const key of table.getKeys({ start: [head] })) {
    if (!Array.isArray(key) || key[0] !== head) break;
    keys.push(key);
  }
  for (const key of keys) table.removeSync(key);
}

/** A pending group: the promise every commit() of the turn returns, and its settlement. */
interface Group {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
  /** Set while the group waits for a deadline ({@link StoreEngine.commitWithin}) rather than the end of the turn. */
  timer: NodeJS.Timeout | undefined;
}

/** One LMDB environment with named tables; see the file comment. */
export class StoreEngine {
  /** Path of the data file (named in errors). */
  readonly file: string;
  readonly sync: SyncMode;
  private readonly root: RootDatabase;
  private readonly tables = new Map<string, Database>();
  // Staged mutations as parallel arrays (no object per write); value undefined = remove.
  private stagedTables: Database[] = [];
  private stagedKeys: Key[] = [];
  private stagedValues: unknown[] = [];
  private group: Group | undefined;
  /** Number of the group being staged (increases as groups are committed). */
  private groupNumber = 1;
  /** Staged mutations of that group not cancelled. */
  private live = 0;
  private failure: StoreWriteError | undefined;
  private closed = false;
  private readonly flushTimer: NodeJS.Timeout | undefined;
  private readonly runGroup = (): void => this.flushGroup();

  private constructor(
    readonly dir: string,
    root: RootDatabase,
    tableNames: readonly string[],
    sync: SyncMode,
    flushIntervalMs: number,
  ) {
    this.file = join(dir, DATA_FILE);
    this.root = root;
    this.sync = sync;
    // Shared msgpack structures: field names are stored once per table, not in every record.
    for (const name of ['meta', ...tableNames]) this.tables.set(name, root.openDB({ name, sharedStructuresKey: STRUCTURES_KEY }));
    if (sync === 'periodic') {
      this.flushTimer = setInterval(() => this.flushOs(), flushIntervalMs);
      this.flushTimer.unref();
    }
  }

  /**
   * Opens (or creates) the store in `options.dir`. Throws {@link StoreOpenError} (not writable, not a
   * directory), {@link StoreCorruptError} (damaged files, unknown content) or {@link StoreVersionError}.
   */
  static open(options: StoreEngineOptions): StoreEngine {
    const { dir } = options;
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
    } catch (error) {
      throw new StoreOpenError(dir, `cannot use the store directory: ${(error as Error).message}`, { cause: error });
    }
    const file = join(dir, DATA_FILE);
    let size = -1;
    try {
      size = statSync(file).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new StoreOpenError(file, `cannot read the data file: ${(error as Error).message}`, { cause: error });
      }
    }
    if (size === 0) throw new StoreCorruptError(file, 'data file is empty (truncated); restore it from a backup or remove the directory');
    if (size > 0) checkLmdbFile(file, size);
    let root: RootDatabase;
    try {
      root = loadLmdb()({
        path: file,
        maxDbs: 16,
        noSync: options.sync === 'periodic',
        // Without overlapping sync a commit's promise settles after its fsync, and a failed commit
        // leaves no internal flush promise rejected without a handler (which would crash the process).
        overlappingSync: false,
      });
    } catch (error) {
      throw new StoreOpenError(file, `cannot open the data file: ${(error as Error).message}`, { cause: error });
    }
    let engine: StoreEngine | undefined;
    try {
      engine = new StoreEngine(dir, root, options.tables, options.sync ?? 'always', options.flushIntervalMs ?? 1000);
      engine.checkFormat(options);
      return engine;
    } catch (error) {
      if (engine !== undefined) engine.closeNow();
      else void root.close();
      if (error instanceof StoreError) throw error;
      throw new StoreCorruptError(file, `cannot read the store: ${(error as Error).message}`, { cause: error });
    }
  }

  /** A table opened at {@link StoreEngine.open}. */
  table(name: string): Database {
    const t = this.tables.get(name);
    if (t === undefined) throw new RangeError(`unknown table ${name}`);
    return t;
  }

  /** The error that stopped the store's writes, if one did. */
  get writeFailure(): StoreWriteError | undefined {
    return this.failure;
  }

  /** Number of mutations staged for the next commit (cancelled ones not counted). */
  get staged(): number {
    return this.live;
  }

  /** Number of the group that mutations staged now belong to (for {@link cancel}). */
  get stagingGroup(): number {
    return this.groupNumber;
  }

  /**
   * Stages a write of `value` (msgpack-encoded at commit) under `key`; returns its index in the group
   * being staged (for {@link cancel}).
   */
  put(table: Database, key: Key, value: unknown): number {
    this.stagedTables.push(table);
    this.stagedKeys.push(key);
    this.stagedValues.push(value);
    this.live++;
    return this.stagedKeys.length - 1;
  }

  /**
   * Takes back the put at `index` of group `group` if that group is still being staged (not handed to
   * the disk yet): it will not be written. Returns whether it was.
   */
  cancel(group: number, index: number): boolean {
    if (group !== this.groupNumber) return false;
    const values = this.stagedValues;
    const v = values[index];
    if (v === CANCELLED || v === undefined || v === REMOVE_PREFIX) return false;
    values[index] = CANCELLED;
    this.live--;
    return true;
  }

  /** Stages the removal of `key`. */
  remove(table: Database, key: Key): void {
    this.stagedTables.push(table);
    this.stagedKeys.push(key);
    this.stagedValues.push(undefined);
    this.live++;
  }

  /**
   * Stages the removal of every key of `table` that is an array starting with `head` (e.g. all
   * `[clientId, …]` keys), evaluated inside the commit so that mutations staged before it are covered.
   */
  removePrefix(table: Database, head: string): void {
    this.stagedTables.push(table);
    this.stagedKeys.push(head);
    this.stagedValues.push(REMOVE_PREFIX);
    this.live++;
  }

  /**
   * Commits every staged mutation, together with those staged until the end of this event-loop turn,
   * as one transaction. Resolves once durable per {@link SyncMode}; rejects with a
   * {@link StoreWriteError} when this or an earlier commit failed.
   */
  commit(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new StoreClosedError(this.dir));
    let group = this.group;
    if (group === undefined) {
      group = this.newGroup();
      setImmediate(this.runGroup);
    } else if (group.timer !== undefined) {
      // It was waiting for a deadline: now it goes at the end of this turn.
      clearTimeout(group.timer);
      group.timer = undefined;
      setImmediate(this.runGroup);
    }
    return group.promise;
  }

  /**
   * Like {@link commit}, but the group may wait up to `ms` for more — or for its writes to be
   * cancelled — unless a commit() asks for it sooner.
   */
  commitWithin(ms: number): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new StoreClosedError(this.dir));
    let group = this.group;
    if (group === undefined) {
      group = this.newGroup();
      group.timer = setTimeout(this.runGroup, ms);
    }
    return group.promise;
  }

  private newGroup(): Group {
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const group: Group = { promise, resolve, reject, timer: undefined };
    this.group = group;
    return group;
  }

  /**
   * Runs `action` in a synchronous write transaction (for callers whose API is synchronous, like the
   * client's session store). With `sync: 'always'` it returns after the fsync; with `periodic`, once
   * the transaction is in the OS. Throws {@link StoreWriteError} (and latches it) on failure.
   */
  writeSync(action: () => void): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.closed) throw new StoreClosedError(this.dir);
    try {
      this.root.transactionSync(action);
    } catch (error) {
      throw this.fail(error);
    }
  }

  /** Flushes staged writes, then closes the environment (flushing the OS buffers). */
  async close(): Promise<void> {
    if (this.closed) return;
    let pending: Promise<void> | undefined;
    if (this.stagedKeys.length > 0 || this.group !== undefined) pending = this.commit().catch(() => undefined);
    this.closed = true;
    if (this.flushTimer !== undefined) clearInterval(this.flushTimer);
    await pending;
    if (this.failure === undefined) await new Promise<void>((resolve) => this.flushOs(resolve));
    await this.root.close();
  }

  private closeNow(): void {
    this.closed = true;
    if (this.flushTimer !== undefined) clearInterval(this.flushTimer);
    void this.root.close();
  }

  private flushGroup(): void {
    const group = this.group;
    // A group upgraded from a deadline to this turn was run by its setImmediate already.
    if (group === undefined) return;
    if (group.timer !== undefined) clearTimeout(group.timer);
    this.group = undefined;
    this.groupNumber++;
    const live = this.live;
    this.live = 0;
    const tables = this.stagedTables;
    const keys = this.stagedKeys;
    const values = this.stagedValues;
    this.stagedTables = [];
    this.stagedKeys = [];
    this.stagedValues = [];
    if (this.failure !== undefined) {
      group.reject(this.failure);
      return;
    }
    if (live === 0) {
      group.resolve();
      return;
    }
    try {
      this.root.transactionSync(() => {
        for (let i = 0; i < keys.length; i++) {
          const v = values[i];
          if (v === undefined) tables[i]!.removeSync(keys[i]!);
          else if (v === CANCELLED) continue;
          else if (v === REMOVE_PREFIX) removeByHead(tables[i]!, keys[i] as string);
          else tables[i]!.putSync(keys[i]!, v);
        }
      });
    } catch (error) {
      group.reject(this.fail(error));
      return;
    }
    group.resolve();
  }

  /** Latches the first write failure as a typed error and returns it. */
  private fail(error: unknown): StoreWriteError {
    if (this.failure !== undefined) return this.failure;
    if (error instanceof StoreWriteError) return (this.failure = error);
    const code = (error as { code?: number }).code;
    const message = (error as Error).message ?? String(error);
    this.failure =
      code === ENOSPC || code === EDQUOT || code === MAP_FULL || /MDB_MAP_FULL|No space left/.test(message) || this.diskNearlyFull()
        ? new StoreFullError(this.file, `store is full: ${message}`, { cause: error })
        : new StoreWriteError(this.file, `write failed: ${message}`, { cause: error });
    return this.failure;
  }

  /**
   * Whether the file system is (nearly) full: a full tmpfs makes LMDB's writes fail with EIO rather
   * than ENOSPC, so a failure is also classed as "full" when less than 1 MiB is left.
   */
  private diskNearlyFull(): boolean {
    try {
      const fs = statfsSync(this.dir);
      return fs.bavail * fs.bsize < 1024 * 1024;
    } catch {
      return false;
    }
  }

  /** Flushes the OS buffers (periodic mode); a failure latches like a failed commit. */
  private flushOs(done?: () => void): void {
    (this.root as unknown as { sync(cb: (error?: Error) => void): void }).sync((error) => {
      if (error) this.fail(error);
      done?.();
    });
  }

  private checkFormat(options: StoreEngineOptions): void {
    const meta = this.table('meta');
    const format = meta.get(FORMAT_KEY) as FormatRecord | undefined;
    if (format === undefined) {
      for (const name of options.tables) {
        if (this.table(name).getKeysCount({ limit: 1 }) > 0) {
          throw new StoreCorruptError(this.file, 'store holds data but no format record');
        }
      }
      this.writeSync(() => meta.putSync(FORMAT_KEY, { kind: options.kind, version: options.version } satisfies FormatRecord));
      return;
    }
    if (typeof format !== 'object' || typeof format.kind !== 'string' || typeof format.version !== 'number') {
      throw new StoreCorruptError(this.file, 'store has an unreadable format record');
    }
    if (format.kind !== options.kind) {
      throw new StoreOpenError(this.file, `directory holds a ${format.kind} store, not a ${options.kind} store`);
    }
    if (format.version > options.version) throw new StoreVersionError(this.file, format.version, options.version);
    for (let v = format.version; v < options.version; v++) {
      const migrate = options.migrations?.[v];
      if (migrate === undefined) throw new StoreVersionError(this.file, format.version, options.version);
      this.writeSync(() => {
        migrate(this);
        meta.putSync(FORMAT_KEY, { kind: options.kind, version: v + 1 } satisfies FormatRecord);
      });
    }
  }
}
