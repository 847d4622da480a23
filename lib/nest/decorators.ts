import { EventPattern, MessagePattern } from '@nestjs/microservices';
import type { Mqtt5PatternExtras } from './options.js';

/**
 * `@EventPattern(pattern, extras)` with typed MQTT extras. Equivalent to Nest's decorator; it also
 * spares the `@EventPattern<string>(…)` that Nest 12's typings need when the handler takes a typed
 * `@Ctx() ctx: Mqtt5Context` parameter.
 *
 * @example `@Mqtt5EventPattern('jobs/#', { qos: 1, share: 'workers' })`
 */
export function Mqtt5EventPattern(pattern: string, extras: Mqtt5PatternExtras = {}): MethodDecorator {
  return EventPattern<string>(pattern, extras as Record<string, unknown>);
}

/** `@MessagePattern(pattern, extras)` with typed MQTT extras (`{ qos, share, … }`). */
export function Mqtt5MessagePattern(pattern: string, extras: Mqtt5PatternExtras = {}): MethodDecorator {
  return MessagePattern<string>(pattern, extras as Record<string, unknown>);
}
