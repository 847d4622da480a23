/**
 * The OpenTelemetry set-ups the transport bench compares (`--tracing`), installed per process:
 *   ours-off — the transport's `telemetry: false` (nothing is even checked);
 *   ours     — `@opentelemetry/api` installed, no SDK registered (the default state of an app);
 *   ours-sdk — a real SDK: BasicTracerProvider with a BatchSpanProcessor into an InMemorySpanExporter,
 *              the async-hooks context manager, the W3C propagator, and a MeterProvider with a
 *              periodic reader into an InMemoryMetricExporter.
 * The in-memory exporters are emptied every second (spans counted first), so memory stays flat.
 */
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncHooksContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';

/** The transport variants of a `--tracing` run. */
export type TelemetryKind = 'ours-off' | 'ours' | 'ours-sdk';

/** A registered SDK: spans exported so far, and its removal. */
export interface InstalledSdk {
  spans(): number;
  uninstall(): Promise<void>;
}

/** Registers the SDK globally (tracer, meter, context manager, propagator). */
export function installSdk(): InstalledSdk {
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(spanExporter, { maxQueueSize: 65_536, maxExportBatchSize: 4096, scheduledDelayMillis: 200 })],
  });
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const meterProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 1000 })] });
  const contextManager = new AsyncHooksContextManager().enable();
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  let exported = 0;
  const drain = setInterval(() => {
    exported += spanExporter.getFinishedSpans().length;
    spanExporter.reset();
    metricExporter.reset();
  }, 1000);
  drain.unref();
  return {
    spans: () => exported + spanExporter.getFinishedSpans().length,
    async uninstall() {
      clearInterval(drain);
      await tracerProvider.forceFlush();
      exported += spanExporter.getFinishedSpans().length;
      trace.disable();
      metrics.disable();
      context.disable();
      propagation.disable();
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}
