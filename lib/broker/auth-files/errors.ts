/** The error of the Mosquitto-compatible auth files (password file, ACL file). */

/** Stable codes of {@link AuthFileError}. */
export type AuthFileErrorCode = 'AUTH_FILE_UNREADABLE' | 'AUTH_FILE_INVALID';

/**
 * A password or ACL file that cannot be read (`AUTH_FILE_UNREADABLE`) or holds a line we do not accept
 * (`AUTH_FILE_INVALID`, with the 1-based `line`). The message names the file and the line, never a
 * password hash.
 */
export class AuthFileError extends Error {
  override readonly name = 'AuthFileError';
  constructor(
    readonly code: AuthFileErrorCode,
    /** The file, as given. */
    readonly file: string,
    /** The 1-based line number, for `AUTH_FILE_INVALID`. */
    readonly line: number | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${detail}`, options);
  }
}
