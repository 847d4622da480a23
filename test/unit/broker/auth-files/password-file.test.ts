/**
 * passwordFileAuthenticator against files written by the real mosquitto_passwd (Mosquitto 2.0: `$7$`,
 * 12-byte salt, 101 iterations; `-H sha512`: `$6$`), against `$7$` lines with a 64-byte salt and 210,000
 * iterations (what later Mosquitto versions write), and against malformed files.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthFileError, passwordFileAuthenticator } from '../../../../lib/broker/auth-files/index.js';
import type { AuthenticateResult } from '../../../../lib/broker/auth.js';
import { connectRequest } from './client.js';

const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pwfile-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function verdict(r: AuthenticateResult | Promise<AuthenticateResult>): Promise<AuthenticateResult> {
  return await r;
}

/** A `$7$` line as Mosquitto ≥ 2.1 writes it: 64-byte salt, 210,000 iterations. */
function modernLine(user: string, password: string): string {
  const salt = randomBytes(64);
  const hash = pbkdf2Sync(password, salt, 210_000, 64, 'sha512');
  return `${user}:$7$210000$${salt.toString('base64')}$${hash.toString('base64')}`;
}

describe('passwordFileAuthenticator: files written by mosquitto_passwd', () => {
  it('verifies $7$ (PBKDF2, 101 iterations, 12-byte salt) and $6$ (SHA-512) lines', async () => {
    const file = join(dir, 'real');
    execFileSync(MOSQUITTO_PASSWD, ['-c', '-b', file, 'alice', 'secret'], { timeout: 10_000 });
    execFileSync(MOSQUITTO_PASSWD, ['-H', 'sha512', '-b', file, 'bob', 'hunter2'], { timeout: 10_000 });
    execFileSync(MOSQUITTO_PASSWD, ['-b', file, 'carol', 'pässwörd with spaces:and colon'], { timeout: 10_000 });
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^alice:\$7\$101\$[A-Za-z0-9+/]{16}\$/m); // 12-byte salt = 16 base64 chars
    expect(text).toMatch(/^bob:\$6\$/m);

    const auth = passwordFileAuthenticator(file);
    expect(auth.userCount).toBe(3);
    // 101 iterations: answered synchronously.
    expect(auth(connectRequest('alice', 'secret'))).toBe(true);
    expect(auth(connectRequest('alice', 'Secret'))).toBe(false);
    expect(auth(connectRequest('alice', ''))).toBe(false);
    expect(auth(connectRequest('alice', undefined))).toBe(false);
    expect(auth(connectRequest('bob', 'hunter2'))).toBe(true);
    expect(auth(connectRequest('bob', 'secret'))).toBe(false);
    expect(auth(connectRequest('carol', 'pässwörd with spaces:and colon'))).toBe(true);
    expect(auth(connectRequest('mallory', 'secret'))).toBe(false);
    expect(auth(connectRequest('Alice', 'secret'))).toBe(false);
    // Anonymous: refused unless allowed (Mosquitto 2.0's allow_anonymous false).
    expect(auth(connectRequest(undefined, undefined))).toBe(false);
    expect(passwordFileAuthenticator(file, { allowAnonymous: true })(connectRequest(undefined, undefined))).toBe(true);
    // Enhanced authentication is not something a password file can answer.
    expect(auth({ ...connectRequest('alice', 'secret'), authenticationMethod: 'SCRAM-SHA-1' })).toEqual({ reasonCode: 0x8c });
  });
});

