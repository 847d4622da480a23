/**
 * The optional peers stay optional: with `@opentelemetry/api` and `@nestjs/terminus` made
 * unresolvable in a child process (both for `import` and for `require`), the built package root
 * loads, tracing and metrics report themselves inactive and record nothing, and only the
 * `nest-mqtt5/health` entry needs terminus.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIST, ensureBuilt } from '../helpers/build.js';
import { runProcess } from '../helpers/run-process.js';

const HIDDEN = ['@opentelemetry/api', '@nestjs/terminus'];

let dir: string | undefined;
afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('optional peer dependencies', () => {
  it('the root and nest-mqtt5/observability load and stay inert without them; nest-mqtt5/health needs terminus', async () => {
    await ensureBuilt(path.join(DIST, 'lib', 'health', 'index.js'));
    // Inside dist/, so that bare specifiers resolve from the repository's node_modules as the package's would.
    dir = await mkdtemp(path.join(DIST, '.peers-probe-'));
    const hidden = JSON.stringify(HIDDEN);
    // require() (createRequire in lib/) and import both fail for the hidden packages.
    await writeFile(
      path.join(dir, 'hide.cjs'),
      `const Module = require('node:module');
const hidden = ${hidden};
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (hidden.some((h) => request === h || request.startsWith(h + '/'))) {
    const e = new Error("Cannot find module '" + request + "'"); e.code = 'MODULE_NOT_FOUND'; throw e;
  }
  return resolve.call(this, request, ...rest);
};
Module.register(${JSON.stringify(pathToFileURL(path.join(dir, 'hooks.mjs')).href)});
`,
    );
    await writeFile(
      path.join(dir, 'hooks.mjs'),
      `const hidden = ${hidden};
export async function resolve(specifier, context, next) {
  if (hidden.some((h) => specifier === h || specifier.startsWith(h + '/'))) {
    const e = new Error("Cannot find package '" + specifier + "'"); e.code = 'ERR_MODULE_NOT_FOUND'; throw e;
  }
  return next(specifier, context);
}
`,
    );
    const lib = (p: string) => JSON.stringify(pathToFileURL(path.join(DIST, 'lib', p)).href);
    await writeFile(
      path.join(dir, 'probe.mjs'),
      `import 'reflect-metadata';
const out = {};
const root = await import(${lib('index.js')});
out.root = typeof root.ServerMqtt5 === 'function' && typeof root.ClientMqtt5 === 'function';
const obs = await import(${lib('nest/observability/index.js')});
const tracing = new obs.Mqtt5Tracing({ clientId: 'x' });
out.tracingActive = tracing.active;
out.span = tracing.startSend('event', { topic: 't' }) === undefined ? 'none' : 'span';
const m = new obs.Mqtt5Metrics();
m.recordSent('t'); m.recordHandled('t', 1, 'ok'); m.recordRequestStarted('t'); m.recordRequestSettled('t', 1, 'timeout');
const { MqttBroker } = await import(${lib('broker/index.js')});
const broker = new MqttBroker();
obs.instrumentBroker(broker).close();
out.brokerListeners = broker.listenerCount('drop');
await broker.close();
try { await import('@opentelemetry/api'); out.apiHidden = false; } catch { out.apiHidden = true; }
try { await import(${lib('health/index.js')}); out.health = 'loaded'; } catch (e) { out.health = e.code; }
console.log(JSON.stringify(out));
`,
    );
    const result = await runProcess(process.execPath, ['--require', path.join(dir, 'hide.cjs'), path.join(dir, 'probe.mjs')], { timeoutMs: 30_000 });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout.trim())).toEqual({
      root: true,
      tracingActive: false,
      span: 'none',
      brokerListeners: 0,
      apiHidden: true,
      health: 'ERR_MODULE_NOT_FOUND',
    });
  }, 240_000);
});
