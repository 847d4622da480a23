/**
 * Mosquitto password files (`password_file`, written by `mosquitto_passwd`) as an {@link Authenticate}
 * hook. A line is `user:$7$<iterations>$<salt b64>$<hash b64>` (PBKDF2-HMAC-SHA512, 64-byte hash; Mosquitto
 * 2.0 writes a 12-byte salt and 101 iterations, later versions a 64-byte salt and 210,000) or
 * `user:$6$<salt b64>$<hash b64>` (SHA-512 of password ‖ salt, Mosquitto ≤ 1.6). Lines starting with `#`
 * and blank lines are skipped.
 *
 * Where we follow Mosquitto (src/security_default.c, 2.0): user name = the text before the first `:`, the
 * hash = the text up to the next `:`, both trimmed of blanks; salts of 12 or 64 bytes; hashes of 64 bytes;
 * any iteration count ≥ 1; a client without a user name is left to `allowAnonymous` (Mosquitto 2.0's
 * `allow_anonymous`, default false); a known user without a password, an unknown user or a wrong password is
 * refused. Where we differ, on purpose: Mosquitto skips a line it cannot use (logging it, and the user
 * simply cannot log in); we refuse the whole file with an {@link AuthFileError} naming the line — a typo must
 * not silently lock a user out or leave a stale entry in force. Mosquitto compares C strings, so a password
 * is cut at its first NUL byte; we hash the whole binary password.
 */
import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Authenticate, AuthenticateRequest, AuthenticateResult } from '../auth.js';
import { AuthFileError } from './errors.js';
import { readLines } from './read-file.js';

/** One user's stored hash. */
export interface PasswordEntry {
  readonly kind: 'pbkdf2-sha512' | 'sha512';
  /** PBKDF2 iterations; 1 for `$6$`. */
  readonly iterations: number;
  readonly salt: Buffer;
  /** The 64-byte hash. */
  readonly hash: Buffer;
}

const HASH_LEN = 64;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeBase64(s: string): Buffer | undefined {
  return s.length > 0 && BASE64.test(s) ? Buffer.from(s, 'base64') : undefined;
}

/** Parses the text of a password file into user → entry. Throws AuthFileError naming `file` and the line. */
export function parsePasswordFile(lines: readonly string[], file: string): Map<string, PasswordEntry> {
  const users = new Map<string, PasswordEntry>();
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.startsWith('#') || raw.trim() === '') continue;
    const bad = (why: string): AuthFileError => new AuthFileError('AUTH_FILE_INVALID', file, i + 1, why);
    const colon = raw.indexOf(':');
    if (colon < 0) throw bad('expected user:hash');
    const user = raw.slice(0, colon).trim();
    if (user === '') throw bad('empty user name');
    if (Buffer.byteLength(user) > 65535) throw bad('user name longer than 65535 bytes');
    const rest = raw.slice(colon + 1);
    const next = rest.indexOf(':');
    const stored = (next < 0 ? rest : rest.slice(0, next)).trim();
    if (users.has(user)) throw bad(`user ${JSON.stringify(user)} appears twice`);
    const fields = stored.split('$');
    // '$7$iter$salt$hash' splits to ['', '7', iter, salt, hash]; '$6$salt$hash' to ['', '6', salt, hash].
    let entry: PasswordEntry;
    if (fields[0] === '' && fields[1] === '7' && fields.length === 5) {
      if (!/^[0-9]{1,10}$/.test(fields[2]!) || Number(fields[2]) < 1) throw bad('invalid PBKDF2 iteration count');
      entry = { kind: 'pbkdf2-sha512', iterations: Number(fields[2]), salt: checkSalt(fields[3]!, bad), hash: checkHash(fields[4]!, bad) };
    } else if (fields[0] === '' && fields[1] === '6' && fields.length === 4) {
      entry = { kind: 'sha512', iterations: 1, salt: checkSalt(fields[2]!, bad), hash: checkHash(fields[3]!, bad) };
    } else {
      throw bad('the password is not a $6$ or $7$ hash (plain-text files must be converted with mosquitto_passwd -U)');
    }
    users.set(user, entry);
  }
  return users;
}

function checkSalt(b64: string, bad: (why: string) => AuthFileError): Buffer {
  const salt = decodeBase64(b64);
  if (salt === undefined || (salt.length !== 12 && salt.length !== HASH_LEN)) throw bad('the salt is not base64 of 12 or 64 bytes');
  return salt;
}

function checkHash(b64: string, bad: (why: string) => AuthFileError): Buffer {
  const hash = decodeBase64(b64);
  if (hash === undefined || hash.length !== HASH_LEN) throw bad('the hash is not base64 of 64 bytes');
  return hash;
}

/**
 * PBKDF2 runs below this many iterations are done synchronously (101 iterations cost ~0.1 ms); above,
 * on libuv's thread pool so that a 210,000-iteration hash (~0.1–0.3 s of CPU) does not stall the event loop.
 */
