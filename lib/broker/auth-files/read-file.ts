import { readFileSync } from 'node:fs';
import { AuthFileError } from './errors.js';

/** The lines of `file` (UTF-8, `\n` or `\r\n`), or AuthFileError `AUTH_FILE_UNREADABLE`. */
export function readLines(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AuthFileError('AUTH_FILE_UNREADABLE', file, undefined, `cannot read: ${(err as Error).message}`, { cause: err });
  }
  return text.split(/\r?\n/);
}
