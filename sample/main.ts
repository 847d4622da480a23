/**
 * The nest-mqtt5 sample: device telemetry and commands over MQTT v5.
 *
 *   npm run sample                             embedded broker on 127.0.0.1:1883 (MQTT_PORT to change)
 *   MQTT_URL=mqtt://host:1883 npm run sample   against an external MQTT v5 broker
 *   npm run sample -- --once                   exit after the demo (also SAMPLE_EXIT=1)
 *   SAMPLE_TRACING=1 npm run sample            OpenTelemetry tracing on: handlers log their trace id
 *
 * It starts the broker, a devices microservice, two workers of a shared-subscription group and a
 * caller, runs a short scenario (events, requests, an error, a reboot, jobs, retained statuses
 * for a late dashboard) and keeps running until Ctrl-C so you can poke it with the CLI.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { closeAll, startBroker, startContext, startMicroservice, type Closable } from './apps.js';
import { CallerModule } from './caller/caller.module.js';
import { DemoService } from './caller/demo.service.js';
import { loadConfig, SampleConfigError, type SampleConfig } from './config.js';
import { DashboardModule } from './dashboard/dashboard.module.js';
import { DemoProgress } from './demo/progress.js';
import { DevicesModule } from './devices/devices.module.js';
import { SampleLogger } from './logger.js';
import { WorkersModule } from './workers/workers.module.js';
import { startTracing } from './tracing.js';

const logger = new SampleLogger();
// Logger instances created before the first application (and outside any) print through ours too.
Logger.overrideLogger(logger);
const log = new Logger('Sample');

/** Runs the scenario; every app started is pushed to `apps` so that the caller can close them. */
async function run(config: SampleConfig, apps: Closable[]): Promise<string> {
  let url = config.url;
  if (url === undefined) {
    const broker = await startBroker(config, logger);
    apps.push({ name: 'broker', close: () => broker.app.close() });
    url = broker.url;
    log.log(`embedded MQTT v5 broker listening on ${url}`);
  } else {
    log.log(`using the MQTT broker at ${url}`);
  }
  // A per-run suffix: two sample runs on one external broker must not take over each other's sessions.
  const run = randomBytes(3).toString('hex');
  const devices = await startMicroservice(DevicesModule.forRoot(url, `devices-${run}`), { url, clientId: `devices-${run}` }, logger);
  apps.push({ name: 'devices service', close: () => devices.close() });
  for (const name of ['worker-a', 'worker-b']) {
    const worker = await startMicroservice(WorkersModule.forRoot(name), { url, clientId: `${name}-${run}` }, logger);
    apps.push({ name, close: () => worker.close() });
  }
  log.log('devices service and workers a, b are subscribed');

  const caller = await startContext(CallerModule.forRoot(url, `caller-${run}`), logger);
  apps.push({ name: 'caller', close: () => caller.close() });
  const report = await caller.get(DemoService).run();

  // The dashboard starts last: the retained statuses are all it needs to know every device's state.
  log.log('starting the dashboard: it gets the retained statuses on subscribe');
  const progress = new DemoProgress();
  const dashboard = await startMicroservice(DashboardModule.forRoot(progress), { url, clientId: `dashboard-${run}` }, logger);
  apps.push({ name: 'dashboard', close: () => dashboard.close() });
  const expected = Object.fromEntries(report.summaries.map((s) => [s.deviceId, s.deviceId === 'dev-2' ? 'rebooting' : 'online'] as const));
  await progress.waitForStatuses(expected, 5000);
  log.log(`demo complete: ${report.summaries.length} devices, ${Object.values(report.jobsByWorker).flat().length} jobs`);
  return url;
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once, should shutting down hang. */
function signal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const onSignal = (s: NodeJS.Signals): void => {
      if (received) process.exit(130);
      received = true;
      resolve(s);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

async function main(): Promise<number> {
  let config: SampleConfig;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof SampleConfigError)) throw err;
    log.error(err.message);
    return 2;
  }
  const apps: Closable[] = [];
  const stopTracing = await startTracing(process.env);
  if (process.env.SAMPLE_TRACING === '1') log.log('tracing on: OpenTelemetry SDK registered (in-memory exporter)');
  apps.push({ name: 'tracing', close: stopTracing });
  try {
    const url = await run(config, apps);
    if (!config.once) {
      log.log('still running — try, in another terminal:');
      log.log(`  node dist/lib/cli/main.js sub -b ${url} 'devices/#' 1 -v`);
      log.log(`  node dist/lib/cli/main.js pub -b ${url} devices/dev-3/telemetry 1 '{"celsius":19.5,"humidity":50}'`);
      log.log('Ctrl-C to stop');
      log.log(`${await signal()}: shutting down`);
    }
  } catch (err) {
    log.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    await closeAll(apps);
    return 1;
  }
  const failure = await closeAll(apps);
  log.log('stopped');
  return failure === undefined ? 0 : 1;
}

void main().then((code) => {
  process.exitCode = code;
});
