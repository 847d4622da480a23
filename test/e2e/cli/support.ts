/**
 * Shared set-up of the CLI end-to-end tests: the built CLI (dist/ is built once, see
 * test/helpers/build.ts) run as a real `node` process, and an embedded broker on an ephemeral port.
 */
import path from 'node:path';
import { MqttBroker, type MqttBrokerOptions } from '../../../lib/broker/index.js';
import { connectionFromUrl, MqttClient } from '../../../lib/client/index.js';
import { DIST, ensureBuilt, ROOT } from '../../helpers/build.js';
import { waitForEvent } from '../../helpers/wait.js';
import { runProcess, startProcess, type ProcessResult, type RunningProcess, type StartOptions } from '../../helpers/run-process.js';

/** The CLI entry point the package's `bin` points at. */
export const CLI = path.join(DIST, 'lib', 'cli', 'main.js');

/** Time for beforeAll: the first test file to get here builds dist/ (about 5–15 s on 2 busy cores). */
export const BUILD_TIMEOUT = 240_000;

/** Builds dist/ unless an up-to-date build exists. */
export function buildCli(): Promise<void> {
  return ensureBuilt(CLI);
}

/** Environment of CLI processes: no MQTT_* defaults leaking in from the developer's shell. */
const CLEAN_ENV = { MQTT_URL: undefined, MQTT_USERNAME: undefined, MQTT_PASSWORD: undefined, NO_COLOR: '1' };

/** Starts `nest-mqtt5 <args>` (for long-running commands). */
export function startCli(args: readonly string[], options: StartOptions = {}): RunningProcess {
  return startProcess(process.execPath, [CLI, ...args], { cwd: ROOT, ...options, env: { ...CLEAN_ENV, ...options.env } });
}

/** Runs `nest-mqtt5 <args>` to completion. */
export function runCli(args: readonly string[], options: StartOptions & { timeoutMs?: number } = {}): Promise<ProcessResult> {
  return runProcess(process.execPath, [CLI, ...args], { cwd: ROOT, ...options, env: { ...CLEAN_ENV, ...options.env } });
}

/** An embedded broker on 127.0.0.1 with TCP and WebSocket listeners on ephemeral ports. */
export interface TestBroker {
  broker: MqttBroker;
  url: string;
  wsUrl: string;
  close(): Promise<void>;
}

export async function startBroker(options: MqttBrokerOptions = {}): Promise<TestBroker> {
  const broker = new MqttBroker(options);
  const { tcp, ws } = await broker.listen({ tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0 } });
  return { broker, url: tcp!.url, wsUrl: ws!.url, close: () => broker.close() };
}

/** A connected MqttClient for the test's own side of a conversation (no reconnects). */
export async function testClient(url: string, clientId = ''): Promise<MqttClient> {
  const client = new MqttClient(connectionFromUrl(url), { reconnect: false, connectTimeout: 5000 });
  await client.connect({ clientId });
  return client;
}

/** Waits until the broker reports a subscription to `filter` (so a publish after it is delivered). */
export function subscribed(broker: MqttBroker, filter: string, ms = 10_000): Promise<unknown> {
  return waitForEvent(broker, 'subscribe', ms, (_client: unknown, subs: { topicFilter: string }[]) =>
    subs.some((s) => s.topicFilter === filter),
  );
}
