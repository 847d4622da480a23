/**
 * Fixtures of the "running in production" tests: a broker that can be stopped and started again on
 * the same port (ours or Mosquitto), a LoggerService that records Nest's log lines with their
 * context, and a microservice bootstrapped with it.
 */
import { Module, type INestMicroservice, type LoggerService, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MqttBroker } from '../../../lib/broker/index.js';
import { ServerMqtt5, type Mqtt5ServerOptions } from '../../../lib/nest/index.js';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { deferred, withTimeout, type Deferred } from '../../helpers/wait.js';

export { freePort } from '../../helpers/free-port.js';

/** A broker on a fixed port that a test can stop and start again. */
export interface RestartableBroker {
  readonly kind: 'embedded' | 'mosquitto';
  readonly port: number;
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The embedded broker while running (undefined for Mosquitto). */
  readonly embedded: MqttBroker | undefined;
}

export function restartableBroker(kind: 'embedded' | 'mosquitto', port: number): RestartableBroker {
  let embedded: MqttBroker | undefined;
  let mosquitto: Mosquitto | undefined;
  return {
    kind,
    port,
    url: `mqtt://127.0.0.1:${port}`,
    get embedded() {
      return embedded;
    },
    async start() {
      if (kind === 'embedded') {
        embedded = new MqttBroker({ maxQueuedMessages: 100_000 });
        await embedded.listen({ tcp: { port, host: '127.0.0.1' } });
      } else {
        mosquitto = await startMosquitto({ tcpPort: port, extraConfig: ['max_inflight_messages 0', 'max_queued_messages 100000'] });
      }
    },
    async stop() {
      if (embedded) await embedded.close();
      if (mosquitto) await mosquitto.stop();
      embedded = undefined;
      mosquitto = undefined;
    },
  };
}

/** One recorded log line. */
export interface LogLine {
  level: 'log' | 'warn' | 'error' | 'debug' | 'verbose' | 'fatal';
  message: string;
  context: string | undefined;
}

/** Records every line Nest's Logger gets (install with `Logger.overrideLogger(capture)` or as an app's `logger`). */
export class CaptureLogger implements LoggerService {
  readonly lines: LogLine[] = [];
  private waiters: { test: (l: LogLine) => boolean; done: Deferred<LogLine> }[] = [];

  log(message: unknown, context?: string): void {
    this.add('log', message, context);
  }
  warn(message: unknown, context?: string): void {
    this.add('warn', message, context);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.add('error', message, rest.length > 0 ? (rest[rest.length - 1] as string) : undefined);
  }
  debug(message: unknown, context?: string): void {
    this.add('debug', message, context);
  }
  verbose(message: unknown, context?: string): void {
    this.add('verbose', message, context);
  }
  fatal(message: unknown, context?: string): void {
    this.add('fatal', message, context);
  }

  /** Lines of `context` at `level` matching `pattern`. */
  find(context: string, level: LogLine['level'], pattern: RegExp): LogLine[] {
    return this.lines.filter((l) => l.context === context && l.level === level && pattern.test(l.message));
  }

  /** Resolves with the first line (past or future) of `context` at `level` matching `pattern`. */
  next(context: string, level: LogLine['level'], pattern: RegExp, ms = 15_000, after = 0): Promise<LogLine> {
    const test = (l: LogLine): boolean => l.context === context && l.level === level && pattern.test(l.message);
    const seen = this.lines.slice(after).find(test);
    if (seen) return Promise.resolve(seen);
    const done = deferred<LogLine>();
    this.waiters.push({ test, done });
    return withTimeout(done.promise, ms, `log line ${context} ${level} ${pattern}`);
  }

  private add(level: LogLine['level'], message: unknown, context: string | undefined): void {
    const line: LogLine = { level, message: message instanceof Error ? `${message.name}: ${message.message}` : String(message), context };
    this.lines.push(line);
    this.waiters = this.waiters.filter((w) => {
      if (!w.test(line)) return true;
      w.done.resolve(line);
      return false;
    });
  }
}

/** A microservice on ServerMqtt5 whose logs go to `logger`; `listen()` is left to the test. */
export async function createService(
  controllers: Type[],
  options: Mqtt5ServerOptions,
  logger: LoggerService,
): Promise<{ app: INestMicroservice; server: ServerMqtt5 }> {
  @Module({ controllers })
  class ServiceModule {}
  const server = new ServerMqtt5(options);
  const app = await NestFactory.createMicroservice(ServiceModule, { strategy: server, logger });
  return { app, server };
}

/** Reconnect quickly in tests (the default backoff starts at 1 s). */
export const FAST = { initialReconnectDelay: 50, maxReconnectDelay: 300, reconnectJitter: 0.2 };
