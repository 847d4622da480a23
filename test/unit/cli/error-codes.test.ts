import { describe, expect, it } from '@jest/globals';
import { CliError, ExitCode, TimeoutError, UsageError } from '../../../lib/cli/errors.js';

describe('CLI errors carry a stable code matching their exit code', () => {
  it.each([
    [new CliError('x'), 'FAILED', ExitCode.Failure],
    [new CliError('x', ExitCode.Refused), 'CONNECTION_REFUSED', ExitCode.Refused],
    [new UsageError('bad flag'), 'USAGE', ExitCode.Usage],
    [new TimeoutError('too slow'), 'TIMEOUT', ExitCode.Timeout],
  ])('%p', (error, code, exitCode) => {
    expect(error.code).toBe(code);
    expect(error.exitCode).toBe(exitCode);
  });
});
