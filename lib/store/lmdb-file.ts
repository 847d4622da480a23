/**
 * A pre-open check of an LMDB data file. LMDB maps the file into memory and has no page checksums:
 * opening a truncated file kills the process with SIGBUS, and overwritten meta pages with SIGSEGV,
 * before any JavaScript error can be raised. Reading the two meta pages first turns those cases into
 * a {@link StoreCorruptError} naming the file. (Damage inside B-tree pages is not detectable this way.)
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { StoreCorruptError } from './errors.js';

/** Meta page layout of LMDB 0.9 on 64-bit hosts (little-endian), as written by the lmdb package. */
const MAGIC = 0xbeefc0de;
const META_MAGIC_OFFSET = 0x18;
const META_VERSION_OFFSET = 0x1c;
/** `md_pad` of the free-pages DB holds the page size. */
const META_PAGE_SIZE_OFFSET = 0x30;
const META_LAST_PAGE_OFFSET = 0x90;
const META_TXNID_OFFSET = 0x98;

/**
 * Throws {@link StoreCorruptError} unless `file` (of `size` bytes, > 0) starts with two valid LMDB
 * meta pages and is long enough for the pages they reference.
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
    const second = Buffer.alloc(0xa0);
    readSync(fd, second, 0, second.length, pageSize);
    let lastPage = 0;
    for (const meta of [head, second]) {
      if (meta.readUInt32LE(META_MAGIC_OFFSET) !== MAGIC || meta.readUInt32LE(META_VERSION_OFFSET) > 16) {
        throw new StoreCorruptError(file, 'data file has a damaged LMDB meta page');
      }
      const last = Number(meta.readBigUInt64LE(META_LAST_PAGE_OFFSET));
      // A never-used meta page holds last page 2^64-1 style markers only for the free DB; txnid 0 means unused.
      if (meta.readBigUInt64LE(META_TXNID_OFFSET) !== 0n && last > lastPage) lastPage = last;
    }
    if (size < (lastPage + 1) * pageSize) {
      throw new StoreCorruptError(file, `data file is truncated: ${size} bytes, its pages need ${(lastPage + 1) * pageSize}`);
    }
  } finally {
    closeSync(fd);
  }
}
