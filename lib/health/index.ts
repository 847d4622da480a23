/**
 * nest-mqtt5/health — `@nestjs/terminus` health checks for the transport and the embedded broker.
 * A separate entry point so that the package root never loads `@nestjs/terminus` (an optional peer).
 */
export {
  Mqtt5HealthIndicator,
  DEFAULT_HEALTH_TIMEOUT,
  withoutCredentials,
  type Mqtt5TransportCheckOptions,
  type Mqtt5BrokerCheckOptions,
  type Mqtt5PubackRoundTrip,
  type Mqtt5SendRoundTrip,
  type Mqtt5TransportHealth,
} from './indicator.js';
export type { Mqtt5DisconnectRecord } from './connection-state.js';
export { Mqtt5HealthTimeoutError } from './deadline.js';
export { DEFAULT_HEALTH_TOPIC_PREFIX } from './probes.js';