const SYNC_ITERATIONS = 2000;

/** Options of {@link passwordFileAuthenticator}. */
export interface PasswordFileOptions {
  /** Accept clients that send no user name (Mosquitto's `allow_anonymous`). Default false. */
  allowAnonymous?: boolean;
  /**
   * How many successful slow (thread-pool PBKDF2) verifications to remember, so that a reconnecting
   * client does not cost another PBKDF2 run. Default 1024; 0 disables. See {@link passwordFileAuthenticator}.
   */
  verifiedCacheSize?: number;
}

/** An {@link Authenticate} hook backed by a Mosquitto password file. */
export interface PasswordFileAuthenticator extends Authenticate {
  /** The file, as given. */
  readonly path: string;
  /** How many users the file in force holds. */
  readonly userCount: number;
  /**
   * Reads the file again and swaps it in at once (clients connecting from now on see the new one;
   * connected clients stay). If the new file cannot be read or is malformed, throws its AuthFileError and
   * keeps the file in force.
   */
  reload(): void;
}

interface State {
  readonly users: Map<string, PasswordEntry>;
  // user → HMAC(cacheKey, password) of a password that verified against this state's entry.
  readonly verified: Map<string, Buffer>;
}

/**
 * Builds an {@link Authenticate} hook from the Mosquitto password file at `path`, read now: throws
 * {@link AuthFileError} if it cannot be read or is malformed (so a broker refuses to start, naming the line).
 *
 * Refusals answer `false`, which the broker sends as CONNACK 0x86 (3.1.1: 0x04) when the client gave
 * credentials and 0x87 (0x05) for an anonymous client refused. (Mosquitto 2.0.11 answers a wrong password
 * or unknown user with 0x87 / 0x05 "not authorised" too; we keep the spec's more precise 0x86 / 0x04.) Enhanced authentication (an
 * authentication method) is not something this file can check: 0x8C.
 *
 * Cache: a successful slow verification stores HMAC-SHA256 of the password under a random key made for this
 * hook, per user; the next CONNECT with the same user and password compares against it in constant time
 * instead of running PBKDF2 again. A reload drops the cache; a wrong password never enters it. The cost: a
 * memory dump gives an attacker a fast hash (key included) to brute-force instead of the slow one — the
 * same trade Mosquitto's own in-memory credential of a connected client already makes. Set
 * `verifiedCacheSize: 0` to refuse it.
 */
export function passwordFileAuthenticator(path: string, options: PasswordFileOptions = {}): PasswordFileAuthenticator {
  const allowAnonymous = options.allowAnonymous === true;
  const cacheSize = options.verifiedCacheSize ?? 1024;
  if (!Number.isInteger(cacheSize) || cacheSize < 0) throw new RangeError(`verifiedCacheSize must be an integer ≥ 0, not ${cacheSize}`);
  const cacheKey = randomBytes(32);
  const load = (): State => ({ users: parsePasswordFile(readLines(path), path), verified: new Map() });
  let state = load();

  const fingerprint = (password: Buffer): Buffer => createHmac('sha256', cacheKey).update(password).digest();

  const remember = (s: State, user: string, password: Buffer): void => {
    if (cacheSize === 0) return;
    s.verified.delete(user);
    if (s.verified.size >= cacheSize) s.verified.delete(s.verified.keys().next().value!);
    s.verified.set(user, fingerprint(password));
  };

  const authenticate = (request: AuthenticateRequest): AuthenticateResult | Promise<AuthenticateResult> => {
    if (request.authenticationMethod !== undefined) return { reasonCode: 0x8c };
    const user = request.username;
    if (user === undefined) return allowAnonymous;
    const s = state;
    const entry = s.users.get(user);
    const password = request.password;
    if (entry === undefined || password === undefined) return false;
    if (entry.kind === 'sha512') {
      return timingSafeEqual(createHash('sha512').update(password).update(entry.salt).digest(), entry.hash);
    }
    if (entry.iterations <= SYNC_ITERATIONS) {
      return timingSafeEqual(pbkdf2Sync(password, entry.salt, entry.iterations, HASH_LEN, 'sha512'), entry.hash);
    }
    const known = s.verified.get(user);
    if (known !== undefined && timingSafeEqual(fingerprint(password), known)) return true;
    return new Promise<AuthenticateResult>((resolve, reject) => {
      pbkdf2(password, entry.salt, entry.iterations, HASH_LEN, 'sha512', (err, derived) => {
        if (err) return reject(err);
        const ok = timingSafeEqual(derived, entry.hash);
        // Only into the state it was verified against: a reload meanwhile has its own, empty cache.
        if (ok) remember(s, user, password);
        resolve(ok);
      });
    });
  };

  return Object.defineProperties(authenticate as PasswordFileAuthenticator, {
    path: { value: path, enumerable: true },
    userCount: { get: () => state.users.size, enumerable: true },
    reload: {
      value: (): void => {
        state = load();
      },
    },
  });
}
