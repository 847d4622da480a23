#!/usr/bin/env node
/**
 * Entry point of the `nest-mqtt5` command (package.json "bin"). Runs the command, prints a failure
 * as one `error: …` line on stderr, and sets the exit code (see `nest-mqtt5 --help`).
 */
import { CommanderError } from 'commander';
import { describeError, ExitCode } from './errors.js';
import { createProgram } from './program.js';

/** Commander's "errors" that are really successful exits (help or version shown). */
const CLEAN_EXITS = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help']);

async function main(argv: string[]): Promise<number> {
  try {
    await createProgram().parseAsync(argv);
    return ExitCode.Ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its message (and the hint to use --help).
      return CLEAN_EXITS.has(error.code) ? ExitCode.Ok : ExitCode.Usage;
    }
    const { message, exitCode } = describeError(error);
    process.stderr.write(`error: ${message}\n`);
    return exitCode;
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
  // Everything is closed by now and the process ends by itself once stdout is flushed. Should a
  // library handle linger anyway, do not hang the user's shell: exit regardless after a grace period.
  setTimeout(() => process.exit(code), 2000).unref();
});
