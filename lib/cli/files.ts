/** Reading the files named on the command line (certificates, keys). */
import { readFile } from 'node:fs/promises';
import { UsageError } from './errors.js';

/**
 * Reads a PEM file given with `option`; undefined when the option was not given. A file that
 * cannot be read is a usage error naming the option, the path and why.
 */
export async function readPem(file: string | undefined, option: string): Promise<Buffer | undefined> {
  if (file === undefined) return undefined;
  try {
    return await readFile(file);
  } catch (err) {
    throw new UsageError(`Cannot read ${option} ${file}: ${(err as Error).message}`, { cause: err });
  }
}
