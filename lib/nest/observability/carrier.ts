/**
 * MQTT v5 user properties as an OpenTelemetry text-map carrier, per the W3C "Trace Context: MQTT
 * format" draft: the fields travel as user properties named exactly `traceparent` and `tracestate`.
 */
import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import type { UserProperty } from '../../codec/index.js';
import { TRACEPARENT, TRACESTATE } from './semconv.js';

/** Reads a field from user properties: the first pair with that exact (lowercase) name. */
export const userPropertiesGetter: TextMapGetter<readonly UserProperty[] | undefined> = {
  keys(carrier) {
    if (carrier === undefined) return [];
    const names: string[] = [];
    for (let i = 0; i < carrier.length; i++) names.push(carrier[i]![0]);
    return names;
  },
  get(carrier, key) {
    if (carrier === undefined) return undefined;
    for (let i = 0; i < carrier.length; i++) if (carrier[i]![0] === key) return carrier[i]![1];
    return undefined;
  },
};

/** Writes a field into user properties, replacing any pair of the same name (a property may repeat). */
export const userPropertiesSetter: TextMapSetter<UserProperty[]> = {
  set(carrier, key, value) {
    for (let i = carrier.length - 1; i >= 0; i--) if (carrier[i]![0] === key) carrier.splice(i, 1);
    carrier.push([key, value]);
  },
};

/** Whether the user properties carry a trace context field (cheap test before an extract). */
export function hasTraceContext(userProperties: readonly UserProperty[] | undefined): boolean {
  if (userProperties === undefined) return false;
  for (let i = 0; i < userProperties.length; i++) {
    const name = userProperties[i]![0];
    if (name === TRACEPARENT || name === TRACESTATE) return true;
  }
  return false;
}

/** The trace id in a `traceparent` value (`00-<trace id>-<span id>-<flags>`), or undefined. */
export function traceIdOfTraceparent(userProperties: readonly UserProperty[] | undefined): string | undefined {
  if (userProperties === undefined) return undefined;
  for (let i = 0; i < userProperties.length; i++) {
    const [name, value] = userProperties[i]!;
    if (name !== TRACEPARENT) continue;
    const id = value.split('-')[1];
    return id !== undefined && /^[0-9a-f]{32}$/.test(id) && id !== '0'.repeat(32) ? id : undefined;
  }
  return undefined;
}
