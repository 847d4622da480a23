/**
 * Loads the optional peer `@opentelemetry/api` once, lazily and synchronously (no top-level await
 * in lib/): tracing and metrics cost nothing when it is not installed.
 */
import { createRequire } from 'node:module';
import type * as OtelApi from '@opentelemetry/api';

/** The `@opentelemetry/api` module, as loaded. */
export type OtelApiModule = typeof OtelApi;

let loaded: OtelApiModule | null | undefined;

/**
 * The `@opentelemetry/api` module, or undefined when it is not installed. Resolved from this
 * package, so the application's copy is used (it is a peer dependency).
 */
export function otelApi(): OtelApiModule | undefined {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)('@opentelemetry/api') as OtelApiModule;
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

/**
 * The API's global registry key for the 1.x line (the peer range is `>=1.3.0 <2.0.0`): where
 * `trace.setGlobalTracerProvider` / `metrics.setGlobalMeterProvider` register what they install.
 */
const GLOBAL_KEY = Symbol.for('opentelemetry.js.api.1');

/**
 * What the API's global registry holds for `type` (undefined while nothing was registered): one
 * property read, so hot paths can tell "nothing changed since I last asked the API" without calling
 * it per message. Registering or disabling a provider replaces this object.
 */
export function registeredGlobal(type: 'trace' | 'metrics'): unknown {
  return (globalThis as { [GLOBAL_KEY]?: Record<string, unknown> })[GLOBAL_KEY]?.[type];
}

/** Test hook: pretend the API is absent (`null`), present (a module) or not yet looked up (`undefined`). */
export function setOtelApiForTesting(api: OtelApiModule | null | undefined): void {
  loaded = api;
}
