/**
 * Typed errors of the storage layer. Each kind is a class with a stable `code` and the `path` of the
 * store it concerns, so that an operator sees which directory to fix; `cause` keeps the engine's error.
 */

/** Stable codes of {@link StoreError}. */
export type StoreErrorCode =
  | 'STORE_OPEN_FAILED'
  | 'STORE_CORRUPT'
  | 'STORE_VERSION'
  | 'STORE_WRITE_FAILED'
  | 'STORE_FULL'
  | 'STORE_CLOSED';

/** Base class of every storage error. */
export class StoreError extends Error {
  override name = 'StoreError';
  constructor(
    /** Stable machine-readable kind. */
    readonly code: StoreErrorCode,
    /** The store directory (or file) concerned. */
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${message} (${path})`, options);
  }
}

/** The store could not be opened or created: missing permission, read-only file system, not a directory. */
export class StoreOpenError extends StoreError {
  override name = 'StoreOpenError';
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('STORE_OPEN_FAILED', path, message, options);
  }
}

/** The store's files are damaged (truncated, overwritten, or missing their format record). */
export class StoreCorruptError extends StoreError {
  override name = 'StoreCorruptError';
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('STORE_CORRUPT', path, message, options);
  }
}

/** The store was written in a format this version cannot read and no migration exists. */
export class StoreVersionError extends StoreError {
  override name = 'StoreVersionError';
  constructor(
    path: string,
    /** The format version found in the store. */
    readonly found: number,
    /** The format version this code writes. */
    readonly supported: number,
  ) {
    super(
      'STORE_VERSION',
      path,
      found > supported
        ? `store format ${found} is newer than the supported format ${supported}; upgrade nest-mqtt5`
        : `store format ${found} has no migration to format ${supported}`,
    );
  }
}

/**
 * A commit failed, or an earlier one did: once a write has failed the store refuses every later commit
 * (and fails those still pending), so nothing is ever reported durable that was not written.
 */
export class StoreWriteError extends StoreError {
  override name = 'StoreWriteError';
  constructor(path: string, message: string, options?: { cause?: unknown; code?: 'STORE_WRITE_FAILED' | 'STORE_FULL' }) {
    super(options?.code ?? 'STORE_WRITE_FAILED', path, message, options);
  }
}

/** A commit failed because the disk (or the file system's quota) is full. A {@link StoreWriteError}. */
export class StoreFullError extends StoreWriteError {
  override name = 'StoreFullError';
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(path, message, { ...options, code: 'STORE_FULL' });
  }
}

/** The store was closed; no more commits. */
export class StoreClosedError extends StoreError {
  override name = 'StoreClosedError';
  constructor(path: string) {
    super('STORE_CLOSED', path, 'the store is closed');
  }
}
