/**
 * A pre-open check of an LMDB data file. LMDB maps the file into memory and has no page checksums:
 * opening a truncated file kills the process with SIGBUS, and overwritten meta pages with SIGSEGV,
 * before any JavaScript error can be raised. Reading the two meta pages first turns those cases into
 * a {@link StoreCorruptError} naming the file. (Damage inside B-tree pages is not detectable this way.)
 *
 * A file may legitimately end before the meta's last page: LMDB does not write pages that a commit
 * allocated and freed again ("loose" pages), it lists them in the free-page DB instead. So when the
 * file is short, the free-page DB is read and the check passes only if every missing page is free.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { StoreCorruptError } from './errors.js';

/** Meta page layout of LMDB 0.9 (lmdb-js fork) on 64-bit hosts, little-endian. */
const MAGIC = 0xbeefc0de;
const PAGE_HEADER = 24;
const META_MAGIC_OFFSET = PAGE_HEADER;
const META_VERSION_OFFSET = PAGE_HEADER + 4;
/** `mm_dbs[0]` is the free-page DB; its `md_pad` holds the page size. */
const META_FREE_DB = PAGE_HEADER + 24;
const META_PAGE_SIZE_OFFSET = META_FREE_DB;
const DB_ROOT_OFFSET = 40;
const META_LAST_PAGE_OFFSET = 0x90;
const META_TXNID_OFFSET = 0x98;
const META_BYTES = 0xa0;
/** Page header fields after `mp_pgno` and `mp_txnid`. */
const PAGE_FLAGS_OFFSET = 18;
const PAGE_LOWER_OFFSET = 20;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const F_BIGDATA = 0x01;
const NODE_HEADER = 8;
const INVALID_PAGE = 0xffffffffffffffffn;

/**
 * Throws {@link StoreCorruptError} unless `file` (of `size` bytes, > 0) starts with two valid LMDB
 * meta pages and every page they reference that lies beyond the end of the file is a free page.
 */
export function checkLmdbFile(file: string, size: number): void {
  if (size < 2 * 4096) throw new StoreCorruptError(file, `data file is truncated (${size} bytes)`);
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(4096);
    readSync(fd, head, 0, head.length, 0);
    const pageSize = head.readUInt32LE(META_PAGE_SIZE_OFFSET);
    if (head.readUInt32LE(META_MAGIC_OFFSET) !== MAGIC || pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
      throw new StoreCorruptError(file, 'data file has no valid LMDB header');
    }
    const second = Buffer.alloc(META_BYTES);
    readSync(fd, second, 0, second.length, pageSize);
    // LMDB opens the meta page with the higher transaction id; a never-used one has txnid 0.
    let current: Buffer | undefined;
    for (const meta of [head, second]) {
      if (meta.readUInt32LE(META_MAGIC_OFFSET) !== MAGIC || meta.readUInt32LE(META_VERSION_OFFSET) > 16) {
        throw new StoreCorruptError(file, 'data file has a damaged LMDB meta page');
      }
      if (current === undefined || meta.readBigUInt64LE(META_TXNID_OFFSET) > current.readBigUInt64LE(META_TXNID_OFFSET)) current = meta;
    }
    const lastPage = Number(current!.readBigUInt64LE(META_LAST_PAGE_OFFSET));
    const filePages = Math.floor(size / pageSize);
    if (lastPage < filePages) return;
    const truncated = (): StoreCorruptError =>
      new StoreCorruptError(file, `data file is truncated: ${size} bytes, its pages need ${(lastPage + 1) * pageSize}`);
    const freeRoot = current!.readBigUInt64LE(META_FREE_DB + DB_ROOT_OFFSET);
    if (freeRoot === INVALID_PAGE) throw truncated();
    const free = new Set<number>();
    collectFreePages(fd, pageSize, filePages, Number(freeRoot), free, 0, truncated);
    for (let page = filePages; page <= lastPage; page++) if (!free.has(page)) throw truncated();
  } finally {
    closeSync(fd);
  }
}

/** Reads page `page` (which must lie inside the file) into a fresh buffer. */
function readPage(fd: number, pageSize: number, filePages: number, page: number, count: number, fail: () => Error): Buffer {
  if (page < 2 || page + count > filePages) throw fail();
  const buf = Buffer.alloc(pageSize * count);
  readSync(fd, buf, 0, buf.length, page * pageSize);
  return buf;
}

/** Adds the page numbers listed in the free-page DB under `page` to `free`. */
function collectFreePages(
  fd: number, pageSize: number, filePages: number, page: number, free: Set<number>, depth: number, fail: () => Error,
): void {
  if (depth > 32) throw fail();
  const buf = readPage(fd, pageSize, filePages, page, 1, fail);
  const flags = buf.readUInt16LE(PAGE_FLAGS_OFFSET);
  const keys = buf.readUInt16LE(PAGE_LOWER_OFFSET) >> 1;
  for (let i = 0; i < keys; i++) {
    const node = buf.readUInt16LE(PAGE_HEADER + 2 * i) + PAGE_HEADER;
    if (node + NODE_HEADER > pageSize) throw fail();
    const lo = buf.readUInt16LE(node);
    const hi = buf.readUInt16LE(node + 2);
    const nodeFlags = buf.readUInt16LE(node + 4);
    const keySize = buf.readUInt16LE(node + 6);
    if (flags & P_BRANCH) {
      collectFreePages(fd, pageSize, filePages, lo + hi * 0x10000 + nodeFlags * 0x100000000, free, depth + 1, fail);
      continue;
    }
    if (!(flags & P_LEAF)) throw fail();
    const dataSize = lo + hi * 0x10000;
    let data = buf;
    let at = node + NODE_HEADER + keySize;
    if (nodeFlags & F_BIGDATA) {
      const overflow = Number(buf.readBigUInt64LE(at));
      data = readPage(fd, pageSize, filePages, overflow, Math.floor((PAGE_HEADER - 1 + dataSize) / pageSize) + 1, fail);
      at = PAGE_HEADER;
    }
    if (at + dataSize > data.length || dataSize < 8) throw fail();
    // A record is an ID list (lmdb-js format): its length, then entries that are a page number, 0
    // (unused), or -n followed by the first page of a run of n pages.
    const length = Number(data.readBigUInt64LE(at));
    if (8 * (length + 1) > dataSize) throw fail();
    for (let k = 1; k <= length; k++) {
      const entry = data.readBigInt64LE(at + 8 * k);
      if (entry === 0n) continue;
      if (entry > 0n) {
        free.add(Number(entry));
        continue;
      }
      if (++k > length) throw fail();
      const first = Number(data.readBigUInt64LE(at + 8 * k));
      const run = Number(-entry);
      for (let p = 0; p < run; p++) free.add(first + p);
    }
  }
}
