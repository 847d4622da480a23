/**
 * The transport's telemetry call sites when nothing records: no per-message state, the caller's
 * publish arguments passed through as the same object (no copy), and the `telemetry` option's
 * resolution (compat never traces). Also the trace id read from a `traceparent` user property, which
 * `Mqtt5Context#getTraceId()` falls back to without an SDK.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import type { UserProperty } from '../../../../lib/codec/index.js';
import type { MqttClient, MqttMessage } from '../../../../lib/client/index.js';
import { Mqtt5Context } from '../../../../lib/nest/index.js';
import { traceIdOfTraceparent } from '../../../../lib/nest/observability/carrier.js';
import { setOtelApiForTesting } from '../../../../lib/nest/observability/otel-api.js';
import { ClientTelemetry, resolveTelemetry, ServerTelemetry } from '../../../../lib/nest/observability/transport-telemetry.js';

const ON = { tracing: true, metrics: true };
const logger = { log() {}, warn() {}, error() {} };

afterEach(() => setOtelApiForTesting(undefined));

describe('resolveTelemetry', () => {
  it.each([
    [undefined, false, { tracing: true, metrics: true }],
    [true, false, { tracing: true, metrics: true }],
    [false, false, { tracing: false, metrics: false }],
    [{ tracing: false }, false, { tracing: false, metrics: true }],
    [{ metrics: false }, false, { tracing: true, metrics: false }],
    [undefined, true, { tracing: false, metrics: true }],
    [{ tracing: true }, true, { tracing: false, metrics: true }],
  ] as const)('%j (compat %s) → %j', (option, compat, expected) => {
    expect(resolveTelemetry(option, compat)).toEqual(expected);
  });
});

describe.each([
  ['the API absent', () => setOtelApiForTesting(null)],
  ['the API installed, no SDK registered', () => setOtelApiForTesting(undefined)],
  ['telemetry: false', () => undefined],
])('with %s', (name, arrange) => {
  const switches = name === 'telemetry: false' ? { tracing: false, metrics: false } : ON;

  it('emit() publishes the very same arguments object, and send() keeps no per-request state', async () => {
    arrange();
    const telemetry = new ClientTelemetry({ clientId: 'c', url: 'mqtt://127.0.0.1:1883' }, switches);
    const userProperties: UserProperty[] = [['a', 'b']];
    const args = { topic: 't', payload: Buffer.from('x'), qos: 1 as const, properties: { userProperties } };
    const published: unknown[] = [];
    const client = { publish: (a: unknown) => (published.push(a), Promise.resolve(undefined)) } as unknown as MqttClient;
    await telemetry.publishEvent(client, 't', args);
    expect(published[0]).toBe(args);
    expect(args.properties.userProperties).toBe(userProperties);
    expect(userProperties).toEqual([['a', 'b']]);
    expect(telemetry.startRequest('t', () => undefined)).toBeUndefined();
  });

  it('a handler run keeps no state', () => {
    arrange();
    const telemetry = new ServerTelemetry({ clientId: 's' }, switches, logger);
    const message = { topic: 't', payload: Buffer.alloc(1), qos: 0, retain: false, dup: false } as unknown as MqttMessage;
    expect(telemetry.startHandler('t', '$share/g/t', message, true)).toBeUndefined();
  });
});

describe('the trace id of a traceparent user property', () => {
  const id = '4bf92f3577b34da6a3ce929d0e0e4736';
  it.each([
    [[['traceparent', `00-${id}-00f067aa0ba902b7-01`]], id],
    [[['other', 'x'], ['traceparent', `00-${id}-00f067aa0ba902b7-00`]], id],
    [[['traceparent', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`]], undefined],
    [[['traceparent', 'garbage']], undefined],
    [[['Traceparent', `00-${id}-00f067aa0ba902b7-01`]], undefined],
    [undefined, undefined],
  ] as [UserProperty[] | undefined, string | undefined][])('%j → %s', (props, expected) => {
    expect(traceIdOfTraceparent(props)).toBe(expected);
  });

  it('is what Mqtt5Context#getTraceId() answers without a span of its own', () => {
    const packet = { type: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, properties: { userProperties: [['traceparent', `00-${id}-00f067aa0ba902b7-01`]] } };
    expect(new Mqtt5Context(['t', packet as never, 't', 't']).getTraceId()).toBe(id);
    expect(new Mqtt5Context(['t', packet as never, 't', 't'], 'a'.repeat(32)).getTraceId()).toBe('a'.repeat(32));
    expect(new Mqtt5Context(['t', { ...packet, properties: {} } as never, 't', 't']).getTraceId()).toBeUndefined();
  });
});
