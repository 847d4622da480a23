/**
 * Exit codes and typed errors of the `nest-mqtt5` command-line tool. Every failure ends the process
 * with a message on stderr and one of {@link ExitCode}, so scripts can tell a typo from a broker
 * that said no.
 */
import { ConnackError, ConnectTimeoutError, MqttClientError } from '../client/index.js';
import { ErrorCode, reasonCodeName, type MqttErrorDetails } from '../codec/index.js';

/** Process exit codes (also listed in `nest-mqtt5 --help`). */
export const ExitCode = {
  /** Done, or stopped by SIGINT/SIGTERM after a clean DISCONNECT. */
  Ok: 0,
  /** A runtime failure: network error, lost connection, refused publish or subscription, I/O error. */
  Failure: 1,
  /** The command line is wrong: unknown option, bad value, bad broker URL, unreadable input file. */
  Usage: 2,
  /** The broker refused the connection (CONNACK reason code ≥ 0x80). */
  Refused: 3,
  /** `--timeout` (or the connect timeout) expired. */
  Timeout: 4,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error that ends the command with a given exit code; its message is printed as is. */
export class CliError extends Error implements MqttErrorDetails {
  override name = 'CliError';
  /** Stable code matching the exit code: `FAILED`, `USAGE`, `CONNECTION_REFUSED` or `TIMEOUT`. */
  readonly code: string;
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.Failure,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = EXIT_CODE_ERRORS[exitCode];
  }
}

/** The error code of each exit code (exit 0 never comes with an error). */
const EXIT_CODE_ERRORS: Record<ExitCodeValue, string> = {
  [ExitCode.Ok]: ErrorCode.FAILED,
  [ExitCode.Failure]: ErrorCode.FAILED,
  [ExitCode.Usage]: ErrorCode.USAGE,
  [ExitCode.Refused]: ErrorCode.CONNECTION_REFUSED,
  [ExitCode.Timeout]: ErrorCode.TIMEOUT,
};

/** The command line cannot work as given (exit code 2). */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.Usage, options);
  }
}

/** `--timeout` expired (exit code 4). */
export class TimeoutError extends CliError {
  override name = 'TimeoutError';
  constructor(message: string) {
    super(message, ExitCode.Timeout);
  }
}

/** `Not authorized (0x87)`: a reason code's name with its hex value, as users search for either. */
export function formatReasonCode(code: number): string {
  return `${reasonCodeName(code)} (0x${code.toString(16).padStart(2, '0').toUpperCase()})`;
}

/**
 * Appends the reason code to a client error's message unless it says nothing: 0x00 and 0x80
 * (Unspecified error) accompany plain network failures, whose message is the useful part.
 */
function withReasonCode(message: string, code: number): string {
  if (code === 0 || code === 0x80) return message;
  const name = reasonCodeName(code);
  const hex = `0x${code.toString(16).padStart(2, '0').toUpperCase()}`;
  if (message.includes(name)) return message.includes(hex) ? message : `${message} (${hex})`;
  return `${message} [${formatReasonCode(code)}]`;
}

/**
 * A reason code with the peer's reason string, e.g. `Not authorized (0x87) — topic reserved`; a
 * reason string that only repeats the code's name is left out.
 */
export function formatReason(code: number, reasonString: string | undefined, name = formatReasonCode(code)): string {
  if (reasonString === undefined || reasonString === '') return name;
  if (reasonString.toLowerCase() === reasonCodeName(code).toLowerCase()) return name;
  return `${name} — ${reasonString}`;
}

/** Like {@link formatReasonCode}, for a DISCONNECT, where 0x00 means Normal disconnection. */
export function formatDisconnectReason(code: number): string {
  return code === 0 ? 'Normal disconnection (0x00)' : formatReasonCode(code);
}

/** Maps any error to the message and exit code the process ends with. */
export function describeError(error: unknown): { message: string; exitCode: ExitCodeValue } {
  if (error instanceof CliError) return { message: error.message, exitCode: error.exitCode };
  if (error instanceof ConnackError) {
    const p = error.connack.properties;
    return {
      message:
        `Connection refused by the broker: ${formatReason(error.reasonCode, p?.reasonString)}` +
        (p?.serverReference ? ` (server reference: ${p.serverReference})` : ''),
      exitCode: ExitCode.Refused,
    };
  }
  if (error instanceof ConnectTimeoutError) return { message: error.message, exitCode: ExitCode.Timeout };
  if (error instanceof MqttClientError) {
    return { message: withReasonCode(error.message, error.reasonCode), exitCode: ExitCode.Failure };
  }
  if (error instanceof Error) return { message: error.message, exitCode: ExitCode.Failure };
  return { message: String(error), exitCode: ExitCode.Failure };
}
