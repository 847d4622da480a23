/**
 * `SAMPLE_TRACING=1`: OpenTelemetry tracing for the sample. A tracer provider with an in-memory
 * exporter (nothing printed, nothing sent anywhere), the async-hooks context manager and the W3C
 * propagator are registered before the apps start; the transport then traces every send()/emit() and
 * handler, and the request handlers log their trace id (`trace_id=…`, from `ctx.getTraceId()`).
 * The SDK packages are loaded only when the flag is set.
 */
import type { Mqtt5Context } from '../lib/index.js';

let enabled = false;

/** Registers the SDK when `SAMPLE_TRACING=1`; returns its shutdown (a no-op otherwise). */
export async function startTracing(env: NodeJS.ProcessEnv): Promise<() => Promise<void>> {
  if (env.SAMPLE_TRACING !== '1') return async () => undefined;
  const [{ context, propagation, trace }, { AsyncHooksContextManager }, { W3CTraceContextPropagator }, sdk] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/sdk-trace-base'),
  ]);
  const exporter = new sdk.InMemorySpanExporter();
  const provider = new sdk.BasicTracerProvider({ spanProcessors: [new sdk.SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncHooksContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  enabled = true;
  // Finished spans are only kept for the length of a run; drop them now and then.
  const drain = setInterval(() => exporter.reset(), 10_000);
  drain.unref();
  return async () => {
    clearInterval(drain);
    enabled = false;
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  };
}

/** ` trace_id=<id>` for a handler's log line while tracing is on, else the empty string. */
export function traceSuffix(ctx: Mqtt5Context): string {
  if (!enabled) return '';
  return ` trace_id=${ctx.getTraceId() ?? '-'}`;
}
