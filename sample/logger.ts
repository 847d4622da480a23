import type { LoggerService } from '@nestjs/common';

/** Nest's own start-up chatter, hidden so that the sample's traffic stands out (SAMPLE_DEBUG=1 shows it). */
const FRAMEWORK_CONTEXTS = new Set(['InstanceLoader', 'NestFactory', 'NestMicroservice', 'NestApplication', 'RoutesResolver', 'RouterExplorer']);

/**
 * One readable line per event: `12:00:01.234 Devices    telemetry dev-1: 21.4 °C`. Errors and
 * warnings go to stderr with their level.
 */
export class SampleLogger implements LoggerService {
  constructor(private readonly debugEnabled = process.env.SAMPLE_DEBUG === '1') {}

  log(message: unknown, context?: string): void {
    this.write('', message, context);
  }

  warn(message: unknown, context?: string): void {
    this.write('WARN ', message, context);
  }

  error(message: unknown, ...rest: unknown[]): void {
    // Nest calls error(message, stack?, context?).
    const context = typeof rest.at(-1) === 'string' ? (rest.at(-1) as string) : undefined;
    const stack = rest.length > 1 && typeof rest[0] === 'string' ? `\n${rest[0]}` : '';
    this.write('ERROR ', message instanceof Error ? (message.stack ?? message.message) : `${String(message)}${stack}`, context);
  }

  fatal(message: unknown, context?: string): void {
    this.write('FATAL ', message, context);
  }

  debug(message: unknown, context?: string): void {
    if (this.debugEnabled) this.write('DEBUG ', message, context);
  }

  verbose(message: unknown, context?: string): void {
    if (this.debugEnabled) this.write('VERBOSE ', message, context);
  }

  private write(level: string, message: unknown, context: string | undefined): void {
    if (context !== undefined && FRAMEWORK_CONTEXTS.has(context) && !this.debugEnabled) return;
    const time = new Date().toISOString().slice(11, 23);
    const text = typeof message === 'string' ? message : message instanceof Error ? message.message : JSON.stringify(message);
    const line = `${time} ${(context ?? 'Sample').padEnd(10)} ${level}${text}\n`;
    if (level === '' || level === 'DEBUG ' || level === 'VERBOSE ') process.stdout.write(line);
    else process.stderr.write(line);
  }
}
