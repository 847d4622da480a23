/**
 * Lifecycle logs of the transport through Nest's `Logger` (context `ServerMqtt5` / `ClientMqtt5`):
 * connected (broker URL without credentials, session present), disconnected (reason code and
 * name), reconnecting (attempt, delay), resubscribed, gave up. `log` for state changes, `warn` for
 * failures, `error` when the client gives up. Never a password: URLs pass through
 * `withoutCredentials`, and only error messages (which carry none) are shown.
 */
import { Logger, type LoggerService } from '@nestjs/common';
import {
  ClientClosedError,
  withoutCredentials,
  type MqttClient,
  type MqttClientError,
  type MqttClientEvents,
  type ReconnectingInfo,
  type ResubscribeResult,
} from '../client/index.js';
import { reasonCodeName, type ConnackPacket } from '../codec/index.js';

/** The logger methods the transport uses (a Nest `Logger`, or any `LoggerService`). */
export type Mqtt5Logger = Pick<LoggerService, 'log' | 'warn' | 'error'>;

/** Log context of each side. */
export type Mqtt5LogContext = 'ServerMqtt5' | 'ClientMqtt5';

/** A Nest `Logger` with the side's context. */
export function createTransportLogger(context: Mqtt5LogContext): Mqtt5Logger {
  return new Logger(context);
}

/** `Not authorized (0x87)`: the name with its hex value, as users search for either. */
export function describeReasonCode(code: number): string {
  return `${reasonCodeName(code)} (0x${code.toString(16).padStart(2, '0')})`;
}

/**
 * Logs the lifecycle events of `client` to `logger`. Returns a function that stops logging (the
 * listeners are removed). `url` is shown without credentials.
 */
export function logClientLifecycle(client: MqttClient, logger: Mqtt5Logger, url: string = client.connection.brokerUrl): () => void {
  const shown = withoutCredentials(url);
  let connections = 0;
  const listeners: { [K in keyof MqttClientEvents]?: (...args: MqttClientEvents[K]) => void } = {
    connected: (connack: ConnackPacket) => {
      const verb = connections++ === 0 ? 'Connected' : 'Reconnected';
      logger.log(`${verb} to ${shown} as ${client.clientId} (session present: ${connack.sessionPresent ? 'yes' : 'no'})`);
    },
    disconnected: (reason: MqttClientError) => {
      if (reason instanceof ClientClosedError) return; // our own close(): logged by 'closed'
      logger.warn(`Disconnected from ${shown}: ${reason.message} [${describeReasonCode(reason.reasonCode)}]`);
    },
    reconnecting: (info: ReconnectingInfo) => {
      const line = `Reconnecting to ${shown}: attempt ${info.attempt} in ${info.delay} ms`;
      // The first attempt follows the loss (already logged); later ones follow a failed attempt.
      if (info.attempt <= 1) logger.log(line);
      else logger.warn(`${line} (attempt ${info.attempt - 1} failed: ${info.error.message})`);
    },
    resubscribed: (result: ResubscribeResult) => {
      if (result.error === undefined && result.reasonCode < 0x80) {
        logger.log(`Resubscribed to ${result.topicFilter} (${describeReasonCode(result.reasonCode)})`);
      } else {
        const why = result.error?.message ?? describeReasonCode(result.reasonCode);
        logger.warn(`Resubscribing to ${result.topicFilter} failed: ${why}`);
      }
    },
    closed: (reason: MqttClientError) => {
      if (reason instanceof ClientClosedError) logger.log(`Disconnected from ${shown} (closed)`);
      else logger.error(`Gave up reconnecting to ${shown}: ${reason.message} [${describeReasonCode(reason.reasonCode)}]`);
    },
  };
  const emitter = client as unknown as NodeJS.EventEmitter;
  for (const [event, listener] of Object.entries(listeners)) emitter.on(event, listener as (...args: unknown[]) => void);
  return () => {
    for (const [event, listener] of Object.entries(listeners)) emitter.off(event, listener as (...args: unknown[]) => void);
  };
}