describe('passwordFileAuthenticator: 64-byte salt, 210,000 iterations', () => {
  it('verifies off the event loop, then answers a repeat from the cache', async () => {
    const file = join(dir, 'modern');
    writeFileSync(file, `# written by a newer mosquitto_passwd\n\n${modernLine('dave', 'correct horse')}\n`);
    const auth = passwordFileAuthenticator(file);
    const wrong = auth(connectRequest('dave', 'battery staple'));
    expect(wrong).toBeInstanceOf(Promise);
    expect(await wrong).toBe(false);

    const t0 = process.hrtime.bigint();
    const first = auth(connectRequest('dave', 'correct horse'));
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toBe(true);
    const slowMs = Number(process.hrtime.bigint() - t0) / 1e6;

    const t1 = process.hrtime.bigint();
    expect(auth(connectRequest('dave', 'correct horse'))).toBe(true); // synchronous: cached
    const fastMs = Number(process.hrtime.bigint() - t1) / 1e6;
    process.stdout.write(`PBKDF2-SHA512 210,000 iterations: ${slowMs.toFixed(1)} ms per CONNECT; cached: ${fastMs.toFixed(3)} ms\n`);
    expect(fastMs).toBeLessThan(slowMs);

    // A wrong password is never answered from the cache.
    expect(await verdict(auth(connectRequest('dave', 'correct horse!')))).toBe(false);
  }, 30_000);

  it('without the cache every CONNECT runs PBKDF2', async () => {
    const file = join(dir, 'modern-nocache');
    writeFileSync(file, `${modernLine('erin', 'pw')}\n`);
    const auth = passwordFileAuthenticator(file, { verifiedCacheSize: 0 });
    expect(await verdict(auth(connectRequest('erin', 'pw')))).toBe(true);
    expect(auth(connectRequest('erin', 'pw'))).toBeInstanceOf(Promise);
  }, 30_000);
});

describe('passwordFileAuthenticator: malformed files and reload', () => {
  const good = (): string => {
    const salt = randomBytes(12);
    return `frank:$7$101$${salt.toString('base64')}$${pbkdf2Sync('pw', salt, 101, 64, 'sha512').toString('base64')}`;
  };

  it.each([
    ['a line without a colon', 'frank'],
    ['a plain-text password', 'frank:pw'],
    ['an unknown hash type', 'frank:$5$abc$def'],
    ['an iteration count of 0', 'frank:$7$0$AAAAAAAAAAAAAAAA$' + 'A'.repeat(86) + '=='],
    ['a salt of the wrong size', 'frank:$7$101$AAAA$' + 'A'.repeat(86) + '=='],
    ['a hash of the wrong size', 'frank:$7$101$AAAAAAAAAAAAAAAA$AAAA'],
    ['invalid base64', 'frank:$6$AAAAAAAAAAAAAAAA$' + '*'.repeat(88)],
    ['an empty user name', ':$6$AAAAAAAAAAAAAAAA$' + 'A'.repeat(86) + '=='],
  ])('%s: AuthFileError naming the file and line', (_name, line) => {
    const file = join(dir, 'bad');
    writeFileSync(file, `# comment\n${good()}\n${line}\n`);
    let err: unknown;
    try {
      passwordFileAuthenticator(file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AuthFileError);
    expect((err as AuthFileError).code).toBe('AUTH_FILE_INVALID');
    expect((err as AuthFileError).line).toBe(3);
    expect((err as AuthFileError).message).toContain(`${file}:3`);
  });

  it('a duplicate user is refused; a missing file is AUTH_FILE_UNREADABLE', () => {
    const file = join(dir, 'dup');
    writeFileSync(file, `${good()}\n${good()}\n`);
    expect(() => passwordFileAuthenticator(file)).toThrow(expect.objectContaining({ code: 'AUTH_FILE_INVALID', line: 2 }));
    expect(() => passwordFileAuthenticator(join(dir, 'nope'))).toThrow(expect.objectContaining({ code: 'AUTH_FILE_UNREADABLE' }));
  });

  it('reload swaps in a valid file and keeps the old one when the new one is malformed', () => {
    const file = join(dir, 'reload');
    execFileSync(MOSQUITTO_PASSWD, ['-c', '-b', file, 'gina', 'one'], { timeout: 10_000 });
    const auth = passwordFileAuthenticator(file);
    expect(auth(connectRequest('gina', 'one'))).toBe(true);

    execFileSync(MOSQUITTO_PASSWD, ['-b', file, 'gina', 'two'], { timeout: 10_000 });
    execFileSync(MOSQUITTO_PASSWD, ['-b', file, 'hank', 'three'], { timeout: 10_000 });
    auth.reload();
    expect(auth.userCount).toBe(2);
    expect(auth(connectRequest('gina', 'one'))).toBe(false);
    expect(auth(connectRequest('gina', 'two'))).toBe(true);

    appendFileSync(file, 'broken line\n');
    expect(() => auth.reload()).toThrow(AuthFileError);
    expect(auth.userCount).toBe(2);
    expect(auth(connectRequest('hank', 'three'))).toBe(true);

    rmSync(file);
    expect(() => auth.reload()).toThrow(expect.objectContaining({ code: 'AUTH_FILE_UNREADABLE' }));
    expect(auth(connectRequest('gina', 'two'))).toBe(true);
  });
});
